"""FiLM: feature-wise linear modulation (Perez et al. 2018, "FiLM: Visual Reasoning with a
General Conditioning Layer")."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.inputs import context_and_other
from mmjax.models.transformer import Dense


class FiLMFusion(nn.Module):
  """pooled [batch, d_i] for exactly two modalities -> [batch, dim] (or [batch, d_target]).

  The modality at `condition_index` predicts (gamma, beta) that modulate the other one:
  out = gamma * h + beta, h = the other modality (projected to `dim` when set). gamma is
  predicted as 1 + delta, so a freshly initialised layer starts near the identity.
  """
  dim: Optional[int] = None
  condition_index: int = 1
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    cond, target = context_and_other("film", pooled, tokens, masks, self.condition_index,
                                     "condition_index", "one modality conditions the other")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = target.astype(self.dtype)
    if self.dim is not None:
      h = Dense(self.dim, name="proj", **kw)(h)
    width = h.shape[-1]
    delta_gamma, beta = jnp.split(Dense(2 * width, name="film", **kw)(cond), 2, axis=-1)
    return (1 + delta_gamma) * h + beta
