"""Transformer text encoder: CLIP-style (causal, pre-LN; Radford et al. 2021) or BERT-style
(bidirectional, post-LN, token types, embedding LayerNorm; Devlin et al. 2019)."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.hooks import feature_hook
from mmjax.models.pooling import masked_mean
from mmjax.models.transformer import NORM_POSITIONS, Encoder, attention_bias, layer_norm


class TextTransformer(nn.Module):
  """tokens [batch, length] int (pad_id = padding) -> (pooled [batch, width],
  tokens [batch, length, width]).

  pool: "last" (the last non-padding token, i.e. EOS: CLIP), "first" (a leading [CLS]: BERT) or
  "mean" (over non-padding tokens). Padding never affects other tokens or the pooled output
  (padding must come after the text).

  BERT options (the defaults give the CLIP-style encoder): norm_position "post" (then the last
  block's LayerNorm is the final norm, so there is no `ln_final`), `ln_eps`, `type_vocab_size`
  > 0 adds token-type (segment) embeddings, selected by `token_types` [batch, length] (default
  all 0), and `embed_norm` a LayerNorm on the summed embeddings. `pretrained.load_hf_bert` gives
  the settings and weights of a HuggingFace BERT.
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
  norm_position: str = "pre"
  ln_eps: float = 1e-5
  type_vocab_size: int = 0
  embed_norm: bool = False
  # Attention implementation, remat policy and nn.scan over layers: see transformer.Encoder.
  attention: str = "auto"
  remat: str = "none"
  scan: bool = False

  @nn.compact
  def __call__(self, tokens, train: bool = False, token_types: Optional[Any] = None):
    b, length = tokens.shape
    if length > self.max_len:
      raise ValueError(f"text length {length} exceeds max_len {self.max_len}.")
    if self.pool not in ("last", "first", "mean"):
      raise ValueError(f"pool={self.pool!r}; valid: last, first, mean.")
    if self.norm_position not in NORM_POSITIONS:
      raise ValueError(f"norm_position={self.norm_position!r}; valid: {', '.join(NORM_POSITIONS)}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    mask = tokens != self.pad_id
    embed = self.param("token_embedding", nn.initializers.normal(0.02),
                       (self.vocab_size, self.width), self.param_dtype)
    pos = self.param("pos_embedding", nn.initializers.normal(0.01),
                     (self.max_len, self.width), self.param_dtype)
    x = feature_hook(self, "token_embeddings", jnp.take(embed, tokens, axis=0)) + pos[:length]
    if self.type_vocab_size:
      types = self.param("type_embedding", nn.initializers.normal(0.02),
                         (self.type_vocab_size, self.width), self.param_dtype)
      token_types = jnp.zeros_like(tokens) if token_types is None else token_types
      x = x + jnp.take(types, token_types, axis=0)
    elif token_types is not None:
      raise ValueError("token_types given but type_vocab_size=0; set type_vocab_size > 0.")
    x = x.astype(self.dtype)
    if self.embed_norm:
      x = layer_norm(name="embed_ln", eps=self.ln_eps, **kw)(x)
    bias = attention_bias(mask, self.causal, length)
    x = Encoder(self.depth, self.num_heads, self.mlp_dim, name="encoder",
                norm_position=self.norm_position, ln_eps=self.ln_eps,
                attention=self.attention, remat=self.remat, scan=self.scan, **kw)(x, bias)
    if self.norm_position == "pre":
      x = layer_norm(name="ln_final", eps=self.ln_eps, **kw)(x)
    if self.pool == "last":
      last = jnp.maximum(mask.sum(axis=1) - 1, 0)
      pooled = jnp.take_along_axis(x, last[:, None, None], axis=1)[:, 0]
    elif self.pool == "first":
      pooled = x[:, 0]
    else:
      pooled = masked_mean(x, mask)
    return pooled, x
