"""The contrastive experiment's main: tiny preset and eval-only run in-process, bad keys, and a
SIGTERM in the middle of a command-line run followed by a resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments import contrastive
from mmjax.registry import ConfigError
from tests.scripts import preset

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
  assert p.returncode != 0 and 'Did you mean "lr"' in p.stderr
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
