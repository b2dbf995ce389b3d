"""FiLM: feature-wise linear modulation (Perez et al. 2018, "FiLM: Visual Reasoning with a
General Conditioning Layer")."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
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
    check_inputs("film", pooled, tokens, masks, exactly=2,
                 limit_note="one modality conditions the other")
    if self.condition_index not in (0, 1):
      raise ValueError(f"film: condition_index={self.condition_index}; valid: 0, 1.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    cond, target = pooled[self.condition_index], pooled[1 - self.condition_index]
    h = target.astype(self.dtype)
    if self.dim is not None:
      h = Dense(self.dim, name="proj", **kw)(h)
    width = h.shape[-1]
    delta_gamma, beta = jnp.split(Dense(2 * width, name="film", **kw)(cond), 2, axis=-1)
    return (1 + delta_gamma) * h + beta
