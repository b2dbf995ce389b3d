"""Dotted config keys ("optimizer.lr"): finding one in a config, and the one error for a key that
is not there, naming the valid keys and the closest one. The command line (`--config.KEY`),
sweeps (grid, random space, overrides) and the trainer's check of a whole config all use it, so a
mistyped key reads the same wherever it was typed."""

import difflib
from typing import Iterable

import ml_collections

from mmjax.registry import ConfigError


def leaf_keys(config, prefix: str = "") -> list[str]:
  """Every value's dotted key in `config`, sections walked depth first."""
  keys = []
  for k, v in config.items():
    if isinstance(v, ml_collections.ConfigDict):
      keys += leaf_keys(v, f"{prefix}{k}.")
    else:
      keys.append(prefix + k)
  return keys


def unknown_key(key: str, valid: Iterable[str], everywhere: Iterable[str] = ()) -> ConfigError:
  """The error for dotted `key`, whose last part is not among `valid` (its section's keys).

  The suggestion is a key of `everywhere` (all dotted keys of the config) that ends with `key`
  ("depth" -> "model.depth"), else the valid key closest to the last part, as a full key."""
  *parents, last = key.split(".")
  section = ".".join(parents)
  close = [k for k in everywhere if k.endswith("." + key)]
  close += [f"{section}.{c}" if section else c
            for c in difflib.get_close_matches(last, list(valid), n=1)]
  hint = f' Did you mean "{close[0]}"?' if close else ""
  under = f" under {section!r}" if section else ""
  return ConfigError(f"Unknown config key {key!r}; valid{under}: "
                     f"{', '.join(sorted(valid))}.{hint}")


def find(config, key: str):
  """(the section of `config` holding dotted `key`, the key's last part). ConfigError naming
  the valid keys where `key` leaves the config, or the value it runs into."""
  parts = key.split(".")
  section = config
  for i, part in enumerate(parts):
    if not isinstance(section, ml_collections.ConfigDict):
      raise ConfigError(f"Unknown config key {key!r}: {'.'.join(parts[:i])!r} is a value, not "
                        f"a section.")
    if part not in section:
      raise unknown_key(".".join(parts[:i + 1]), section.keys(), leaf_keys(config))
    if i < len(parts) - 1:
      section = section[part]
  return section, parts[-1]
