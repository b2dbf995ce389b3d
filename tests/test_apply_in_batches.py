"""apply_in_batches: equal to one call on everything, one batch shape, pytrees in and out."""

import numpy as np

from mmjax.evaluate.batched import apply_in_batches


def test_equals_a_single_call_with_one_batch_shape():
  x = {"a": np.arange(10.0)[:, None] * np.ones((1, 3)), "b": np.arange(10)}
  shapes, starts = set(), []

  def fn(batch, start):
    shapes.add((batch["a"].shape, batch["b"].shape))
    starts.append(start)
    return {"sum": batch["a"].sum(-1) + batch["b"], "id": batch["b"] * 2}

  out = apply_in_batches(fn, x, 4)
  np.testing.assert_array_equal(out["sum"], x["a"].sum(-1) + x["b"])
  np.testing.assert_array_equal(out["id"], 2 * x["b"])
  assert shapes == {((4, 3), (4,))} and starts == [0, 4, 8]


def test_array_input_smaller_than_one_batch():
  out = apply_in_batches(lambda b, _: b * 3, np.arange(3), 8)
  np.testing.assert_array_equal(out, [0, 3, 6])
