"""Multimodal Bottleneck Transformer fusion (Nagrani et al. 2021, "Attention Bottlenecks for
Multimodal Fusion"): modalities exchange information only through a few shared tokens."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.pooling import masked_mean
from mmjax.models.transformer import Dense, EncoderBlock, attention_bias, layer_norm


class BottleneckFusion(nn.Module):
  """tokens [batch, n_i, e_i] (+ masks [batch, n_i] bool) per modality -> [batch, dim].

  Each modality's tokens are projected to `dim` (pool="cls" prepends a learned class token) and
  run through its own pre-LN blocks. Blocks fusion_layer..depth-1 append `num_bottlenecks`
  shared tokens to every modality's sequence ([its tokens; bottlenecks], padding masked); each
  modality updates its own copy and the next bottlenecks are the mean of those copies, so
  cross-modal information flows only through them. Output: the mean over modalities of the
  class token (pool="cls") or the masked token mean (pool="mean"), after a final LayerNorm.
  fusion_layer=0 fuses from the first block; fusion_layer=depth never fuses (late fusion).
  share_weights=True uses one set of blocks for all modalities (MBT's `share_encoder`).
  """
  dim: int = 256
  depth: int = 4
  fusion_layer: int = 2
  num_bottlenecks: int = 4
  num_heads: int = 4
  mlp_dim: Optional[int] = None  # default 4 * dim
  pool: str = "mean"
  share_weights: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled=None, tokens=None, masks=None, train: bool = False):
    count, masks = check_inputs("bottleneck", pooled, tokens, masks, needs_tokens=True)
    if not 0 <= self.fusion_layer <= self.depth:
      raise ValueError(f"bottleneck: fusion_layer={self.fusion_layer} must lie in "
                       f"[0, depth={self.depth}].")
    if self.num_bottlenecks < 1:
      raise ValueError(f"bottleneck: num_bottlenecks={self.num_bottlenecks} must be >= 1.")
    if self.pool not in ("cls", "mean"):
      raise ValueError(f"bottleneck: pool={self.pool!r}; valid: cls, mean.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    batch = tokens[0].shape[0]
    x = [Dense(self.dim, name=f"proj{i}", **kw)(t) for i, t in enumerate(tokens)]
    if self.pool == "cls":
      for i in range(count):
        cls = self.param(f"cls{i}", nn.initializers.normal(0.02), (1, 1, self.dim),
                         self.param_dtype)
        x[i] = jnp.concatenate([jnp.broadcast_to(cls.astype(self.dtype), (batch, 1, self.dim)),
                                x[i]], axis=1)
        masks[i] = jnp.concatenate([jnp.ones((batch, 1), bool), masks[i]], axis=1)
    bottleneck = self.param("bottleneck", nn.initializers.normal(0.02),
                            (1, self.num_bottlenecks, self.dim), self.param_dtype)
    bottleneck = jnp.broadcast_to(bottleneck.astype(self.dtype),
                                  (batch, self.num_bottlenecks, self.dim))
    with_bottleneck = [jnp.concatenate([m, jnp.ones((batch, self.num_bottlenecks), bool)], 1)
                       for m in masks]
    mlp_dim = self.mlp_dim or 4 * self.dim
    for layer in range(self.depth):
      if self.share_weights:
        blocks = [EncoderBlock(self.num_heads, mlp_dim, name=f"block{layer}", **kw)] * count
      else:
        blocks = [EncoderBlock(self.num_heads, mlp_dim, name=f"block{layer}_modality{i}", **kw)
                  for i in range(count)]
      if layer < self.fusion_layer:
        x = [blk(h, attention_bias(m, False, h.shape[1])) for blk, h, m in zip(blocks, x, masks)]
        continue
      updates = []
      for i, (blk, m) in enumerate(zip(blocks, with_bottleneck)):
        n = x[i].shape[1]
        h = blk(jnp.concatenate([x[i], bottleneck], axis=1), attention_bias(m, False, m.shape[1]))
        x[i] = h[:, :n]
        updates.append(h[:, n:])
      bottleneck = sum(updates[1:], updates[0]) / jnp.asarray(count, self.dtype)
    norm = layer_norm(name="ln_final", **kw)
    outs = [norm(h)[:, 0] if self.pool == "cls" else masked_mean(norm(h), m)
            for h, m in zip(x, masks)]
    return sum(outs[1:], outs[0]) / jnp.asarray(count, self.dtype)
