"""The experiments' tests build a config preset with dotted-key overrides (experiments are
imported as the package they are: `from experiments import vqa`)."""

import os

from mmjax import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def preset(config_arg: str, **overrides):
  """The config of `config_arg` ("configs/vqa.py:tiny", relative to the repository root) with
  `overrides` {"section.key": value} and no progress bar."""
  config = experiment.get_config(os.path.join(ROOT, config_arg), overrides)
  config.progress_bar = False
  return config
