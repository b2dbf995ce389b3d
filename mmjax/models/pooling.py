"""Pooling: the masked token mean every padded sequence pools with (text encoders, token-level
fusions, the LSTM decoder's image summary), and a max pool that takes a reshape and a max when
the windows tile the input (window == stride), which XLA:CPU runs several times faster than the
reduce_window of `flax.linen.max_pool`."""

from typing import Optional

import jax
from jax import lax
import jax.numpy as jnp
import flax.linen as nn


def masked_mean(x: jax.Array, mask: Optional[jax.Array] = None,
                weights: Optional[jax.Array] = None) -> jax.Array:
  """Mean over tokens of x [batch, n, dim] where mask [batch, n] (bool or 0/1) is set
  -> [batch, dim] in x's dtype.

  weights [batch, n] scale each valid token's term while the divisor stays the number of valid
  tokens (tf-idf pooling). Summed in float32; a sample without any valid token gives zeros
  rather than NaN.
  """
  m = jnp.ones(x.shape[:2], jnp.float32) if mask is None else mask.astype(jnp.float32)
  w = m if weights is None else m * weights
  # A weighted sum as one batched product (XLA:CPU reduces rows slowly: models/transformer.py).
  total = jnp.einsum("bn,bnd->bd", w, x.astype(jnp.float32))
  return (total / jnp.maximum(m.sum(axis=1), 1.0)[:, None]).astype(x.dtype)


@jax.custom_jvp
def _max_last(x):
  """x [..., k] -> [...]: the max over the last axis."""
  return jnp.max(x, axis=-1)


@_max_last.defjvp
def _max_last_jvp(primals, tangents):
  (x,), (t,) = primals, tangents
  # The first maximum of each window takes the whole gradient, as reduce_window's max gradient
  # does (select_and_scatter keeps the earlier of equal values); jnp.max would split it among
  # ties. `where`, not a product, so the others get exactly +0 and it transposes to a select.
  first = jnp.arange(x.shape[-1]) == jnp.argmax(x, axis=-1)[..., None]
  return jnp.max(x, axis=-1), jnp.sum(jnp.where(first, t, jnp.zeros_like(t)), axis=-1)


def max_pool(x, window_shape, strides=None, padding="VALID"):
  """`flax.linen.max_pool` with the same arguments and bitwise the same outputs and gradients.

  x [batch, *spatial, features] -> [batch, *pooled, features]. When the windows do not overlap
  (strides == window_shape) and the padding is VALID, SAME or non-negative pairs, pads with -inf
  exactly as reduce_window would, crops the remainder it would drop, and takes the max over a
  reshaped window axis; anything else falls back to `nn.max_pool`.
  """
  window = tuple(window_shape)
  strides = tuple(strides) if strides is not None else (1,) * len(window)
  spatial = x.shape[1:-1]
  pads = (lax.padtype_to_pads(spatial, window, strides, padding) if isinstance(padding, str)
          else [tuple(p) for p in padding])
  if (window != strides or len(spatial) != len(window) or len(pads) != len(window)
      or min(min(p) for p in pads) < 0 or not jnp.issubdtype(x.dtype, jnp.floating)):
    return nn.max_pool(x, window, strides, padding)
  if any(lo or hi for lo, hi in pads):
    x = jnp.pad(x, [(0, 0), *pads, (0, 0)], constant_values=-jnp.inf)
  out = [n // w for n, w in zip(x.shape[1:-1], window)]
  x = x[(slice(None), *(slice(0, o * w) for o, w in zip(out, window)))]  # VALID drops the rest
  b, c, d = x.shape[0], x.shape[-1], len(window)
  x = x.reshape(b, *(s for o, w in zip(out, window) for s in (o, w)), c)
  # [b, o1, w1, o2, w2, ..., c] -> [b, o1, o2, ..., c, w1 * w2 * ...], window in row-major order.
  x = x.transpose(0, *range(1, 2 * d, 2), 2 * d + 1, *range(2, 2 * d + 1, 2))
  return _max_last(x.reshape(b, *out, c, -1))
