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


def check_prompts_unseen(config_arg: str, n: int = 2000) -> None:
  """Every prompt of `config_arg`'s eval.novel_templates, for every class name, is a wording no
  caption uses: not a caption template's (scenes.template_in_captions), and its words never
  in a row in the captions of n training examples."""
  from mmjax.data import sources  # pylint: disable=g-import-not-at-top
  from mmjax.data.synthetic.scenes import (ATTRIBUTES,  # pylint: disable=g-import-not-at-top
                                           template_in_captions)
  config = preset(config_arg)
  world = sources.build(config.data)
  captions = [world.example("train", i, ("caption",))["caption"].split() for i in range(n)]
  assert config.eval.novel_templates, f"{config_arg} has no eval.novel_templates"
  assert not set(config.eval.novel_templates) & set(config.eval.zero_shot_templates)
  for t in config.eval.novel_templates:
    assert not template_in_captions(t), t
    for c in (name for names in ATTRIBUTES.values() for name in names):
      words = t.format(c=c).split()
      k = len(words)
      assert not any(cap[i:i + k] == words for cap in captions
                     for i in range(len(cap) - k + 1)), (t, c)


def train_losses(workdir) -> list:
  """The train/loss values a run logged (each the mean over its log window), in step order."""
  with open(os.path.join(str(workdir), "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return [r["train/loss"] for r in rows if "train/loss" in r]
