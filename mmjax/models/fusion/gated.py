"""Gated Multimodal Unit (Arevalo et al. 2017, "Gated Multimodal Units for Information Fusion")."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.transformer import Dense


class GatedFusion(nn.Module):
  """The Gated Multimodal Unit: pooled [batch, d_i] per modality -> [batch, dim].

  h_i = tanh(W_i x_i); gates from the concatenation [x_1; ...; x_M]. Two modalities (the paper's
  bimodal GMU): z = sigmoid(W_z [x_1; x_2]), out = z * h_1 + (1 - z) * h_2. More modalities:
  z = softmax over modalities of W_z [x_1; ...; x_M] per feature, out = sum_i z_i * h_i.
  """
  dim: int = 256
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    count, _ = check_inputs("gated", pooled, tokens, masks, at_least=2)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    # The paper's h_i has no bias: tanh(W_i x_i).
    h = [jnp.tanh(Dense(self.dim, use_bias=False, name=f"hidden{i}", **kw)(p))
         for i, p in enumerate(pooled)]
    both = jnp.concatenate([p.astype(self.dtype) for p in pooled], axis=-1)
    if count == 2:
      z = jax.nn.sigmoid(Dense(self.dim, name="gate", **kw)(both).astype(jnp.float32))
      z = z.astype(self.dtype)
      return z * h[0] + (1 - z) * h[1]
    logits = Dense(count * self.dim, name="gate", **kw)(both).astype(jnp.float32)
    z = jax.nn.softmax(logits.reshape(-1, count, self.dim), axis=1).astype(self.dtype)
    return (z * jnp.stack(h, axis=1)).sum(axis=1)
