"""Tensor Fusion Network (Zadeh et al. 2017, "Tensor Fusion Network for Multimodal Sentiment
Analysis"): every multiplicative interaction between modalities, up to M-way."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.transformer import Dense


def append_one(x):
  """[batch, d] -> [batch, d + 1] with a trailing 1, so the outer product keeps every lower-order
  (unimodal, bimodal, ...) term next to the M-way one."""
  return jnp.concatenate([x, jnp.ones(x.shape[:-1] + (1,), x.dtype)], axis=-1)


def outer_product(feats) -> jnp.ndarray:
  """[batch, d_1], ..., [batch, d_M] -> the flattened outer product [batch, prod_i d_i]
  (row-major: the last modality varies fastest)."""
  z = feats[0]
  for f in feats[1:]:
    z = (z[:, :, None] * f[:, None, :]).reshape(z.shape[0], -1)
  return z


class TensorFusion(nn.Module):
  """pooled [batch, d_i] per modality -> Dense(flatten([x_1; 1] (x) ... (x) [x_M; 1])):
  [batch, dim].

  The fused tensor has prod_i (d_i + 1) entries; `input_dim` first projects each modality to that
  width (TFN's small modality subnetworks) to keep it tractable for wide encoders.
  """
  dim: int = 256
  input_dim: Optional[int] = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    check_inputs("tensor", pooled, tokens, masks)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    feats = [p.astype(self.dtype) for p in pooled]
    if self.input_dim is not None:
      feats = [Dense(self.input_dim, name=f"proj{i}", **kw)(f) for i, f in enumerate(feats)]
    z = outer_product([append_one(f) for f in feats])
    return Dense(self.dim, name="out", **kw)(z)
