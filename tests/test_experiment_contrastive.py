"""The contrastive experiment's main, run as a user runs it: tiny preset, eval-only, bad keys,
and a SIGTERM in the middle of a run followed by a resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CMD = [sys.executable, "experiments/contrastive.py", "--config", "configs/contrastive.py:tiny"]


def run(workdir, *extra, **kw):
  return subprocess.run(CMD + ["--workdir", str(workdir), *extra], cwd=ROOT, capture_output=True,
                        text=True, timeout=600, **kw)


def test_tiny_trains_evaluates_and_writes_everything(tmp_path):
  p = run(tmp_path)
  assert p.returncode == 0, p.stderr[-3000:]
  assert "i2t/R@1" in p.stdout
  results = json.load(open(tmp_path / "results.json"))
  assert results["step"] == 6 and 0.0 <= results["t2i/R@5"] <= 1.0
  for task, classes in (("shape", 4), ("colour", 6)):
    assert 0.0 <= results[f"zero_shot/{task}/top1"] <= 1.0
    assert results[f"zero_shot/{task}/chance_top1"] == pytest.approx(1 / classes)
    assert 0.0 <= results[f"linear_probe/{task}/accuracy"] <= 1.0
    assert 1 / classes <= results[f"linear_probe/{task}/chance"] <= 1.0
  assert "zero_shot/shape/top1" in p.stdout and "linear_probe/colour/accuracy" in p.stdout
  for name in ("metrics.jsonl", "config.json", "vocab.json", "tensorboard", "checkpoints"):
    assert (tmp_path / name).exists(), name
  again = run(tmp_path, "--config.eval_only=True")
  assert again.returncode == 0, again.stderr[-3000:]
  assert json.load(open(tmp_path / "results.json")) == results


def test_bad_config_key_fails_with_suggestion(tmp_path):
  p = run(tmp_path, "--config.optimizer.lrr=0.1")
  assert p.returncode != 0 and 'Did you mean "lr"' in p.stderr
  p = run(tmp_path, "--config.model.loss=infonce")
  assert p.returncode != 0 and "Valid choices: sigmoid, softmax" in p.stderr
  p = run(tmp_path, "--config.eval.zero_shot_tasks=('shape','size')")
  assert p.returncode != 0 and "valid choices: shape, colour" in p.stderr


def test_sigterm_saves_and_rerun_resumes_to_the_same_result(tmp_path):
  steps = ["--config.total_steps=40", "--config.checkpoint.every_steps=1000",
           "--config.log_every_steps=1", "--config.progress_bar=False"]
  straight = run(tmp_path / "straight", *steps)
  assert straight.returncode == 0, straight.stderr[-3000:]
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
  assert json.load(open(work / "results.json")) == json.load(open(tmp_path / "straight" /
                                                                  "results.json"))
