"""Transformer text encoder: BERT-style (bidirectional) or CLIP-style (causal)."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.transformer import Encoder, attention_bias, layer_norm


class TextTransformer(nn.Module):
  """tokens [batch, length] int (pad_id = padding) -> (pooled [batch, width],
  tokens [batch, length, width]).

  pool: "last" (the last non-padding token, i.e. EOS: CLIP), "first" (a leading [CLS]: BERT) or
  "mean" (over non-padding tokens). Padding never affects other tokens or the pooled output.
  """
  vocab_size: int = 8192
  max_len: int = 32
  width: int = 256
  depth: int = 6
  num_heads: int = 4
  mlp_dim: int = 1024
  causal: bool = True
  pool: str = "last"
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens, train: bool = False):
    b, length = tokens.shape
    if length > self.max_len:
      raise ValueError(f"text length {length} exceeds max_len {self.max_len}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    mask = tokens != self.pad_id
    embed = self.param("token_embedding", nn.initializers.normal(0.02),
                       (self.vocab_size, self.width), self.param_dtype)
    pos = self.param("pos_embedding", nn.initializers.normal(0.01),
                     (self.max_len, self.width), self.param_dtype)
    x = (jnp.take(embed, tokens, axis=0) + pos[:length]).astype(self.dtype)
    bias = attention_bias(mask, self.causal, length)
    x = Encoder(self.depth, self.num_heads, self.mlp_dim, name="encoder", **kw)(x, bias)
    x = layer_norm(name="ln_final", **kw)(x)
    if self.pool == "last":
      last = jnp.maximum(mask.sum(axis=1) - 1, 0)
      pooled = jnp.take_along_axis(x, last[:, None, None], axis=1)[:, 0]
    elif self.pool == "first":
      pooled = x[:, 0]
    elif self.pool == "mean":
      m = mask[..., None].astype(x.dtype)
      pooled = (x * m).sum(1) / jnp.maximum(m.sum(1), 1)
    else:
      raise ValueError(f"pool={self.pool!r}; valid: last, first, mean.")
    return pooled, x
