"""The contrastive experiment's main: tiny preset and eval-only run in-process, bad keys, and a
SIGTERM in the middle of a command-line run followed by a resume."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments import contrastive
from mmjax.registry import ConfigError
from tests.scripts import preset, train_losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CMD = [sys.executable, "experiments/contrastive.py", "--config", "configs/contrastive.py:tiny"]


def run(workdir, *extra, **kw):
  return subprocess.run(CMD + ["--workdir", str(workdir), *extra], cwd=ROOT, capture_output=True,
                        text=True, timeout=600, **kw)


def experiment_and_config(**overrides):
  """The experiment module and its tiny config with `overrides` ({"a.b": value}) applied."""
  return contrastive, preset("configs/contrastive.py:tiny", **overrides)


def test_tiny_trains_evaluates_and_writes_everything(tmp_path, capsys):
  experiment, config = experiment_and_config()
  results = experiment.run(config, str(tmp_path))
  out = capsys.readouterr().out
  assert "i2t/R@1" in out
  assert json.load(open(tmp_path / "results.json")) == results
  assert results["step"] == 6 and 0.0 <= results["t2i/R@5"] <= 1.0
  # It learns, though 6 steps are too few for retrieval above chance (seeds 0-2: R@5 0.11-0.13
  # vs chance 0.10): the loss falls from 3.7-3.9 to that of uniform predictions over the batch,
  # log(32) = 3.466 (3.477, 3.471, 3.465 on seeds 0, 1, 2); with lr=1e-9 it ends at 3.82.
  losses = train_losses(tmp_path)
  assert losses[-1] < math.log(config.batch_size) + 0.1, losses
  for task, classes in (("shape", 4), ("colour", 6)):
    assert 0.0 <= results[f"zero_shot/{task}/top1"] <= 1.0
    assert results[f"zero_shot/{task}/chance_top1"] == pytest.approx(1 / classes)
    assert 0.0 <= results[f"linear_probe/{task}/accuracy"] <= 1.0
    assert 1 / classes <= results[f"linear_probe/{task}/chance"] <= 1.0
  assert "zero_shot/shape/top1" in out and "linear_probe/colour/accuracy" in out
  for name in ("metrics.jsonl", "config.json", "vocab.json", "tensorboard", "checkpoints"):
    assert (tmp_path / name).exists(), name
  config.eval_only = True
  assert experiment.run(config, str(tmp_path)) == results
  assert json.load(open(tmp_path / "results.json")) == results


def test_bad_config_key_fails_with_suggestion(tmp_path):
  p = run(tmp_path, "--config.optimizer.lrr=0.1")  # the command line's own check
  assert p.returncode != 0 and 'Did you mean "optimizer.lr"' in p.stderr
  assert "Unknown config key 'optimizer.lrr'; valid under 'optimizer': " in p.stderr
  assert "Traceback" not in p.stderr
  assert not os.listdir(tmp_path)  # nothing was built
  for key, value, match in (("model.loss", "infonce", "Valid choices: sigmoid, softmax"),
                            ("eval.zero_shot_tasks", ("shape", "size"),
                             "valid choices: shape, colour"),
                            ("model.image.name", "vtt",
                             r"model.image.name='vtt'. Valid choices: cnn, resnet, vit"),
                            ("data.source.name", "shape", r"data.source.name='shape'.*shapes"),
                            ("eval.zero_shot_templates", ("a photo of a {c}",),
                             r"non-caption words \['photo'\]")):
    experiment, config = experiment_and_config(**{key: value})
    with pytest.raises(ConfigError, match=match):
      experiment.run(config, str(tmp_path / key))
    assert not (tmp_path / key / "checkpoints").exists(), key


def test_sigterm_saves_and_rerun_resumes_to_the_same_result(tmp_path):
  steps = ["--config.total_steps=40", "--config.checkpoint.every_steps=1000",
           "--config.log_every_steps=1", "--config.progress_bar=False"]
  # The uninterrupted reference run in-process (the same program as the command line's).
  experiment, config = experiment_and_config(**{"total_steps": 40,
                                                "checkpoint.every_steps": 1000,
                                                "log_every_steps": 1})
  straight = experiment.run(config, str(tmp_path / "straight"))
  work = tmp_path / "killed"
  proc = subprocess.Popen(CMD + ["--workdir", str(work), *steps], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  metrics = work / "metrics.jsonl"
  deadline = time.time() + 300
  while time.time() < deadline and not (
      metrics.exists() and sum(1 for _ in open(metrics)) >= 4):
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  if proc.returncode == 0:
    pytest.skip("the run finished before the signal arrived")
  assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
  assert os.listdir(work / "checkpoints")
  resumed = run(work, *steps)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert json.load(open(work / "results.json")) == straight


COCO = {"data.source.name": "coco_captions", "eval.zero_shot_tasks": (), "eval.probe_tasks": ()}


def test_tiny_trains_on_coco_captions_retrieves_and_classifies_tfds_sets(tmp_path, capsys):
  import tensorflow_datasets as tfds
  from mmjax.data.tfds.mock import mock_coco_captions
  experiment, config = experiment_and_config(**{
      **COCO, "eval.zero_shot_datasets": ("cifar10", "mnist"), "eval.zero_shot_examples": 20,
      "eval.zero_shot_templates": ("caption of {c}", "image {c}")})  # mock caption words
  with tfds.testing.mock_data(num_examples=30, policy=tfds.testing.MockPolicy.USE_CODE), \
      mock_coco_captions(num_examples=12):
    results = experiment.run(config, str(tmp_path))
    config.eval_only = True
    again = experiment.run(config, str(tmp_path))
  assert results["step"] == 6 and again == results
  # 12 test images, each with its 5 captions: one of 12 images is right for a caption.
  assert results["t2i/chance_R@1"] == pytest.approx(1 / 12)
  assert results["i2t/chance_R@1"] == pytest.approx(5 / 60)
  for k in ("i2t/R@1", "i2t/R@5", "t2i/R@1", "t2i/R@10"):
    assert 0.0 <= results[k] <= 1.0
  words = json.load(open(tmp_path / "vocab.json"))["itos"]
  assert {"caption", "of", "image", "107"} <= set(words)  # the vocabulary of the mock captions
  # Mock cifar10 and mnist name their classes "0" ... "9"; captions "caption 0 of image 100"
  # ... "caption 4 of image 111" never say 5 to 9.
  for name in ("cifar10", "mnist"):
    assert 0.0 <= results[f"zero_shot/{name}/top1"] <= 1.0
    assert results[f"zero_shot/{name}/chance_top1"] == pytest.approx(0.1)
    assert results[f"zero_shot/{name}/oov_classes"] == 5
  assert "5 class names not in the vocabulary" in capsys.readouterr().out


def test_coco_captions_unprepared_or_with_attribute_tasks_fails_in_seconds(tmp_path):
  experiment, config = experiment_and_config(**{
      **COCO, "data.source.coco_captions.data_dir": str(tmp_path / "tfds")})
  with pytest.raises(FileNotFoundError, match="tfds build coco_captions --data_dir DIR"):
    experiment.run(config, str(tmp_path / "work"))
  experiment, config = experiment_and_config(**{"data.source.name": "coco_captions"})
  with pytest.raises(ConfigError, match=r"eval.zero_shot_tasks, eval.probe_tasks classify the "
                     r"synthetic world's scene attributes.*--config.eval.probe_tasks='\(\)'"):
    experiment.run(config, str(tmp_path / "work"))
  assert not (tmp_path / "work").exists()
  # Zero-shot sets: an unknown name, one not prepared, or no prompts fail before anything is
  # written.
  for changes, error, match in (
      ({}, ConfigError, "eval.zero_shot_datasets has 'cifar11', which tfds does not"),
      ({"eval.zero_shot_datasets": ("cifar10",)}, FileNotFoundError,
       "tfds build cifar10 --data_dir DIR"),
      ({"eval.zero_shot_templates": ()}, ConfigError, "eval.zero_shot_templates, which is empty")):
    experiment, config = experiment_and_config(**{
        "eval.zero_shot_datasets": ("cifar11",), "eval.zero_shot_data_dir": str(tmp_path / "tfds"),
        **changes})
    with pytest.raises(error, match=match):
      experiment.run(config, str(tmp_path / "work"))
    assert not (tmp_path / "work").exists()


def test_tiny_reports_unseen_prompts_multi_object_images_and_the_compositional_split(tmp_path):
  from mmjax.data import sources
  from tests.scripts import check_held_out_split, check_prompts_unseen
  config = preset("configs/contrastive.py:tiny")
  results = contrastive.run(config, str(tmp_path))
  for prompts in ("zero_shot", "zero_shot_novel"):
    for task in ("shape", "colour"):
      k = f"{prompts}/{task}"
      assert 0.0 <= results[f"{k}/top1"] <= 1.0
      assert 0.0 <= results[f"{k}/multi_object/top1_any"] <= 1.0
      assert 0.0 < results[f"{k}/multi_object/chance_top1_any"] <= 1.0
      # Every test image is scored: the single-object ones by top1, the others by top1_any.
      assert results[f"{k}/num_images"] + results[f"{k}/multi_object/num_images"] == 64
  for k in ("i2t/R@1", "i2t/R@10", "t2i/R@1", "t2i/R@10"):
    assert 0.0 <= results[f"compositional/{k}"] <= 1.0
    assert 0.0 < results[f"compositional/{k.replace('R@', 'chance_R@')}"] < 1.0
  # The tiny run trains on 6 x 32 scenes, so some test captions are training captions; no
  # caption of a scene with a held-out pair is.
  assert 0.0 < results["test_captions_seen_in_training"] < 1.0
  assert results["compositional/test_captions_seen_in_training"] == 0.0
  world = sources.build(config.data)
  seen = sources.train_captions(world, config.total_steps * config.batch_size)
  test = [world.example("test", i, ("caption",))["caption"] for i in range(64)]
  assert results["test_captions_seen_in_training"] == sources.seen_fraction(test, seen)
  check_held_out_split("configs/contrastive.py")
  check_prompts_unseen("configs/contrastive.py")
  for overrides, match in (({"eval.novel_templates": ("a {c}",)}, "wordings the training "
                            "captions use"),
                           ({"data.source.shapes.held_out": ()}, "needs held-out pairs")):
    with pytest.raises(ConfigError, match=match):
      contrastive.run(preset("configs/contrastive.py:tiny", **overrides), str(tmp_path / "bad"))
