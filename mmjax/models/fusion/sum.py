"""Element-wise sum fusion: project every modality to one width and add (the additive
counterpart of product.py; weighted_sum.py mixes the modalities with convex weights)."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.transformer import Dense


class SumFusion(nn.Module):
  """pooled [batch, d_i] per modality -> sum_i W_i x_i + b_i, [batch, dim]. Any number of
  modalities."""
  dim: int = 256
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    check_inputs("sum", pooled, tokens, masks)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    projected = [Dense(self.dim, name=f"proj{i}", **kw)(p) for i, p in enumerate(pooled)]
    return sum(projected[1:], projected[0])
