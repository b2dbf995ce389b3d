"""The experiments' tests build a config preset with dotted-key overrides (experiments are
imported as the package they are: `from experiments import vqa`), and read what a run logged to
check that it learned."""

import json
import os

from mmjax import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def preset(config_arg: str, **overrides):
  """The config of `config_arg` ("configs/vqa.py:tiny", relative to the repository root) with
  `overrides` {"section.key": value} and no progress bar."""
  config = experiment.get_config(os.path.join(ROOT, config_arg), overrides)
  config.progress_bar = False
  return config


def train_losses(workdir) -> list:
  """The train/loss values a run logged (each the mean over its log window), in step order."""
  with open(os.path.join(str(workdir), "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return [r["train/loss"] for r in rows if "train/loss" in r]
