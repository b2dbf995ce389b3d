"""Weighted-sum fusion: a fixed convex combination of two modalities, or learned softmax weights
over any number (the weighted-average late fusion baseline; e.g. Liang et al. 2021, MultiBench)."""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.transformer import Dense


class WeightedSumFusion(nn.Module):
  """pooled [batch, d_i] per modality -> [batch, d] with d the shared width (or `dim`).

  learned=False: C = alpha * A + (1 - alpha) * B for exactly two modalities, alpha in [0, 1].
  learned=True: C = sum_i w_i x_i with w = softmax(learned logits), over any number.
  Features are projected to `dim` only when their widths differ or `project=True`, so without a
  projection alpha=1 returns modality A's features exactly.
  """
  alpha: float = 0.5
  learned: bool = False
  project: bool = False
  dim: Optional[int] = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    if self.learned:
      count, _ = check_inputs("weighted_sum", pooled, tokens, masks)
    else:
      count, _ = check_inputs("weighted_sum", pooled, tokens, masks, exactly=2,
                              limit_note="a fixed alpha mixes two; use learned=True for more")
      if not 0.0 <= self.alpha <= 1.0:
        raise ValueError(f"weighted_sum: alpha={self.alpha} must lie in [0, 1].")
    widths = [p.shape[-1] for p in pooled]
    if self.project or len(set(widths)) > 1:
      if self.dim is None:
        why = "project=True" if self.project else f"modality widths differ {tuple(widths)}"
        raise ValueError(f"weighted_sum: {why}; set dim to the shared width to project to.")
      kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
      feats = [Dense(self.dim, name=f"proj{i}", **kw)(p) for i, p in enumerate(pooled)]
    else:
      feats = [p.astype(self.dtype) for p in pooled]
    if not self.learned:
      a, b = feats
      return jnp.asarray(self.alpha, self.dtype) * a + jnp.asarray(1 - self.alpha, self.dtype) * b
    # Zero logits start from the plain average; the softmax keeps the weights convex.
    logits = self.param("weight_logits", nn.initializers.zeros, (count,), self.param_dtype)
    w = jax.nn.softmax(logits.astype(jnp.float32)).astype(self.dtype)
    return jnp.einsum("m,mbd->bd", w, jnp.stack(feats))
