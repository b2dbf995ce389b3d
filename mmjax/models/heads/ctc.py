"""CTC output head (Graves et al. 2006): per-frame logits over the vocabulary plus a blank.

Train with `mmjax.losses.ctc.ctc_loss`; decode with `mmjax.models.heads.ctc_decoding`.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.transformer import Dense


class CTCHead(nn.Module):
  """Encoder tokens [batch, frames, dim] -> logits [batch, frames, vocab_size + 1] (float32).

  vocab_size counts the labels without the blank; the blank is class `blank_id` (default 0, as
  optax.ctc_loss), so labels use the other vocab_size class ids.
  """
  vocab_size: int
  blank_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens, train: bool = False):
    if self.vocab_size < 1:
      raise ValueError(f"vocab_size={self.vocab_size}; it must be >= 1 (labels without blank).")
    if not 0 <= self.blank_id <= self.vocab_size:
      raise ValueError(f"blank_id={self.blank_id}; valid: 0..{self.vocab_size} "
                       f"(one of the vocab_size + 1 classes).")
    if tokens.ndim != 3:
      raise ValueError(f"tokens must be [batch, frames, dim]; got shape {tokens.shape}.")
    logits = Dense(self.vocab_size + 1, dtype=self.dtype, param_dtype=self.param_dtype,
                   name="logits")(tokens)
    # The loss takes a log-softmax over these: keep them in float32.
    return logits.astype(jnp.float32)
