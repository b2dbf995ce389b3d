"""Transformer caption decoder (Vaswani et al. 2017), pre-LN, with a KV cache for decoding.

Teacher forcing runs all positions at once under a causal mask. Incremental decoding (`step`)
feeds one token per call and keeps each layer's past keys/values in an explicit state pytree, so
the decoding loops in `decoding.py` can tile it per beam and reorder it like any other state.
Both modes run the same block code; cross-attention keys/values of the encoder tokens are
computed once per caption (`init_state`), not once per generated token.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmjax.models import matmul
from mmjax.models.transformer import (Dense, MlpBlock, attention_bias, attention_weights,
                                      dot_product_attention, layer_norm, split_heads)

Dtype = Any


class DecoderBlock(nn.Module):
  """x + SelfAttn(LN(x)) [causal]; x + CrossAttn(LN(x), encoder); x + MLP(LN(x)).

  x: [batch, q_len, width]. With `cache` (keys, values [batch, heads, max_len, head_dim]) and
  `index` (the position of x's single token), the new key/value is written at `index` and the
  query attends to positions <= index; otherwise x is the whole sequence. Applied with
  "intermediates" mutable, it sows its cross-attention probabilities float32 [batch, heads,
  q_len, encoder tokens] as "attention_weights".
  """
  width: int
  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def setup(self):
    if self.width % self.num_heads:
      raise ValueError(f"width {self.width} is not divisible by num_heads {self.num_heads}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.ln1, self.ln2, self.ln3 = (layer_norm(**kw) for _ in range(3))
    self.qkv = Dense(3 * self.width, **kw)
    self.self_out = Dense(self.width, **kw)
    self.cross_q = Dense(self.width, **kw)
    self.cross_kv_proj = Dense(2 * self.width, **kw)
    self.cross_out = Dense(self.width, **kw)
    self.mlp = MlpBlock(self.mlp_dim, **kw)
    self.drop = nn.Dropout(self.dropout)

  def _heads(self, t, n):
    """[batch, tokens, n * width] -> n arrays [batch, heads, tokens, head_dim]."""
    return split_heads(t, n, self.num_heads)

  def _merge(self, t):
    b, _, length, _ = t.shape
    return t.transpose(0, 2, 1, 3).reshape(b, length, self.width)

  def cross_kv(self, encoded):
    """encoded [batch, n, enc_dim] -> (keys, values), each [batch, heads, n, head_dim]."""
    return self._heads(self.cross_kv_proj(encoded), 2)

  def __call__(self, x, cross, cross_bias, cache=None, index=None, train: bool = False):
    drop = lambda t: self.drop(t, deterministic=not train)
    q, k, v = self._heads(self.qkv(self.ln1(x)), 3)
    if cache is None:
      bias = attention_bias(None, True, x.shape[1])
    else:
      k = jax.lax.dynamic_update_slice_in_dim(cache[0], k.astype(cache[0].dtype), index, axis=2)
      v = jax.lax.dynamic_update_slice_in_dim(cache[1], v.astype(cache[1].dtype), index, axis=2)
      cache = (k, v)
      # Slots after `index` are still zeros: mask them out.
      bias = jnp.where(jnp.arange(k.shape[2]) <= index, 0.0, -1e9)[None, None, None, :]
    x = x + drop(self.self_out(self._merge(dot_product_attention(q, k, v, bias, self.dtype))))
    (q,) = self._heads(self.cross_q(self.ln2(x)), 1)
    if self.is_mutable_collection("intermediates"):
      # Where each position looks in the encoder's tokens (mmjax/interpret/captions.py), as
      # MultiHeadAttention sows its own: only when asked, by the einsum path.
      weights = attention_weights(q, cross[0], cross_bias, self.dtype)
      self.sow("intermediates", "attention_weights", weights)
      attended = matmul.einsum("bhqk,bhkd->bhqd", weights, cross[1], self.dtype)
    else:
      attended = dot_product_attention(q, *cross, cross_bias, self.dtype)
    x = x + drop(self.cross_out(self._merge(attended)))
    x = x + drop(self.mlp(self.ln3(x)))
    return x, cache


class TransformerDecoder(nn.Module):
  """Caption decoder: tokens_in [batch, length] (teacher forcing: <bos> + caption[:-1]) attending
  to encoder tokens [batch, n, enc_dim] (or pooled [batch, enc_dim], one token) with padding mask
  enc_mask [batch, n] (True = real token) -> logits [batch, length, vocab] float32.

  Decoding: `state = init_state(encoded, enc_mask)`, then `step(tokens_t [batch], state) ->
  (logits [batch, vocab], state)` up to `max_len` times (see `decoding.py`).
  """
  vocab_size: int = 8192
  max_len: int = 32
  width: int = 256
  depth: int = 4
  num_heads: int = 4
  mlp_dim: int = 1024
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def setup(self):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.token_embedding = self.param("token_embedding", nn.initializers.normal(0.02),
                                      (self.vocab_size, self.width), self.param_dtype)
    self.pos_embedding = self.param("pos_embedding", nn.initializers.normal(0.01),
                                    (self.max_len, self.width), self.param_dtype)
    self.blocks = [DecoderBlock(self.width, self.num_heads, self.mlp_dim, self.dropout, **kw)
                   for _ in range(self.depth)]
    self.ln_final = layer_norm(**kw)
    self.logits = Dense(self.vocab_size, **kw)
    self.drop = nn.Dropout(self.dropout)

  def _encoder_memory(self, encoded, enc_mask):
    """Per-layer cross-attention (keys, values) and the padding bias [batch, 1, 1, n]."""
    if encoded.ndim == 2:  # pooled features: a single encoder token
      encoded = encoded[:, None]
      enc_mask = None if enc_mask is None else enc_mask.reshape(-1, 1)
    if encoded.ndim != 3:
      raise ValueError(f"encoded has shape {encoded.shape}; valid: [batch, n, dim] tokens or "
                       "[batch, dim] pooled features.")
    if enc_mask is not None and enc_mask.shape != encoded.shape[:2]:
      raise ValueError(f"enc_mask shape {enc_mask.shape} != encoded tokens {encoded.shape[:2]}.")
    bias = attention_bias(enc_mask, False, encoded.shape[1])
    return [blk.cross_kv(encoded.astype(self.dtype)) for blk in self.blocks], bias

  def _logits(self, x):
    return self.logits(self.ln_final(x)).astype(jnp.float32)

  def __call__(self, tokens_in, encoded, enc_mask=None, train: bool = False):
    length = tokens_in.shape[1]
    if length > self.max_len:
      raise ValueError(f"caption length {length} exceeds max_len {self.max_len}.")
    cross, cross_bias = self._encoder_memory(encoded, enc_mask)
    x = jnp.take(self.token_embedding, tokens_in, axis=0) + self.pos_embedding[:length]
    x = self.drop(x.astype(self.dtype), deterministic=not train)
    for blk, kv in zip(self.blocks, cross):
      x, _ = blk(x, kv, cross_bias, train=train)
    return self._logits(x)

  def init_state(self, encoded, enc_mask=None):
    """Decoding state: empty self-attention caches [batch, heads, max_len, head_dim] per layer,
    the encoder's cross-attention keys/values, and the next position (a shared scalar)."""
    cross, cross_bias = self._encoder_memory(encoded, enc_mask)
    shape = (encoded.shape[0], self.num_heads, self.max_len, self.width // self.num_heads)
    empty = [(jnp.zeros(shape, self.dtype), jnp.zeros(shape, self.dtype)) for _ in self.blocks]
    return dict(index=jnp.int32(0), cache=empty, cross=cross, cross_bias=cross_bias)

  def step(self, tokens_t, state):
    """tokens_t [batch] at position state["index"] -> (logits [batch, vocab], next state).
    Positions beyond max_len - 1 are invalid (the cache has max_len slots)."""
    i = state["index"]
    pos = jax.lax.dynamic_slice_in_dim(self.pos_embedding, i, 1)
    x = (jnp.take(self.token_embedding, tokens_t, axis=0)[:, None] + pos).astype(self.dtype)
    caches = []
    for blk, cache, kv in zip(self.blocks, state["cache"], state["cross"]):
      x, cache = blk(x, kv, state["cross_bias"], cache=cache, index=i)
      caches.append(cache)
    return self._logits(x)[:, 0], dict(state, index=i + 1, cache=caches)
