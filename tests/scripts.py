"""The experiments' tests load experiment scripts and config files, which are scripts rather
than a package, as modules; and build a config preset with dotted-key overrides."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path: str, name: str = None):
  """`path` relative to the repository root ("experiments/vqa.py") as a fresh module."""
  spec = importlib.util.spec_from_file_location(name or path.replace("/", "_")[:-3],
                                                os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def preset(configs, name: str = "tiny", **overrides):
  """`configs.get_config(name)` (a loaded config module) without the progress bar, with
  `overrides` as {"section.key": value}."""
  config = configs.get_config(name)
  config.progress_bar = False
  for key, value in overrides.items():
    *parents, leaf = key.split(".")
    section = config
    for part in parents:
      section = section[part]
    section[leaf] = value
  return config
