"""Where metrics go: a stdout line, workdir/metrics.jsonl, TensorBoard events, a tqdm bar.

Only process 0 writes. metrics.jsonl is flushed after every row, so a crash or a kill keeps
everything logged so far; a resumed run leaves it one row per (step, kind) as if never stopped
(`_truncate_after`, and a row at the resumed step replaces the killed run's of the same kind).
"""

import json
import math
import os
import re
import sys
import time

import jax
import numpy as np
import tqdm


def _scalar(v):
  v = np.asarray(v)
  return v.item() if v.size == 1 else v.tolist()


class MetricWriter:

  def __init__(self, workdir: str, total_steps: int, start_step: int = 0,
               progress_bar: bool = True):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    self._bar = None
    if not self.enabled:
      return
    self._start = start_step
    # Kinds (train, eval, setup, ...) already logged at the resumed step by the stopped run.
    self._at_start = _truncate_after(self.path, start_step)
    from tensorboardX import SummaryWriter  # no TensorFlow needed, unlike clu's writers.
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
    if progress_bar:
      self._bar = tqdm.tqdm(total=total_steps, initial=start_step, dynamic_ncols=True,
                            mininterval=1.0, file=sys.stderr, unit="step")

  def write(self, step: int, metrics: dict, prefix: str = "train", echo: bool = True):
    if not self.enabled:
      return
    row = {"step": int(step), **{f"{prefix}/{k}": _scalar(v) for k, v in metrics.items()}}
    if step == self._start and prefix in self._at_start:
      self._at_start.discard(prefix)  # the stopped run's row of this kind: this one replaces it.
      _rewrite(self.path, lambda r: not (r.get("step") == step and _kind(r) == prefix))
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")
    for k, v in row.items():
      if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
        self._tb.add_scalar(re.sub(r"[^\w./-]", "_", k), v, step)  # TensorBoard's tag charset
    self._tb.flush()
    if echo:
      text = " ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k != "step")
      self._echo(f"[step {step}] {text}")

  def note(self, step: int, text: str):
    """A stdout line only (not a metric): what the run is doing, e.g. a long evaluation."""
    if self.enabled:
      self._echo(f"[step {step}] {text}")

  def _echo(self, line: str):
    (tqdm.tqdm.write if self._bar else print)(line)
    sys.stdout.flush()  # a log piped to a file (nohup, tee) shows what the run does now

  def progress(self, steps: int, **postfix):
    if self._bar is not None:
      self._bar.update(steps)
      if postfix:
        self._bar.set_postfix({k: _fmt(v) for k, v in postfix.items()}, refresh=False)

  def close(self):
    if self._bar is not None:
      self._bar.close()
    if self._tb is not None:
      self._tb.close()


def _fmt(v):
  return f"{v:.4g}" if isinstance(v, float) else str(v)


def _kind(row: dict):
  return next((k.split("/")[0] for k in row if k != "step"), None)


def _rows(path: str) -> tuple[list, bool]:
  """metrics.jsonl's rows, and whether every line parsed (a kill mid-write cuts the last one
  short; it is dropped)."""
  rows, whole = [], True
  with open(path) as f:
    for line in filter(str.strip, f):
      try:
        rows.append(json.loads(line))
      except json.JSONDecodeError:
        whole = False
  return rows, whole


def _rewrite(path: str, keep) -> None:
  """Keeps the rows where keep(row); atomically, so a kill meanwhile loses nothing."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in _rows(path)[0] if keep(r))
  os.replace(tmp, path)


def _truncate_after(path: str, step: int) -> set:
  """On resume, drop rows logged after the restored checkpoint: the resumed run logs those
  steps again (identically), and plots should not see them twice. Returns the kinds of the rows
  kept at `step`."""
  if not os.path.exists(path):
    return set()
  rows, whole = _rows(path)
  if not whole or any(r.get("step", 0) > step for r in rows):
    _rewrite(path, lambda r: r.get("step", 0) <= step)
  return {_kind(r) for r in rows if r.get("step", 0) == step}


class Throughput:
  """steps/s and examples/s between two calls."""

  def __init__(self, step: int):
    self.step, self.time = step, time.perf_counter()

  def __call__(self, step: int, batch_size: int) -> dict:
    now = time.perf_counter()
    dt = max(now - self.time, 1e-9)
    rate = (step - self.step) / dt
    self.step, self.time = step, now
    return {"steps_per_s": rate, "examples_per_s": rate * batch_size}
