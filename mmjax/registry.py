"""Name -> component registries, so an ablation is a config change, never a code change."""

import dataclasses
import difflib
import inspect
from typing import Any, Callable, Mapping


class ConfigError(ValueError):
  """A config value is invalid. The message names the key and what is valid."""


def _suggest(name: str, choices) -> str:
  close = difflib.get_close_matches(str(name), list(choices), n=1)
  return f' Did you mean "{close[0]}"?' if close else ""


def _parameters(ctor):
  """The keyword arguments `ctor` takes: a flax module's (dataclass) fields, or a function's
  parameters; None when it takes any (**kwargs)."""
  if dataclasses.is_dataclass(ctor):
    return {f.name for f in dataclasses.fields(ctor) if f.init} - {"parent", "name"}
  params = inspect.signature(ctor).parameters.values()
  if any(p.kind == p.VAR_KEYWORD for p in params):
    return None
  return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


class Registry:
  """Maps names to constructors (usually flax modules or functions).

  >>> IMAGE_ENCODERS = Registry("image encoder")
  >>> @IMAGE_ENCODERS.register("vit")
  ... class ViT(nn.Module): ...
  >>> IMAGE_ENCODERS.build("vit", width=256)
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._items: dict[str, Callable[..., Any]] = {}

  def register(self, name: str):
    def wrap(obj):
      if name in self._items:
        raise KeyError(f"{self.kind} {name!r} is registered twice.")
      self._items[name] = obj
      return obj
    return wrap

  def names(self) -> list[str]:
    return sorted(self._items)

  def get(self, name: str, key: str = "") -> Callable[..., Any]:
    if name not in self._items:
      where = f"{key}=" if key else ""
      raise ConfigError(
          f"Unknown {self.kind} {where}{name!r}. Valid choices: "
          f"{', '.join(self.names())}.{_suggest(name, self._items)}")
    return self._items[name]

  def build(self, name: str, key: str = "", **kwargs):
    """Constructs `name` with `kwargs`, rejecting arguments it does not take."""
    self.check_options(name, kwargs, key)
    return self.get(name, key)(**kwargs)

  def choose(self, section, key: str, **data_fields) -> tuple[str, dict]:
    """(name, options) of the component a config section chooses. Every config chooses a
    component the same way: a section with its `name` and one option dict per alternative, of
    which only the chosen one's is read:

      model.fusion = {"name": "gated", "gated": {"dim": 128}, "concat_late": {"dim": 64}}

    `data_fields` (vocab_size, max_len, sample_rate, ...: what the data decides) fill the options
    the component takes and the config does not set. An unknown name fails naming `key.name` and
    the valid names; an option the component does not take fails naming `key.<name>`. Models take
    the (name, options) pair as plain arguments, so their own errors need no config paths."""
    if "name" not in section:
      raise ConfigError(f"{key} has no 'name': choose one of {', '.join(self.names())} "
                        f"({key}.name) with its options in {key}.<name>.")
    name = section["name"]
    self.get(name, f"{key}.name")
    options = section[name] if name in section else {}
    options = options.to_dict() if hasattr(options, "to_dict") else dict(options)
    options = self.with_data_fields(name, options, **data_fields)
    self.check_options(name, options, f"{key}.{name}")
    return name, options

  def check_options(self, name: str, options: Mapping[str, Any], key: str = ""):
    """Raises ConfigError naming any option component `name` does not take (its dataclass
    fields, or its signature's parameters unless it takes **kwargs)."""
    valid = _parameters(self.get(name, key))
    for k in options if valid is not None else ():
      if k not in valid:
        where = key or f"{self.kind} {name!r}"
        raise ConfigError(f"{where} has no option {k!r}. Valid options: "
                          f"{', '.join(sorted(valid))}.{_suggest(k, valid)}")

  def with_data_fields(self, name: str, options: Mapping[str, Any], key: str = "",
                       **values) -> dict:
    """`options` plus each of `values` (vocab_size, max_len, sample_rate, ...: what the data
    decides) that component `name` takes and `options` does not set, so that the model can
    never disagree with the data."""
    accepted = _parameters(self.get(name, key)) or set()
    out = dict(options)
    for k, v in values.items():
      if k in accepted:
        out.setdefault(k, v)
    return out

  def __contains__(self, name):
    return name in self._items
