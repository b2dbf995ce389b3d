"""Cross-modal attention between two modalities' segments (MulT's crossmodal attention, Tsai et
al. 2019; AVE's audio-guided visual attention, Tian et al. 2018, is one of its directions)."""

from typing import Any, ClassVar, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.cross_attention import CrossAttentionBlock
from mmjax.models.temporal_fusion.concat import check_segments
from mmjax.models.transformer import Dense, layer_norm


class CrossAttentionTemporal(nn.Module):
  """segments [batch, S, e_i] of exactly two modalities -> [batch, S, dim].

  Each modality's segments are projected to `dim` with a learned position per segment (so a
  segment can find its counterpart in time); each modality's segments then attend over the
  other's through `depth` cross-attention blocks (both directions); each segment's two outputs
  are concatenated, projected to `dim` and LayerNormed.
  """
  counts: ClassVar[Optional[tuple]] = (2,)
  dim: int = 64
  depth: int = 1
  num_heads: int = 4
  mlp_dim: Optional[int] = None  # default 4 * dim
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, segments, train: bool = False):
    b, s = check_segments("cross_attention", segments, self.counts)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = []
    for i, t in enumerate(segments):
      pos = self.param(f"pos_embedding{i}", nn.initializers.normal(0.02), (s, self.dim),
                       self.param_dtype)
      x.append(Dense(self.dim, name=f"proj{i}", **kw)(t) + pos.astype(self.dtype))
    mask = jnp.ones((b, s), bool)
    out = []
    for q in (0, 1):
      h = x[q]
      for d in range(self.depth):
        h = CrossAttentionBlock(self.num_heads, self.mlp_dim or 4 * self.dim,
                                name=f"query{q}_block{d}", **kw)(h, x[1 - q], mask)
      out.append(h)
    return layer_norm(name="ln_out", **kw)(
        Dense(self.dim, name="out", **kw)(jnp.concatenate(out, axis=-1)))
