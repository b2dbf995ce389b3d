"""A deterministic, resumable batch iterator over any random-access source.

Batch b of the run is a fixed set of example indices: with `num_examples` set, a fresh seeded
permutation per epoch; otherwise (an infinite procedural source) indices b*B ... b*B + B - 1.
Each process takes its own contiguous slice of every global batch. The iterator's state is
just the number of batches consumed, so a resumed run sees exactly the batches an
uninterrupted one would. A background thread prepares the next batches while the model trains.
"""

import queue
import threading
from typing import Callable, Optional

import jax
import numpy as np


class Batches:
  """Iterator of this process's batches: dicts of numpy arrays with leading dim
  global_batch / process_count.

  make_batch(indices: int64 [n]) -> dict of arrays [n, ...]; must be thread-safe. With
  `with_positions=True` it is called as make_batch(indices, positions), where positions [n] are
  the examples' places in the whole run's stream (distinct across epochs), to seed random
  augmentation so that it differs between epochs yet stays reproducible on resume.
  """

  def __init__(self, make_batch: Callable, global_batch: int, *, seed: int = 0,
               num_examples: Optional[int] = None, process_index: Optional[int] = None,
               process_count: Optional[int] = None, prefetch: int = 2,
               with_positions: bool = False):
    self.make_batch = make_batch
    self.with_positions = with_positions
    self.global_batch = global_batch
    self.seed, self.num_examples, self.prefetch = seed, num_examples, prefetch
    self.process_index = jax.process_index() if process_index is None else process_index
    self.process_count = jax.process_count() if process_count is None else process_count
    if global_batch % self.process_count:
      raise ValueError(f"batch {global_batch} is not divisible by {self.process_count} processes.")
    self.local_batch = global_batch // self.process_count
    self._consumed = 0
    self._thread = None
    self._queue = None
    self._stop = None

  def positions(self, batch: int) -> np.ndarray:
    """Stream positions [local_batch] of this process's part of global batch `batch`."""
    start = batch * self.global_batch + self.process_index * self.local_batch
    return start + np.arange(self.local_batch, dtype=np.int64)

  def indices(self, batch: int) -> np.ndarray:
    """Example indices of this process's part of global batch `batch`."""
    pos = self.positions(batch)
    if self.num_examples is None:
      return pos
    epoch, pos = np.divmod(pos, self.num_examples)
    out = np.empty_like(pos)
    for e in np.unique(epoch):
      perm = np.random.default_rng([self.seed, int(e)]).permutation(self.num_examples)
      out[epoch == e] = perm[pos[epoch == e]]
    return out

  def batch(self, batch: int) -> dict:
    if self.with_positions:
      return self.make_batch(self.indices(batch), self.positions(batch))
    return self.make_batch(self.indices(batch))

  def _produce(self, start, q, stop):
    b = start
    while not stop.is_set():
      try:
        item = (b, self.batch(b), None)
      except Exception as e:  # hand errors to the consumer instead of dying silently.
        item = (b, None, e)
      while not stop.is_set():
        try:
          q.put(item, timeout=0.1)
          break
        except queue.Full:
          pass
      if item[2] is not None:
        return
      b += 1

  def _start(self):
    self._queue = queue.Queue(maxsize=max(self.prefetch, 1))
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._produce, daemon=True,
                                    args=(self._consumed, self._queue, self._stop))
    self._thread.start()

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    if self.prefetch == 0:
      out = self.batch(self._consumed)
    else:
      if self._thread is None:
        self._start()
      b, out, err = self._queue.get()
      assert b == self._consumed, (b, self._consumed)
      if err is not None:
        raise err
    self._consumed += 1
    return out

  def state(self) -> dict:
    return {"batches_consumed": self._consumed}

  def restore(self, state: dict):
    self.close()
    self._consumed = int(state["batches_consumed"])

  def close(self):
    if self._thread is not None:
      self._stop.set()
      self._thread.join()
      self._thread = None
