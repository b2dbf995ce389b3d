"""Crash safety, measured: the fusion experiment's real script is killed with SIGKILL (no handler,
no cleanup) at seeded random moments, in a train step, while an asynchronous checkpoint is being
written and during an evaluation, and rerun in the same workdir after each kill; it must end with
the train state, results.json and metrics.jsonl of an uninterrupted run, bit for bit.

A tiny run's time is startup and compiles, so the moments are found by watching what the run
shows (its stdout lines, orbax's temporary checkpoint directories), not by timing."""

import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import orbax.checkpoint as ocp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOTAL = 8
# A checkpoint and an evaluation every 2 steps, so each phase comes at every even step. One
# modality (the caption's tokens) starts the fastest; the trainer is the same. Evaluating one
# example at a time stretches an evaluation to ~0.5 s, about what an async save takes, so a
# kill can land in one after its step's checkpoint is written. A step lasts ~10-20 ms: a kill
# aimed at one sometimes lands just after it (reported as such; any moment must be safe).
CMD = [sys.executable, "-u", "experiments/fusion_classification.py",
       "--config", "configs/fusion.py:tiny", "--config.progress_bar=False",
       "--config.model.modalities=text", f"--config.total_steps={TOTAL}",
       "--config.log_every_steps=1", "--config.checkpoint.every_steps=2",
       "--config.eval_every_steps=2", "--config.eval.num_examples=192",
       "--config.eval.batch_size=1"]
TMP = ".orbax-checkpoint-tmp"
# Wall-clock measurements, which differ between any two runs.
TIMINGS = {"train/steps_per_s", "train/examples_per_s", "setup/compile_time_s"}


def start(workdir):
  # A session of its own: the kill takes the whole process group (data threads and all).
  return subprocess.Popen(CMD + ["--workdir", str(workdir)], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish(proc, timeout=600):
  out, _ = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, out[-5000:]


def lines_of(proc):
  """The process's output lines as they come (a reader thread, so polling never blocks)."""
  q = queue.Queue()

  def read():
    for line in proc.stdout:
      q.put(line.rstrip("\n"))
  threading.Thread(target=read, daemon=True).start()
  return q


def in_flight(ckpt_dir):
  """Steps whose save has started and not finished (orbax writes `<step>.orbax-checkpoint-tmp-*`
  and renames it to `<step>` when done)."""
  names = os.listdir(ckpt_dir) if os.path.isdir(ckpt_dir) else []
  return sorted(int(n.split(".")[0]) for n in names if TMP in n)


def saved(ckpt_dir):
  """Steps whose save finished."""
  names = os.listdir(ckpt_dir) if os.path.isdir(ckpt_dir) else []
  return sorted(int(n) for n in names if n.isdigit())


def logged(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def kill_at(workdir, phase, step, rng, timeout=300):
  """Runs the experiment in `workdir` and SIGKILLs its process group at the first moment of
  `phase` at `step` or later: "step" (running it), "save" (its checkpoint being written), "eval"
  (evaluating after it, its checkpoint already saved: else the kill is one during the save).
  Returns what the kill hit, checked after the fact ("save 4", "step 6 (after it)", ...), or
  None if no evaluation came after its save and the run finished."""
  ckpt_dir = os.path.join(workdir, "checkpoints")
  proc, output = start(workdir), []
  lines, deadline = lines_of(proc), time.monotonic() + timeout
  hit = evaluating = None
  while hit is None:
    if proc.poll() is not None and lines.empty():
      assert phase == "eval" and proc.returncode == 0, f"{phase} kill:\n" + "\n".join(output)
      return None
    assert time.monotonic() < deadline, "\n".join(output)
    while not lines.empty() and hit is None:
      output.append(lines.get())
      m = re.match(r"\[step (\d+)\] (train/|evaluating|eval/)", output[-1])
      if m and phase == "step" and m.group(2) == "train/" and int(m.group(1)) + 1 >= step:
        hit = int(m.group(1)) + 1  # the previous step is logged: this one runs
      elif m and m.group(2) != "train/":
        evaluating = int(m.group(1)) if m.group(2) == "evaluating" else None
    if phase == "save":
      hit = next((s for s in in_flight(ckpt_dir) if s >= step), None)
    elif phase == "eval" and evaluating is not None and evaluating >= step:
      hit = evaluating if evaluating in saved(ckpt_dir) else None
    if hit is None:
      time.sleep(0.002)
  if phase == "eval":  # somewhere inside it (~0.5 s), not at its first instant
    time.sleep(rng.uniform(0, 0.05))
  os.killpg(proc.pid, signal.SIGKILL)  # a step or a save: at once
  assert proc.wait(timeout=60) == -signal.SIGKILL
  # Whether the phase had ended when the kill landed: its result is on disk.
  late = {"step": lambda: any(r["step"] == hit and "train/loss" in r for r in logged(workdir)),
          "save": lambda: hit not in in_flight(ckpt_dir),
          "eval": lambda: any(r["step"] == hit and "eval/accuracy" in r for r in logged(workdir))}
  return f"{phase} {hit}" + (" (after it)" if late[phase]() else "")


def final_state(workdir):
  with ocp.StandardCheckpointer() as c:
    return c.restore(os.path.join(workdir, "checkpoints", str(TOTAL), "state"))


def by_step_and_kind(rows):
  """{(step, kind): row without timings}, asserting that no (step, kind) is logged twice."""
  out = {}
  for r in rows:
    kind = next(k.split("/")[0] for k in r if k != "step")
    assert (r["step"], kind) not in out, f"logged twice: {r}"
    out[r["step"], kind] = {k: v for k, v in r.items() if k not in TIMINGS}
  return out


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(tmp_path):
  ref, killed = tmp_path / "ref", str(tmp_path / "killed")
  reference = start(ref)  # beside the killed runs: a run is mostly single-threaded startup
  rng = random.Random(17)
  # Each phase once at random increasing steps, so each kill's moment is still ahead of the run
  # resumed from the previous kill; the evaluation last, as it may have to wait for the final
  # one (a step and a save in a random order before it).
  plan = zip(rng.sample(["step", "save"], 2) + ["eval"],
             sorted(rng.sample(range(2, TOTAL + 1, 2), 3)))
  hits, resumed_at = [], {0}
  for phase, step in plan:
    hit = None
    while hit is None:  # (a run that finished is simply rerun: it then only evaluates)
      hit = kill_at(killed, phase, step, rng)
      resumed_at.add(max(saved(os.path.join(killed, "checkpoints")), default=0))
    hits.append(hit)
  finish(start(killed))
  finish(reference)
  print("killed at", hits)

  ref_state, state = final_state(ref), final_state(killed)
  assert jax.tree.structure(ref_state) == jax.tree.structure(state)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(ref_state), jax.tree.leaves(state)):
    assert np.array_equal(np.asarray(a), np.asarray(b)), jax.tree_util.keystr(path)
  for name in ("results.json", f"checkpoints/{TOTAL}/data/metadata"):  # and the data position
    assert json.load(open(ref / name)) == json.load(open(os.path.join(killed, name))), name

  # One row per step and kind; the train and eval rows equal (setup rows: one per start).
  ref_rows, rows = by_step_and_kind(logged(ref)), by_step_and_kind(logged(killed))
  for kind in ("train", "eval"):
    assert {k: v for k, v in rows.items() if k[1] == kind} == \
        {k: v for k, v in ref_rows.items() if k[1] == kind}, kind
  assert sorted(s for s, kind in ref_rows if kind == "train") == list(range(1, TOTAL + 1))
  # Each rerun started from the newest checkpoint the kill left (its setup row; none when
  # only the final evaluation was left), not from scratch.
  assert {s for s, kind in rows if kind == "setup"} == resumed_at - {TOTAL}
  assert not [n for n in os.listdir(os.path.join(killed, "checkpoints")) if TMP in n]


def test_metrics_writer_resumed_after_a_kill_keeps_one_whole_row_per_step_and_kind(tmp_path):
  from mmjax.train.metrics_writer import MetricWriter
  rows = [{"step": 0, "setup/params": 5}, {"step": 2, "train/loss": 1.0},
          {"step": 2, "setup/params": 5}, {"step": 2, "eval/accuracy": 0.5},
          {"step": 3, "train/loss": 0.9}]
  with open(tmp_path / "metrics.jsonl", "w") as f:  # killed while writing the last row
    f.write("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4, "train/lo')
  w = MetricWriter(str(tmp_path), total_steps=6, start_step=2, progress_bar=False)
  assert logged(tmp_path) == rows[:4]  # after the checkpoint, and the torn line, are gone
  w.write(2, {"params": 5}, prefix="setup")
  w.write(2, {"accuracy": 0.5}, prefix="eval")  # evaluated again: replaces, not duplicates
  w.write(3, {"loss": 0.9})
  w.close()
  assert logged(tmp_path) == rows


def test_only_the_trainer_deletes_an_unfinished_save(tmp_path):
  # A save at a step the resumed run never saves again (SIGTERM's, a data error's) would stay.
  from mmjax.train.checkpoint import Checkpointer
  os.makedirs(tmp_path / f"3{TMP}" / "state")
  Checkpointer(str(tmp_path), 2, 2).close()  # an evaluation: a live run may be writing it
  assert os.listdir(tmp_path) == [f"3{TMP}"]
  Checkpointer(str(tmp_path), 2, 2, trainer=True).close()
  deadline = time.monotonic() + 30  # orbax deletes in the background (a save waits for it)
  while os.listdir(tmp_path) and time.monotonic() < deadline:
    time.sleep(0.01)
  assert os.listdir(tmp_path) == []
