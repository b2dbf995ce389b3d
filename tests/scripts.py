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


def check_held_out_split(config_arg: str, n: int = 300) -> None:
  """The synthetic world of `config_arg`'s data section holds out pairs: none of them in n
  train, val or test scenes, one of them in each of n test_compositional scenes."""
  from mmjax.data import sources  # pylint: disable=g-import-not-at-top
  world = sources.build(preset(config_arg).data)
  held = set(world.held_out)
  assert held, f"{config_arg} holds out no (shape, colour) pair"
  for split in ("train", "val", "test"):
    for i in range(n):
      pairs = {(o.shape, o.colour) for o in world.scene(split, i).objects}
      assert not pairs & held, (split, i, pairs)
  for i in range(n):
    assert {(o.shape, o.colour) for o in world.scene("test_compositional", i).objects} & held
