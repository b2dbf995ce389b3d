"""Late fusion by concatenating pooled features (MultiBench's `Concat`, Liang et al. 2021)."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.transformer import Dense


class ConcatLateFusion(nn.Module):
  """pooled [batch, d_i] per modality -> [batch, sum_i d_i], or [batch, dim] when `dim` is set
  (one Dense over the concatenation). Any number of modalities."""
  dim: Optional[int] = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    check_inputs("concat_late", pooled, tokens, masks)
    x = jnp.concatenate([p.astype(self.dtype) for p in pooled], axis=-1)
    if self.dim is None:
      return x
    return Dense(self.dim, dtype=self.dtype, param_dtype=self.param_dtype, name="proj")(x)
