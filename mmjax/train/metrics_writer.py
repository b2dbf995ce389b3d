"""Where metrics go: a stdout line, workdir/metrics.jsonl, TensorBoard events, a tqdm bar.

Only process 0 writes. metrics.jsonl is flushed after every row, so a crash or a kill keeps
everything logged so far.
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
    _truncate_after(self.path, start_step)
    from tensorboardX import SummaryWriter  # no TensorFlow needed, unlike clu's writers.
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
    if progress_bar:
      self._bar = tqdm.tqdm(total=total_steps, initial=start_step, dynamic_ncols=True,
                            mininterval=1.0, file=sys.stderr, unit="step")

  def write(self, step: int, metrics: dict, prefix: str = "train", echo: bool = True):
    if not self.enabled:
      return
    row = {"step": int(step), **{f"{prefix}/{k}": _scalar(v) for k, v in metrics.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")
    for k, v in row.items():
      if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
        self._tb.add_scalar(re.sub(r"[^\w./-]", "_", k), v, step)  # TensorBoard's tag charset
    self._tb.flush()
    if echo:
      text = " ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k != "step")
      (tqdm.tqdm.write if self._bar else print)(f"[step {step}] {text}")

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


def _truncate_after(path: str, step: int):
  """On resume, drop rows logged after the restored checkpoint: the resumed run logs those
  steps again (identically), and plots should not see them twice."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    rows = [line for line in f if line.strip()]
  keep = [line for line in rows if json.loads(line).get("step", 0) <= step]
  if len(keep) != len(rows):
    with open(path, "w") as f:
      f.writelines(keep)


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
