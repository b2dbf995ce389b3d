"""Recurrent text encoders: stacked, optionally bidirectional GRU (Cho et al. 2014) or LSTM
(Hochreiter & Schmidhuber 1997; bidirectional: Schuster & Paliwal 1997)."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.hooks import feature_hook

CELLS = ("gru", "lstm")


class RNNEncoder(nn.Module):
  """tokens [batch, length] int -> (pooled [batch, d], tokens [batch, length, d]), with
  d = hidden, or 2 * hidden when bidirectional (forward and backward concatenated).

  Token embeddings of size `width` run through `num_layers` recurrent layers, each reading the
  previous layer's outputs. Padding (pad_id, after the text) is skipped through `seq_lengths`:
  the forward pass stops at each sequence's last real token and the backward pass starts there.
  pooled = the final hidden state of the last layer (of both directions when bidirectional; the
  backward direction's final state is at the first token). tokens = per-step outputs of the last
  layer, zero at padding.
  """
  vocab_size: int = 8192
  width: int = 256
  hidden: int = 256
  num_layers: int = 1
  bidirectional: bool = False
  cell: str = "gru"
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def _rnn(self, name):
    # The cell holds the parameters (the RNN wrapper has none), so naming the cell names them:
    # params/layer0, or params/layer0_fwd and params/layer0_bwd.
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype, name=name)
    if self.cell == "gru":
      cell = nn.GRUCell(self.hidden, **kw)
    else:
      cell = nn.OptimizedLSTMCell(self.hidden, **kw)
    return nn.RNN(cell, return_carry=True)

  @nn.compact
  def __call__(self, tokens, train: bool = False):
    if self.cell not in CELLS:
      raise ValueError(f"cell={self.cell!r}; valid: {', '.join(CELLS)}.")
    if self.num_layers < 1:
      raise ValueError(f"num_layers={self.num_layers}; it must be at least 1.")
    embed = self.param("token_embedding", nn.initializers.normal(0.02),
                       (self.vocab_size, self.width), self.param_dtype)
    mask = tokens != self.pad_id
    lengths = mask.sum(axis=1).astype(jnp.int32)
    x = feature_hook(self, "token_embeddings", jnp.take(embed, tokens, axis=0).astype(self.dtype))
    for i in range(self.num_layers):
      if self.bidirectional:
        layer = nn.Bidirectional(self._rnn(f"layer{i}_fwd"), self._rnn(f"layer{i}_bwd"),
                                 return_carry=True)
      else:
        layer = self._rnn(f"layer{i}")
      carry, x = layer(x, seq_lengths=lengths)
      # flax leaves outputs at padded steps as whatever the cell computed there; zero them so the
      # next layer and the caller only ever see real tokens.
      x = jnp.where(mask[..., None], x, 0).astype(self.dtype)
    final = carry if self.bidirectional else (carry,)
    # An LSTM carry is (cell state c, hidden state h); the hidden state is the output.
    final = [c[1] if self.cell == "lstm" else c for c in final]
    pooled = jnp.concatenate(final, axis=-1)
    # An all-padding row has no final state (flax would pick the state after the last padding).
    pooled = jnp.where(lengths[:, None] > 0, pooled, 0).astype(self.dtype)
    return pooled, x


class GRUEncoder(RNNEncoder):
  """`RNNEncoder` with cell="gru" (registered as "gru")."""
  cell: str = "gru"


class LSTMEncoder(RNNEncoder):
  """`RNNEncoder` with cell="lstm" (registered as "lstm")."""
  cell: str = "lstm"
