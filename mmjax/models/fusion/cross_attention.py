"""Cross-modal attention fusion: one modality's tokens query the others' (the co-attention of
ViLBERT, Lu et al. 2019, and the crossmodal attention of MulT, Tsai et al. 2019)."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.pooling import masked_mean
from mmjax.models.transformer import (Dense, MlpBlock, MultiHeadAttention, attention_bias,
                                      layer_norm)


class CrossAttentionBlock(nn.Module):
  """x + MHA(LN(x), context=LN(context)); x + MLP(LN(x)).

  x: [batch, q, dim]; context: [batch, k, dim]; context_mask: [batch, k] bool -> [batch, q, dim].
  """
  num_heads: int
  mlp_dim: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, context, context_mask):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    bias = attention_bias(context_mask, False, context.shape[1])
    x = x + MultiHeadAttention(self.num_heads, name="attn", **kw)(
        layer_norm(name="ln_q", **kw)(x), context=layer_norm(name="ln_kv", **kw)(context),
        bias=bias)
    return x + MlpBlock(self.mlp_dim, name="mlp", **kw)(layer_norm(name="ln_mlp", **kw)(x))


class CrossAttentionFusion(nn.Module):
  """tokens [batch, n_i, e_i] (+ masks [batch, n_i] bool) per modality -> [batch, dim].

  Every modality's tokens are projected to `dim`. The modality at `query_index` attends over
  the tokens of all other modalities (concatenated; two modalities is the usual case) through
  `depth` cross-attention blocks; its outputs are LayerNormed and mean-pooled over its valid
  tokens. bidirectional=True makes every modality a query in turn (both directions for two);
  the pooled results are concatenated and projected to `dim`.
  """
  dim: int = 256
  depth: int = 1
  num_heads: int = 4
  mlp_dim: Optional[int] = None  # default 4 * dim
  query_index: int = 0
  bidirectional: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled=None, tokens=None, masks=None, train: bool = False):
    count, masks = check_inputs("cross_attention", pooled, tokens, masks, needs_tokens=True,
                                at_least=2, limit_note="a query modality and a context")
    if not 0 <= self.query_index < count:
      raise ValueError(f"cross_attention: query_index={self.query_index}; valid: "
                       f"{', '.join(map(str, range(count)))}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = [Dense(self.dim, name=f"proj{i}", **kw)(t) for i, t in enumerate(tokens)]
    queries = range(count) if self.bidirectional else [self.query_index]
    pooled_out = []
    for q in queries:
      others = [i for i in range(count) if i != q]
      context = jnp.concatenate([x[i] for i in others], axis=1)
      context_mask = jnp.concatenate([masks[i] for i in others], axis=1)
      h = x[q]
      for d in range(self.depth):
        h = CrossAttentionBlock(self.num_heads, self.mlp_dim or 4 * self.dim,
                                name=f"query{q}_block{d}", **kw)(h, context, context_mask)
      h = layer_norm(name=f"query{q}_ln_final", **kw)(h)
      pooled_out.append(masked_mean(h, masks[q]))
    if len(pooled_out) == 1:
      return pooled_out[0]
    return Dense(self.dim, name="out", **kw)(jnp.concatenate(pooled_out, axis=-1))
