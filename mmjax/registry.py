"""Name -> component registries, so an ablation is a config change, never a code change."""

import dataclasses
import difflib
from typing import Any, Callable, Mapping


class ConfigError(ValueError):
  """A config value is invalid. The message names the key and what is valid."""


def _suggest(name: str, choices) -> str:
  close = difflib.get_close_matches(str(name), list(choices), n=1)
  return f' Did you mean "{close[0]}"?' if close else ""


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
    ctor = self.get(name, key)
    if dataclasses.is_dataclass(ctor):
      valid = {f.name for f in dataclasses.fields(ctor) if f.init} - {"parent", "name"}
      for k in kwargs:
        if k not in valid:
          raise ConfigError(
              f"{key or self.kind} {name!r} has no option {k!r}. Valid options: "
              f"{', '.join(sorted(valid))}.{_suggest(k, valid)}")
    return ctor(**kwargs)

  def with_data_fields(self, name: str, options: Mapping[str, Any], key: str = "",
                       **values) -> dict:
    """`options` plus each of `values` (vocab_size, max_len, sample_rate, ...: what the data
    decides) that component `name` takes and `options` does not set, so that the model can
    never disagree with the data."""
    ctor = self.get(name, key)
    accepted = {f.name for f in dataclasses.fields(ctor)} if dataclasses.is_dataclass(ctor) \
        else set()
    out = dict(options)
    for k, v in values.items():
      if k in accepted:
        out.setdefault(k, v)
    return out

  def __contains__(self, name):
    return name in self._items
