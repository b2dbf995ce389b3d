"""LSTM caption decoder, Show and Tell (Vinyals et al. 2015)."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmjax.models.pooling import masked_mean
from mmjax.models.transformer import Dense

Dtype = Any


class LSTMCell(nn.Module):
  """One LSTM step. carry (h, c) [batch, hidden] float32, x [batch, in] -> (carry, h).

  The four gates are one Dense on [x, h] (in `dtype`); the cell state stays float32 so long
  captions do not accumulate bfloat16 rounding. The forget gate is biased by +1 (Jozefowicz et
  al. 2015) so early in training the cell remembers rather than forgets.
  """
  hidden: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry, x):
    h, c = carry
    gates = Dense(4 * self.hidden, name="gates", dtype=self.dtype, param_dtype=self.param_dtype)(
        jnp.concatenate([x.astype(self.dtype), h.astype(self.dtype)], axis=-1))
    i, f, g, o = jnp.split(gates.astype(jnp.float32), 4, axis=-1)
    c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h


class LSTMDecoder(nn.Module):
  """Caption decoder: tokens_in [batch, length] (<bos> + caption[:-1]) conditioned on the image
  -> logits [batch, length, vocab] float32.

  The image is encoder tokens [batch, n, dim] (mean over enc_mask's real tokens) or pooled
  features [batch, dim]. image_as: "input" (Show and Tell: the projected image is the LSTM's
  first input, from a zero state; its output is dropped) or "state" (h0, c0 projected from the
  image, as Show, Attend and Tell initialises).

  Decoding: `state = init_state(encoded, enc_mask)` ({"h", "c"} [batch, hidden]), then
  `step(tokens_t [batch], state) -> (logits [batch, vocab], state)` (see `decoding.py`).
  """
  vocab_size: int = 8192
  embed_dim: int = 256
  hidden: int = 512
  image_as: str = "input"
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def setup(self):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    if self.image_as == "input":
      self.image_proj = Dense(self.embed_dim, **kw)
    elif self.image_as == "state":
      self.image_proj = Dense(2 * self.hidden, **kw)
    else:
      raise ValueError(f"image_as={self.image_as!r}; valid: input, state.")
    self.token_embedding = self.param("token_embedding", nn.initializers.normal(0.02),
                                      (self.vocab_size, self.embed_dim), self.param_dtype)
    self.cell = LSTMCell(self.hidden, **kw)
    self.logits = Dense(self.vocab_size, **kw)
    self.drop = nn.Dropout(self.dropout)

  def init_state(self, encoded, enc_mask=None):
    """The LSTM state {"h", "c"} [batch, hidden] float32 before the first word."""
    if encoded.ndim == 3:
      feat = masked_mean(encoded.astype(jnp.float32), enc_mask)
    elif encoded.ndim == 2:
      feat = encoded
    else:
      raise ValueError(f"encoded has shape {encoded.shape}; valid: [batch, n, dim] tokens or "
                       "[batch, dim] pooled features.")
    img = self.image_proj(feat.astype(self.dtype)).astype(jnp.float32)
    if self.image_as == "state":
      h, c = jnp.split(img, 2, axis=-1)
      return dict(h=jnp.tanh(h), c=c)
    zero = jnp.zeros((feat.shape[0], self.hidden), jnp.float32)
    (h, c), _ = self.cell((zero, zero), img)
    return dict(h=h, c=c)

  def step(self, tokens_t, state):
    """tokens_t [batch] -> (logits [batch, vocab], next state)."""
    x = jnp.take(self.token_embedding, tokens_t, axis=0)
    (h, c), out = self.cell((state["h"], state["c"]), x)
    return self.logits(out.astype(self.dtype)).astype(jnp.float32), dict(h=h, c=c)

  def __call__(self, tokens_in, encoded, enc_mask=None, train: bool = False):
    state = self.init_state(encoded, enc_mask)
    x = self.drop(jnp.take(self.token_embedding, tokens_in, axis=0), deterministic=not train)
    # One compiled cell for all positions; the same parameters `step` uses.
    scan = nn.scan(lambda cell, carry, xt: cell(carry, xt), variable_broadcast="params",
                   split_rngs={"params": False}, in_axes=1, out_axes=1)
    _, out = scan(self.cell, (state["h"], state["c"]), x)
    out = self.drop(out.astype(self.dtype), deterministic=not train)
    return self.logits(out).astype(jnp.float32)
