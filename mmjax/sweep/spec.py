"""A config file's `get_sweep(arg)` -> the list of trials (grid x random search x seeds).

`get_sweep(arg)` sits beside `get_config(arg)` and returns a plain dict:

  dict(experiment="experiments/fusion_classification.py",  # found upward from the config file
       grid={"preset": ("redundant", "synergy"),     # "preset": the get_config arg after ':'
             "model.fusion.name": ("concat_late", "gated")},
       random=dict(num_trials=4, seed=0,             # optional; crossed with the grid
                   space={"optimizer.lr": ("loguniform", 1e-4, 1e-2),
                          "model.head.classification.dropout": ("uniform", 0.0, 0.3),
                          "batch_size": ("int", 16, 64),       # inclusive bounds
                          "model.fusion.name": ("choice", ("sum", "gated"))}),
       seeds=(0, 1, 2),            # each sets every key in seed_keys (default ("seed",))
       overrides={"total_steps": 300},  # fixed for every trial; not part of the names
       metrics=("accuracy",),      # results.json keys for summary.md and plots (default: all
       minimize=(),                #   numeric ones that vary); lower is better for these
       tables_by="preset")         # optional: one summary.md table (and best) per value

A trial's name lists its value of every swept key, seed last, e.g.
"preset=synergy,fusion=gated,seed=1": keys are shortened to their shortest unique dotted suffix
and the default preset '' reads "default". Trials are ordered seed-major (every variant's first
seed comes before any second seed), so a partly run sweep already covers every variant. Random
samples are rounded to 4 significant digits, so that a name shows exactly the value used.
Every key is checked against the config (and every preset) before anything runs. Trials run
with progress_bar=False when the config has that key (their output goes to files).
"""

import dataclasses
import itertools
import math
import os
import re
from typing import Any, Callable

import numpy as np

from mmjax import config_keys
from mmjax import experiment as experiment_lib
from mmjax.registry import ConfigError

PRESET = "preset"
SPEC_FIELDS = ("experiment", "grid", "random", "seeds", "seed_keys", "overrides", "metrics",
               "minimize", "tables_by")
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


class SweepError(ValueError):
  """A sweep spec, config key or command-line value is invalid; the message says what is valid."""


@dataclasses.dataclass(frozen=True)
class Trial:
  index: int
  name: str      # e.g. "preset=synergy,fusion=gated,seed=1": its sub-workdir
  preset: str    # the get_config arg after the colon ('' = the default)
  values: dict   # swept key -> value, in name order (PRESET and the seed included)
  overrides: dict  # config key -> value, passed as --config.<key>=<value>


@dataclasses.dataclass(frozen=True)
class Sweep:
  config_file: str   # absolute path
  arg: str           # the get_sweep arg
  experiment: str    # absolute path of the script each trial runs
  root: str          # where the experiment was found; trials run from here
  trials: tuple
  axes: tuple        # swept keys in name order
  labels: dict       # swept key -> its short label (a summary.csv column)
  metrics: tuple
  minimize: tuple
  tables_by: str | None
  swept_keys: frozenset  # config keys the trials vary (CLI overrides may not fix them)
  get_config: Callable = dataclasses.field(repr=False, compare=False)


def split_config_arg(config_arg: str) -> tuple[str, str]:
  """'configs/fusion.py:synergy' -> ('configs/fusion.py', 'synergy')."""
  try:
    return experiment_lib.split_config_arg(config_arg)
  except ConfigError as e:
    raise SweepError(str(e)) from None


def load_module(path: str):
  """The config file as a module (mmjax.experiment's loader); it must define get_sweep too."""
  try:
    module = experiment_lib.load_config_module(path)
  except (FileNotFoundError, ConfigError) as e:
    raise SweepError(str(e)) from None
  if not hasattr(module, "get_sweep"):
    raise SweepError(f"{path} has no get_sweep(arg); a sweepable config defines both get_config "
                     f"and get_sweep.")
  return module


def find_experiment(experiment: str, config_file: str) -> tuple[str, str]:
  """(absolute script path, root): `experiment` as given if absolute, else searched for in the
  config file's folder and each folder above it."""
  if os.path.isabs(experiment):
    if not os.path.isfile(experiment):
      raise SweepError(f"experiment={experiment!r} does not exist.")
    return experiment, os.path.dirname(experiment)
  folder = os.path.dirname(os.path.abspath(config_file))
  while True:
    if os.path.isfile(os.path.join(folder, experiment)):
      return os.path.join(folder, experiment), folder
    if os.path.dirname(folder) == folder:
      raise SweepError(f"experiment={experiment!r} is not found in {os.path.dirname(config_file)}"
                       f" or any folder above it; give a path relative to the repository root.")
    folder = os.path.dirname(folder)


def check_key(config, key: str, where: str):
  """Raises SweepError naming the valid keys when dotted `key` is not in `config`."""
  try:
    config_keys.find(config, key)
  except ConfigError as e:
    raise SweepError(f"{where}: {e}") from None


def check_value(config, key: str, value, where: str):
  """Sets `value` on a copy of `config`: a wrong type fails here, not in the trial."""
  *parents, last = key.split(".")
  node = config.copy_and_resolve_references()
  for part in parents:
    node = node[part]
  try:
    node[last] = value
  except (TypeError, ValueError, AttributeError) as e:
    raise SweepError(f"{where}: {key}={value!r} does not fit the config: {e}") from e


def _draw(rng, key, dist):
  if not isinstance(dist, (tuple, list)) or not dist or dist[0] not in DISTRIBUTIONS:
    raise SweepError(f"random.space[{key!r}]={dist!r}; valid: ('uniform', lo, hi), "
                     f"('loguniform', lo, hi), ('int', lo, hi), ('choice', values).")
  kind, *args = dist
  if kind == "choice":
    return args[0][int(rng.integers(len(args[0])))]
  lo, hi = args
  if kind == "int":
    return int(rng.integers(lo, hi + 1))
  x = rng.uniform(lo, hi) if kind == "uniform" else math.exp(rng.uniform(math.log(lo),
                                                                         math.log(hi)))
  return float(f"{x:.4g}")  # the name then shows exactly the value used.


def random_samples(random: dict) -> list[dict]:
  """`random["num_trials"]` dicts of key -> value, reproducible from `random["seed"]`."""
  unknown = set(random) - {"num_trials", "seed", "space"}
  if unknown or "num_trials" not in random or "space" not in random:
    raise SweepError(f"random={random!r}; valid fields: num_trials, seed (default 0), space.")
  rng = np.random.default_rng(random.get("seed", 0))
  return [{k: _draw(rng, k, d) for k, d in random["space"].items()}
          for _ in range(random["num_trials"])]


def short_labels(keys) -> dict:
  """Each dotted key -> its shortest dotted suffix that no other key shares. A component's
  `name` key reads as the component (model.fusion.name -> "fusion")."""
  labels = {}
  for key in keys:
    parts = key.split(".")
    if len(parts) > 1 and parts[-1] == "name":
      parts = parts[:-1]
    for n in range(1, len(parts) + 1):
      label = ".".join(parts[-n:])
      if not any(o != key and (o == label or o.endswith("." + label)) for o in keys):
        break
    labels[key] = label
  return labels


def format_value(value) -> str:
  """How a swept value reads in a trial name and in summary.csv."""
  if isinstance(value, (tuple, list)):
    return "+".join(format_value(v) for v in value)
  if isinstance(value, float):
    return f"{value:g}"
  if value == "":
    return "default"
  return str(value)


def trial_name(values: dict, labels: dict) -> str:
  return ",".join(f"{labels[k]}=" + re.sub(r"[^\w.+-]", "_", format_value(v))
                  for k, v in values.items())


def expand(spec: dict, get_config: Callable[[str], Any], where: str = "get_sweep") -> tuple:
  """spec (get_sweep's dict) -> (trials, axes, labels, swept config keys); every key and value
  is checked against get_config(preset) of each preset used."""
  if not isinstance(spec, dict):
    raise SweepError(f"{where} must return a dict with fields {', '.join(SPEC_FIELDS)}.")
  unknown = sorted(set(spec) - set(SPEC_FIELDS))
  if unknown:
    raise SweepError(f"{where} has unknown field(s) {unknown}; valid: {', '.join(SPEC_FIELDS)}.")
  grid = {k: tuple(v) for k, v in spec.get("grid", {}).items()}
  for k, v in grid.items():
    if not v:
      raise SweepError(f"{where}: grid[{k!r}] is empty.")
  samples = random_samples(spec["random"]) if spec.get("random") else [{}]
  seeds = tuple(spec.get("seeds", ()))
  seed_keys = tuple(spec.get("seed_keys", ("seed",)))
  fixed = dict(spec.get("overrides", {}))
  random_keys = list(samples[0])
  clash = set(grid) & set(random_keys)
  if clash:
    raise SweepError(f"{where}: {sorted(clash)} both in grid and random.space; choose one.")
  if seeds and "seed" in grid or seeds and "seed" in random_keys:
    raise SweepError(f"{where}: 'seed' is swept by `seeds`; remove it from grid / random.")
  axes = list(grid) + random_keys + (["seed"] if seeds else [])
  swept = ({k for k in axes if k not in (PRESET, "seed")} | set(seed_keys if seeds else ()))
  for key in sorted(set(fixed) & swept):
    raise SweepError(f"{where}: {key!r} is both swept and in overrides; choose one.")
  if not axes:
    raise SweepError(f"{where} sweeps nothing: give grid, random or seeds.")
  labels = short_labels([k for k in axes])

  configs = {}

  def config_of(preset):
    if preset not in configs:
      if not isinstance(preset, str):
        raise SweepError(f"{where}: preset={preset!r} must be a string (the arg after ':').")
      try:
        configs[preset] = get_config(preset)
      except Exception as e:  # the config's own message names its valid presets.
        raise SweepError(f"{where}: preset {preset!r} fails in get_config: {e}") from e
      for key in seed_keys if seeds else ():
        check_key(configs[preset], key, f"{where} seed_keys")
      for key, value in fixed.items():
        check_key(configs[preset], key, f"{where} overrides")
        check_value(configs[preset], key, value, f"{where} overrides")
    return configs[preset]

  trials, names = [], set()
  variants = [dict(zip(grid, combo), **sample)
              for combo in itertools.product(*grid.values()) for sample in samples]
  for seed in seeds or (None,):
    for variant in variants:
      values = dict(variant, **({"seed": seed} if seeds else {}))
      preset = values.get(PRESET, "")
      config = config_of(preset)
      overrides = dict(fixed)
      for key, value in variant.items():
        if key != PRESET:
          check_key(config, key, where)
          check_value(config, key, value, where)
          overrides[key] = value
      if seeds:
        overrides.update({k: seed for k in seed_keys})
      if "progress_bar" in config and "progress_bar" not in overrides:
        overrides["progress_bar"] = False  # a trial's output goes to a file.
      name = trial_name(values, labels)
      if name in names:
        raise SweepError(f"{where}: two trials are both named {name!r}; make the values differ "
                         f"in their first 4 significant digits.")
      names.add(name)
      trials.append(Trial(len(trials), name, preset, values, overrides))
  return tuple(trials), tuple(axes), labels, frozenset(swept)


def load_sweep(config_arg: str) -> Sweep:
  """'configs/fusion.py:synergy' -> the Sweep of get_sweep('synergy'), fully checked."""
  path, arg = split_config_arg(config_arg)
  module = load_module(path)
  where = f"{path} get_sweep({arg!r})"
  spec = module.get_sweep(arg)
  if not isinstance(spec, dict) or "experiment" not in spec:
    raise SweepError(f"{where} must return a dict with an 'experiment' script path.")
  experiment, root = find_experiment(spec["experiment"], path)
  trials, axes, labels, swept = expand(spec, module.get_config, where)
  metrics, minimize = tuple(spec.get("metrics", ())), tuple(spec.get("minimize", ()))
  tables_by = spec.get("tables_by")
  if tables_by is not None and tables_by not in axes:
    raise SweepError(f"{where}: tables_by={tables_by!r}; valid: one of the swept keys "
                     f"{', '.join(axes)}.")
  return Sweep(os.path.abspath(path), arg, experiment, root, trials, axes, labels, metrics,
               minimize, tables_by, swept, module.get_config)


def check_cli_overrides(sweep: Sweep, overrides: list[str]) -> dict:
  """['total_steps=3', ...] (added to every trial, as strings the experiment's flags parse)
  -> {key: text}, each key checked against every preset's config."""
  out = {}
  for item in overrides:
    key, eq, text = item.partition("=")
    if not eq or not key:
      raise SweepError(f"--overrides {item!r}: expected key=value, e.g. total_steps=300.")
    if key in sweep.swept_keys:
      raise SweepError(f"--overrides {key}: the sweep varies it; it cannot be fixed too.")
    out[key] = text
  for preset in sorted({t.preset for t in sweep.trials}):
    config = sweep.get_config(preset)
    for key in out:
      check_key(config, key, "--overrides")
  return out
