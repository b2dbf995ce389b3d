"""A deterministic, resumable batch iterator over any random-access source, on grain.

Batch b of the run is a fixed set of example indices: with `num_examples` set, a fresh seeded
permutation per epoch; otherwise (an infinite procedural source) indices b*B ... b*B + B - 1.
Each process takes its own contiguous slice of every global batch. Because batch b is a pure
function of b, the pipeline is a grain `MapDataset` over batch numbers (`range` then `map` to
`make_batch`), which grain reads ahead with `workers` threads. Threads, not processes: Pillow's
decode and resize and numpy release the GIL (about half of a 224 px JPEG example's time at
64 px; the rest is Python, which caps the gain of a second thread), and processes would need
picklable `make_batch` closures, which experiments do not have. The iterator's state is just the
number of batches consumed (the checkpoint key `batches_consumed`, as before grain), so a
resumed run sees exactly the batches an uninterrupted one would, and older checkpoints restore.

Threads build whole batches, not examples: `make_batch` may treat its indices as a batch (pad
to the longest caption, one tfds read per batch), so only the caller's function knows how to
split it; and on Flickr8k JPEGs at 64 px, 2 threads over whole batches gave 543 examples/s
where 2 threads over chunks of each batch gave 447 (1 thread: 333; 2 cores, lightly loaded).
"""

import sys
import threading
from typing import Callable, Optional

import grain
import jax
import numpy as np

# Threads decoding batches ahead of the consumer: 2, this machine's cores, gave 1.25-1.6x the
# examples/s of 1 on Flickr8k JPEGs when both cores were free (benchmarks/data_throughput.py
# --manifest_dir); a thread waiting on a full buffer costs nothing while the step is the
# bottleneck.
DEFAULT_WORKERS = 2


class Batches:
  """Iterator of this process's batches: dicts of numpy arrays with leading dim
  global_batch / process_count.

  make_batch(indices: int64 [n]) -> dict of arrays [n, ...]; must be thread-safe. With
  `with_positions=True` it is called as make_batch(indices, positions), where positions [n] are
  the examples' places in the whole run's stream (distinct across epochs), to seed random
  augmentation so that it differs between epochs yet stays reproducible on resume.

  workers: threads building batches ahead (grain's ReadOptions.num_threads; the trainer sets it
  from config.data_workers); prefetch: batches read ahead, at least `workers` (grain's
  prefetch_buffer_size). workers=0 or prefetch=0 builds each batch in the caller's thread when
  asked for. Neither changes which batches come out.
  """

  def __init__(self, make_batch: Callable, global_batch: int, *, seed: int = 0,
               num_examples: Optional[int] = None, process_index: Optional[int] = None,
               process_count: Optional[int] = None, prefetch: int = 2,
               with_positions: bool = False, workers: int = DEFAULT_WORKERS):
    self.make_batch = make_batch
    self.with_positions = with_positions
    self.global_batch = global_batch
    self.seed, self.num_examples, self.prefetch = seed, num_examples, prefetch
    if prefetch < 0:
      raise ValueError(f"prefetch={prefetch} must be >= 0.")
    self.process_index = jax.process_index() if process_index is None else process_index
    self.process_count = jax.process_count() if process_count is None else process_count
    if global_batch % self.process_count:
      raise ValueError(f"batch {global_batch} is not divisible by {self.process_count} processes.")
    self.local_batch = global_batch // self.process_count
    self._consumed = 0
    self._iter = None
    self._running = None
    self.workers = workers

  @property
  def workers(self) -> int:
    return self._workers

  @workers.setter
  def workers(self, workers: int):
    """Changes the worker threads (the trainer sets config.data_workers): batches read ahead
    are dropped and the iterator goes on from the same batch."""
    if workers < 0:
      raise ValueError(f"workers={workers} must be >= 0.")
    self.close()
    self._workers = workers if self.prefetch else 0

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
    """This process's part of global batch `batch` (what the iterator yields as batch b)."""
    if self.with_positions:
      return self.make_batch(self.indices(batch), self.positions(batch))
    return self.make_batch(self.indices(batch))

  def _start(self):
    """Element b of the grain dataset is (b, self.batch(b)) for b < 2**63 - 1: the stream is
    unbounded, epochs live in `indices`."""
    running = _Running()
    ds = grain.MapDataset.range(sys.maxsize).map(lambda b: running.call(self.batch, b))
    options = grain.ReadOptions(num_threads=self.workers,
                                prefetch_buffer_size=max(self.prefetch, self.workers))
    self._iter = iter(ds.to_iter_dataset(options))
    self._iter.set_state({"next_index": self._consumed})
    self._running = running

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    if self.workers == 0:
      out = self.batch(self._consumed)
    else:
      if self._iter is None:
        self._start()
      try:
        b, out = next(self._iter)
      except Exception:
        # Batches read ahead of the failed one are dropped: the next call starts again at it.
        self.close()
        raise
      assert b == self._consumed, (b, self._consumed)
    self._consumed += 1
    return out

  def state(self) -> dict:
    return {"batches_consumed": self._consumed}

  def restore(self, state: dict):
    self.close()
    self._consumed = int(state["batches_consumed"])

  def close(self):
    """Stops reading ahead and waits for batches being built (they may hold open files)."""
    if self._iter is not None:
      self._running.stop()
      self._iter.close()
      self._running.wait()
      self._iter = self._running = None


class _Running:
  """Counts the batches being built so that `close` can wait for them: grain's close cancels
  queued work but does not wait for running work. After stop(), queued calls return None
  (which grain skips) without building anything."""

  def __init__(self):
    self._cond = threading.Condition()
    self._n = 0
    self._stopped = False

  def call(self, fn: Callable, b: int):
    with self._cond:
      if self._stopped:
        return None
      self._n += 1
    try:
      return b, fn(b)
    finally:
      with self._cond:
        self._n -= 1
        self._cond.notify_all()

  def stop(self):
    with self._cond:
      self._stopped = True

  def wait(self):
    with self._cond:
      self._cond.wait_for(lambda: self._n == 0)
