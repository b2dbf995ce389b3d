"""Learned stand-ins for a modality that is missing, and modality dropout to train them.

A model with placeholders replaces a missing modality's encoder outputs with learned vectors
(as BERT's [MASK] token stands in for a word), so every fusion and head run unchanged on any
subset of the modalities. Trained with modality dropout (each example loses each modality with
probability p, as in ModDrop, Neverova et al. 2015), the model learns to use them; trained
without, the placeholders keep their initial values and show how brittle the model is
(MultiBench's robustness question).
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp


class Placeholder(nn.Module):
  """One modality's stand-ins: a pooled vector [d] and one token [e].

  Where the modality is missing, pooled becomes the vector and the token sequence the stand-in
  token followed by masked-out positions, so an attention fusion sees one stand-in token however
  many tokens the encoder gives (the same as `absent`, which has no encoder output to replace).
  """
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled: jax.Array, tokens: jax.Array, mask: Optional[jax.Array],
               keep: jax.Array):
    """pooled [batch, d], tokens [batch, n, e], mask [batch, n] bool or None, keep [batch]
    bool (False: missing) -> (pooled, tokens, mask [batch, n] bool) with the stand-ins where
    keep is False."""
    vector = self.param("pooled", nn.initializers.normal(0.02), pooled.shape[-1:],
                        self.param_dtype)
    token = self.param("token", nn.initializers.normal(0.02), tokens.shape[-1:],
                       self.param_dtype)
    pooled = jnp.where(keep[:, None], pooled, vector.astype(pooled.dtype))
    tokens = jnp.where(keep[:, None, None], tokens, token.astype(tokens.dtype))
    mask = jnp.ones(tokens.shape[:2], bool) if mask is None else mask
    first = jnp.arange(tokens.shape[1]) == 0
    return pooled, tokens, jnp.where(keep[:, None], mask, first[None, :])

  def absent(self, batch: int, dtype: Any):
    """The stand-ins of a modality with no input at all: (pooled [batch, d], tokens
    [batch, 1, e], mask [batch, 1] all True)."""
    vector, token = (self.get_variable("params", k) for k in ("pooled", "token"))
    if vector is None:
      raise ValueError("the placeholders are created at init: initialise the model with every "
                       "modality present, then leave out any at apply.")
    pooled = jnp.broadcast_to(vector.astype(dtype), (batch, vector.shape[0]))
    tokens = jnp.broadcast_to(token.astype(dtype), (batch, 1, token.shape[0]))
    return pooled, tokens, jnp.ones((batch, 1), bool)


def dropout_keep(rng: jax.Array, batch: int, count: int, rate: float) -> jax.Array:
  """bool [count, batch]: which modality each example keeps when each is dropped with
  probability `rate`, independently, except that an example never loses all of them (it then
  keeps one chosen uniformly)."""
  keep_rng, pick_rng = jax.random.split(rng)
  keep = jax.random.uniform(keep_rng, (count, batch)) >= rate
  rescue = jax.nn.one_hot(jax.random.randint(pick_rng, (batch,), 0, count), count, dtype=bool).T
  return keep | (rescue & ~keep.any(0, keepdims=True))
