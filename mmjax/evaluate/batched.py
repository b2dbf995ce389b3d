"""Evaluating a jitted function over a whole split in fixed-size batches."""

import jax
import numpy as np


def apply_in_batches(fn, inputs, batch_size: int):
  """fn(batch, start) over `inputs` (an array or a dict/pytree of arrays, all [n, ...]) in
  batches of exactly `batch_size` rows, start being the batch's first row. The last batch is
  padded by repeating its final row, so that fn compiles once; the padding's outputs are
  dropped. Returns fn's outputs (any pytree) as numpy arrays [n, ...]."""
  n, outs = len(jax.tree.leaves(inputs)[0]), []
  for start in range(0, n, batch_size):
    m = min(batch_size, n - start)
    x = jax.tree.map(lambda v: np.concatenate(
        [v[start:start + m], np.repeat(v[start + m - 1:start + m], batch_size - m, 0)]), inputs)
    outs.append(jax.tree.map(lambda y: np.asarray(y)[:m], fn(x, start)))
  return jax.tree.map(lambda *ys: np.concatenate(ys), *outs)
