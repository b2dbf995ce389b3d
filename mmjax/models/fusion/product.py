"""Element-wise product fusion: project every modality to one width and multiply (the Hadamard
fusion of the VQA baseline, Antol et al. 2015, "VQA: Visual Question Answering").

Not multiplicative.py, whose context modality generates a whole affine map: for two modalities
this is that fusion's `vector` mode with U = 0 and b = 0 (gate W z + V from z = x_0, applied to
the projected x_1)."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.transformer import Dense


class ProductFusion(nn.Module):
  """pooled [batch, d_i] per modality -> prod_i (W_i x_i + b_i), element-wise, [batch, dim]. Any
  number of modalities."""
  dim: int = 256
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    check_inputs("product", pooled, tokens, masks)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    out = Dense(self.dim, name="proj0", **kw)(pooled[0])
    for i, p in enumerate(pooled[1:], start=1):
      out = out * Dense(self.dim, name=f"proj{i}", **kw)(p)
    return out
