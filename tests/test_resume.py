"""Checkpoint/resume: an interrupted run resumed to the end equals an uninterrupted one, bit
for bit; NaN stops the run and keeps the last good checkpoint."""

import json
import os
import signal

import jax
import numpy as np
import pytest

from mmjax import train
from tests import toy


def adamw_config(**kw):
  c = toy.config(total_steps=6, **kw)
  c.optimizer.name = "adamw"
  c.optimizer.lr = 1e-2
  c.schedule.warmup_steps = 2  # a schedule that would visibly shift if resume got it wrong.
  c.checkpoint.async_save = True
  return c


def run(c, workdir, hooks=()):
  init_fn, loss_fn, make_batch = toy.contrastive_problem()
  return train.fit(c, str(workdir), init_fn=init_fn, loss_fn=loss_fn,
                   train_data=toy.batches(make_batch, c), hooks=hooks)


def logged(workdir, key):
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  return {r["step"]: r[key] for r in rows if key in r}


def assert_same_params(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("parallelism", ["jit", "pmap"])
def test_sigterm_then_resume_equals_uninterrupted(tmp_path, parallelism):
  c = adamw_config(parallelism=parallelism)
  c.checkpoint.every_steps = 100  # only the signal handler saves.
  full = run(c, tmp_path / "full")

  def send_sigterm(step):
    if step == 3:
      os.kill(os.getpid(), signal.SIGTERM)

  part = run(c, tmp_path / "resumed", hooks=[send_sigterm])
  assert part.interrupted and part.step == 3 and part.signal == signal.SIGTERM
  resumed = run(c, tmp_path / "resumed")
  assert not resumed.interrupted and resumed.step == 6
  assert_same_params(resumed.state.params, full.state.params)
  assert_same_params(resumed.state.opt_state, full.state.opt_state)
  for key in ("train/lr", "train/loss"):  # same schedule position and same batches.
    assert logged(tmp_path / "resumed", key) == logged(tmp_path / "full", key)


def test_crash_resumes_from_last_periodic_checkpoint(tmp_path):
  c = adamw_config()
  full = run(c, tmp_path / "full")

  def crash(step):
    if step == 5:
      raise RuntimeError("simulated crash")

  with pytest.raises(RuntimeError, match="simulated"):
    run(c, tmp_path / "crashed", hooks=[crash])
  assert sorted(os.listdir(tmp_path / "crashed" / "checkpoints")) == ["2", "4"]
  resumed = run(c, tmp_path / "crashed")
  assert_same_params(resumed.state.params, full.state.params)
  assert len(logged(tmp_path / "crashed", "train/loss")) == 6  # no duplicated rows


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  c = adamw_config()
  init_fn, loss_fn, make_batch = toy.contrastive_problem()

  def poisoned(indices):  # batch index 3 (step 4) has a NaN pixel.
    b = make_batch(indices)
    if indices[0] == 3 * c.batch_size:
      b["images"][0, 0, 0, 0] = np.nan
    return b

  with pytest.raises(train.NonFiniteLossError, match=r"at step 4.*checkpoint \(step 2\)"):
    train.fit(c, str(tmp_path), init_fn=init_fn, loss_fn=loss_fn,
              train_data=toy.batches(poisoned, c))
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2"]
  from mmjax.train.loop import restore_latest
  state, step = restore_latest(c, str(tmp_path), init_fn)
  assert step == 2
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.params))


def test_writes_config_metrics_and_tensorboard(tmp_path):
  c = adamw_config()
  run(c, tmp_path)
  assert json.load(open(tmp_path / "config.json"))["total_steps"] == 6
  assert logged(tmp_path, "setup/compile_time_s")[0] > 0
  assert sorted(logged(tmp_path, "train/examples_per_s")) == [1, 2, 3, 4, 5, 6]
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tensorboard"))


def test_data_error_mid_run_saves_the_work_done_and_resumes_exactly(tmp_path):
  c = adamw_config()
  c.checkpoint.every_steps = 100  # no periodic checkpoint: only the data error saves.
  init_fn, loss_fn, make_batch = toy.contrastive_problem()
  full = run(c, tmp_path / "full")
  broken = {"yes": True}

  def flaky(indices):  # batch index 4 (step 5) reads a file that vanished after validation.
    if broken["yes"] and indices[0] == 4 * c.batch_size:
      raise FileNotFoundError("no such file: img/0042.jpg")
    return make_batch(indices)

  fit = lambda: train.fit(c, str(tmp_path / "run"), init_fn=init_fn, loss_fn=loss_fn,
                          train_data=toy.batches(flaky, c))
  with pytest.raises(train.DataError, match=r"after step 4 failed: FileNotFoundError: no such "
                     r"file: img/0042.jpg\nThe state after step 4 is saved"):
    fit()
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["4"]
  broken["yes"] = False  # the data is fixed: the rerun resumes at step 4, as if never stopped
  resumed = fit()
  assert resumed.step == 6
  assert_same_params(resumed.state.params, full.state.params)


def test_a_run_that_died_evaluating_after_its_checkpoint_evaluates_again(tmp_path):
  c = adamw_config()
  c.eval_every_steps = 2
  init_fn, loss_fn, make_batch = toy.contrastive_problem()
  dies = {"at": 4}

  def evaluate(state, step):
    if step == dies["at"]:  # the checkpoint of step 4 is written (the crash waits for it)
      raise RuntimeError("killed while evaluating")
    return {"norm": float(sum(np.abs(np.asarray(x)).sum() for x in jax.tree.leaves(state.params)))}

  fit = lambda: train.fit(c, str(tmp_path), init_fn=init_fn, loss_fn=loss_fn,
                           train_data=toy.batches(make_batch, c), evaluate=evaluate)
  with pytest.raises(RuntimeError, match="killed while evaluating"):
    fit()
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4"]
  dies["at"] = None
  fit()  # resumes at step 4, whose evaluation is then not lost
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert [r["step"] for r in rows if "eval/norm" in r] == [2, 4, 6]
