"""The masked token mean against numpy. The reshape max pool matches nn.max_pool bitwise (outputs
and gradients) on odd and even sizes, with ties, in 1-D and 2-D, VALID / SAME / explicit
padding; it is the path taken when windows tile the input, and the CNN encoders using it match
their nn.max_pool versions on the inputs their pools get."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models.audio import spec_cnn, wave_cnn
from mmjax.models.image import cnn
from mmjax.models.pooling import masked_mean, max_pool

CASES = [  # (shape, window, padding): window == strides, the reshape path.
    ((2, 8, 6, 3), (2, 2), "VALID"), ((2, 7, 5, 3), (2, 2), "VALID"),
    ((2, 8, 6, 3), (2, 2), "SAME"), ((2, 7, 5, 3), (2, 2), "SAME"),
    ((2, 9, 11, 2), (3, 3), "SAME"),  # SAME pads both ends here: 1 before, 1 after (11 -> 12)
    ((2, 9, 11, 2), (3, 2), ((1, 2), (0, 1))),
    ((2, 16, 3), (4,), "VALID"), ((2, 13, 3), (4,), "VALID"), ((2, 13, 3), (4,), "SAME"),
]


def test_masked_mean_averages_the_valid_tokens_only():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(3, 5, 4)).astype(np.float32)
  mask = np.array([[1, 1, 0, 1, 0], [1] * 5, [0] * 5], bool)  # the last sample: all padding
  weights = rng.random((3, 5)).astype(np.float32)
  got = jax.jit(masked_mean)(x, mask)
  np.testing.assert_allclose(got[0], x[0, [0, 1, 3]].mean(0), rtol=1e-6)
  np.testing.assert_allclose(got[1], x[1].mean(0), rtol=1e-6)
  np.testing.assert_array_equal(got[2], np.zeros(4))  # zeros, not NaN
  mean = jax.jit(masked_mean)
  np.testing.assert_array_equal(mean(x), mean(x, np.ones((3, 5), bool)))  # no mask: all valid
  # Weighted (tf-idf): weighted sum over valid tokens, divided by their number.
  want = (weights[0, [0, 1, 3], None] * x[0, [0, 1, 3]]).sum(0) / 3
  np.testing.assert_allclose(jax.jit(masked_mean)(x, mask, weights)[0], want, rtol=1e-6)
  low = masked_mean(jnp.asarray(x, jnp.bfloat16), mask)
  assert low.dtype == jnp.bfloat16


def primitives(fn, x):
  return {e.primitive.name for e in jax.make_jaxpr(fn)(x).jaxpr.eqns}


def assert_matches_nn_max_pool(x, ct, window, strides, padding):
  """max_pool and nn.max_pool give bitwise the same outputs and gradients (cotangent ct)."""
  def both(x, ct):
    out = []
    for pool in (max_pool, nn.max_pool):
      y, vjp = jax.vjp(lambda x: pool(x, window, strides, padding), x)
      out.append((y, vjp(ct)[0]))
    return out

  new, old = jax.jit(both)(x, ct)
  for name, a, b in zip(("output", "gradient"), new, old):
    assert a.shape == b.shape and a.dtype == b.dtype, (x.shape, padding, name)
    np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32),
                                  err_msg=f"{x.shape} {window} {padding}: {name}")
  return np.asarray(new[1], np.float32)


def ties(rng, shape, window, strides, padding, dtype):
  """An input of integers in [-2, 2] (most windows hold ties, where the gradient must go to the
  first maximum only, reduce_window's rule, not be split as jnp.max's would be) and a random
  cotangent of the pooled shape."""
  x = jnp.asarray(rng.integers(-2, 3, shape), dtype)
  y_shape = jax.eval_shape(lambda x: nn.max_pool(x, window, strides, padding), x).shape
  return x, jnp.asarray(rng.normal(size=y_shape), dtype), y_shape


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_outputs_and_gradients_match_nn_max_pool_bitwise(dtype):
  rng = np.random.default_rng(0)
  for shape, window, padding in CASES:
    x, ct, y_shape = ties(rng, shape, window, window, padding, dtype)
    grad = assert_matches_nn_max_pool(x, ct, window, window, padding)
    assert np.count_nonzero(grad) == int(np.prod(y_shape)), (shape, padding)  # one per window


def test_tiling_windows_take_the_reshape_path_and_others_fall_back():
  x = jnp.zeros((2, 7, 5, 3))
  assert "reduce_window_max" not in primitives(lambda x: max_pool(x, (2, 2), (2, 2), "SAME"), x)
  overlapping = lambda x: max_pool(x, (3, 3), (2, 2), "SAME")
  assert "reduce_window_max" in primitives(overlapping, x)
  np.testing.assert_array_equal(overlapping(x + jnp.arange(5.0)[:, None]),
                                nn.max_pool(x + jnp.arange(5.0)[:, None], (3, 3), (2, 2), "SAME"))


@pytest.mark.parametrize("module,model,shape,pools", [
    (cnn, cnn.ConvNet(channels=(4, 8)), (2, 13, 10, 3), 2),
    (wave_cnn, wave_cnn.WaveCNN(channels=(4, 8), kernel_sizes=(16, 3), strides=(4, 1)),
     (2, 1001), 2),
    (spec_cnn, spec_cnn.SpectrogramCNN(channels=(4, 8), convs_per_block=(1, 1), num_mel_bins=18,
                                       sample_rate=8000.0, fmin=50.0, fmax=2000.0), (2, 2345), 2),
], ids=["cnn", "wave_cnn", "spec_cnn"])
def test_encoders_pool_where_max_pool_equals_nn_max_pool(module, model, shape, pools,
                                                         monkeypatch):
  # The encoder with nn.max_pool differs from itself with max_pool only in its pools, so it
  # matches bitwise iff each pool does on the input it gets. Record the pools of a forward pass
  # while tracing it (nothing computed) and check each, jitted, on inputs of that shape with
  # ties; comparing whole encoders op by op took minutes of eager dispatch.
  calls = []

  def recording(x, window_shape, strides=None, padding="VALID"):
    calls.append((x.shape, x.dtype, window_shape, strides, padding))
    return max_pool(x, window_shape, strides, padding)

  monkeypatch.setattr(module, "max_pool", recording)
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(1), x)
  calls.clear()
  jax.eval_shape(model.apply, variables, x)
  assert len(calls) == pools, calls
  rng = np.random.default_rng(0)
  for pool_shape, dtype, window, strides, padding in calls:
    x, ct, y_shape = ties(rng, pool_shape, window, strides, padding, dtype)
    grad = assert_matches_nn_max_pool(x, ct, window, strides, padding)
    assert np.count_nonzero(grad) == int(np.prod(y_shape)), (pool_shape, padding)
