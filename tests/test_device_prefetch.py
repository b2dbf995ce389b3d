"""DevicePrefetch: the same batches and resume states as the synchronous path, on the devices,
with the producer's errors raised in the consumer."""

import jax
import numpy as np
import pytest

from mmjax.data.pipeline import Batches
from mmjax.train import parallel
from mmjax.train.device_prefetch import DevicePrefetch


def make(indices):
  return {"x": np.asarray(indices, np.float32)[:, None] * np.ones((1, 3), np.float32)}


def take(it, n):
  return [next(it) for _ in range(n)]


@pytest.mark.parametrize("size", [1, 3])
def test_same_batches_and_states_as_synchronous(size):
  mesh = parallel.make_mesh()
  put = lambda b: parallel.global_batch(b, mesh)
  sync = take(DevicePrefetch(Batches(make, 8, num_examples=20, seed=3), put, 0), 5)
  ahead = DevicePrefetch(Batches(make, 8, num_examples=20, seed=3), put, size)
  got = take(ahead, 5)
  ahead.close()
  for (a, sa), (b, sb) in zip(sync, got):
    assert sa == sb
    np.testing.assert_array_equal(np.asarray(a["x"]), np.asarray(b["x"]))
    assert b["x"].sharding == parallel.batch_sharding(mesh)
  assert [s["batches_consumed"] for _, s in got] == [1, 2, 3, 4, 5]


def test_resuming_from_a_returned_state_continues_exactly():
  put = lambda b: b
  data = Batches(make, 4, num_examples=12, seed=1)
  first = DevicePrefetch(data, put, 2)
  _, state = take(first, 3)[-1]
  first.close()  # the thread has run ahead of batch 3; the returned state has not.
  data.restore(state)
  again = DevicePrefetch(data, put, 2)
  nxt, _ = next(again)
  again.close()
  expected = Batches(make, 4, num_examples=12, seed=1, prefetch=0)
  np.testing.assert_array_equal(nxt["x"], take(expected, 4)[-1]["x"])


class Broken:
  def __init__(self, fail_at):
    self.n, self.fail_at = 0, fail_at

  def __next__(self):
    self.n += 1
    if self.n == self.fail_at:
      raise ValueError(f"example {self.n}: field 'image' could not be decoded")
    return {"x": np.full((2,), self.n)}

  def state(self):
    return {"n": self.n}


def test_producer_errors_reach_the_consumer():
  it = DevicePrefetch(Broken(fail_at=3), jax.device_put, 2)
  assert [int(b["x"][0]) for b, _ in take(it, 2)] == [1, 2]
  with pytest.raises(ValueError, match="example 3: field 'image'"):
    next(it)
  assert it._thread is None
