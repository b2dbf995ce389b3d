"""Low-rank Multimodal Fusion (Liu et al. 2018, "Efficient Low-rank Multimodal Fusion with
Modality-Specific Factors"): TFN with its weight tensor in rank-`rank` CP form."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models import matmul
from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.fusion.tensor import append_one


class LowRankTensorFusion(nn.Module):
  """pooled [batch, d_i] per modality -> [batch, dim].

  out = sum_r lambda_r prod_i ([x_i; 1] @ factor_i[r]) + bias, with factor_i [rank, d_i + 1, dim].
  Equal to TFN with weight W = sum_r lambda_r factor_1[r] (x) ... (x) factor_M[r], at a cost
  linear (not exponential) in the number of modalities.
  """
  dim: int = 256
  rank: int = 4
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    check_inputs("low_rank_tensor", pooled, tokens, masks)
    if self.rank < 1:
      raise ValueError(f"low_rank_tensor: rank={self.rank} must be >= 1.")
    prod = None
    for i, p in enumerate(pooled):
      x = append_one(p.astype(self.dtype))
      factor = self.param(f"factor{i}", nn.initializers.xavier_normal(batch_axis=0),
                          (self.rank, x.shape[-1], self.dim), self.param_dtype)
      f = matmul.einsum("bd,rdo->bro", x, factor, self.dtype)
      prod = f if prod is None else prod * f
    # Weights start at 1/rank so the output scale does not grow with the rank.
    weights = self.param("rank_weights", nn.initializers.constant(1.0 / self.rank), (self.rank,),
                         self.param_dtype)
    bias = self.param("bias", nn.initializers.zeros, (self.dim,), self.param_dtype)
    out = matmul.einsum("bro,r->bo", prod, weights, self.dtype, out_dtype=jnp.float32)
    return (out + bias.astype(jnp.float32)).astype(self.dtype)
