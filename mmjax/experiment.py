"""What every experiment main shares: its command line, config files, and results.json.

An experiment is a module with `run(config, workdir) -> dict` that ends with
`experiment.write_results(workdir, results)`, and, as a script, calls `experiment.main(run)`:

  if __name__ == "__main__":
    experiment.main(run)

which defines --config FILE[:preset] (any key overridable as --config.key=value) and --workdir,
and runs it. Flags are defined only there, so tests, sweeps and the evaluation suite import
experiments (`from experiments import vqa`) without flag clashes.

Config files are Python files with `get_config(arg)` (ml_collections' convention); `get_config`
below is the one way the library, the sweeps, the benchmarks and the tests load them.
"""

import hashlib
import importlib.util
import json
import os
import re
import sys
from typing import Callable, Optional

import ml_collections

from mmjax import config_keys
from mmjax.registry import ConfigError


def load_config_module(path: str):
  """The config file at `path` as a module (each file is loaded once per process)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Config file {path!r} does not exist.")
  path = os.path.abspath(path)
  name = "mmjax_config_" + hashlib.sha1(path.encode()).hexdigest()[:12]
  if name not in sys.modules:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
  module = sys.modules[name]
  if not hasattr(module, "get_config"):
    raise ConfigError(f"{path} has no get_config(arg): a config file defines one.")
  return module


def split_config_arg(config_arg: str) -> tuple[str, str]:
  """'configs/fusion.py:synergy' -> ('configs/fusion.py', 'synergy')."""
  m = re.fullmatch(r"(.+?\.py)(?::(.*))?", config_arg)
  if not m:
    raise ConfigError(f"config {config_arg!r}: expected a Python file, optionally with a preset "
                      f"after a colon, e.g. configs/fusion.py:synergy.")
  return m.group(1), m.group(2) or ""


def get_config(config_arg: str, overrides: Optional[dict] = None) -> ml_collections.ConfigDict:
  """The config of 'FILE.py[:preset]', with `overrides` {"dotted.key": value} applied as
  --config.dotted.key=value would be (an unknown key is an error naming the valid ones)."""
  path, preset = split_config_arg(config_arg)
  config = load_config_module(path).get_config(preset)
  for key, value in (overrides or {}).items():
    section, leaf = config_keys.find(config, key)
    section[leaf] = value
  return config


def _check_command_line_keys(argv) -> None:
  """ConfigError naming the valid keys for an unknown --config.KEY in `argv`, before absl
  parses it (ml_collections' own error is a traceback without them)."""
  keys = [a[len("--config."):].split("=", 1)[0] for a in argv if a.startswith("--config.")]
  config_arg = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
  if config_arg is None and "--config" in argv[:-1]:
    config_arg = argv[argv.index("--config") + 1]
  if keys and config_arg:
    config = get_config(config_arg)
    for key in keys:
      config_keys.find(config, key)


def _tuples(x):
  # config.json stores tuples as lists; modules and configs expect tuples.
  if isinstance(x, dict):
    return {k: _tuples(v) for k, v in x.items()}
  return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run was trained with: <workdir>/config.json, written by the trainer."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist: the workdir must be that of a run that "
                            "trained (the trainer writes config.json there).")
  with open(path) as f:
    return ml_collections.ConfigDict(_tuples(json.load(f)))


def write_config(workdir: str, config) -> None:
  """<workdir>/config.json (by process 0 only), what load_run_config reads: the trainer writes
  a run's; a multi-stage experiment writes its whole config above its stages' runs, from
  which a stage's model can be rebuilt."""
  import jax  # here, so that loading configs never initialises jax.
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))


def write_results(workdir: str, results: dict) -> None:
  """<workdir>/results.json (by process 0 only: every process holds the same results)."""
  import jax  # here, so that loading configs never initialises jax.
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "results.json")
    with open(path + ".tmp", "w") as f:
      json.dump(results, f, indent=2)
    os.replace(path + ".tmp", path)  # a kill mid-write keeps the previous results whole.


def main(run: Callable[[ml_collections.ConfigDict, str], dict]) -> None:
  """Runs `run(config, workdir)` from the command line; call it under `__name__ == "__main__"`."""
  from absl import app, flags, logging
  from ml_collections import config_flags

  config_flags.DEFINE_config_file("config", None, "Config file and preset, e.g. "
                                  "configs/fusion.py:tiny; override keys with --config.KEY=VALUE.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go; rerunning the "
                      "command resumes there.")
  flags.mark_flags_as_required(["config", "workdir"])

  def _main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"Unexpected arguments {argv[1:]}; keys are set as --config.KEY=VALUE.")
    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint save at INFO.
    from mmjax.train import host_memory, parallel
    # Before jax starts its threads (see host_memory); a multi-stage config keeps it on top.
    config = flags.FLAGS.config
    status = host_memory.keep_freed_memory(host_memory.wanted(
        config.get("keep_freed_host_memory", "auto"), config.get("compute_dtype", "float32")))
    if status.startswith("too late"):
      logging.warning("keep_freed_host_memory: %s (something touched a device first).", status)
    parallel.initialize_distributed(config)  # before anything touches a device
    run(config, flags.FLAGS.workdir)

  try:
    _check_command_line_keys(sys.argv)
  except ConfigError as e:
    sys.exit(f"error: {e}")
  app.run(_main)
