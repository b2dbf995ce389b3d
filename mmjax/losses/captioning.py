"""Teacher-forcing captioning loss and the input shift it expects."""

import jax.numpy as jnp

from mmjax.losses.classification import cross_entropy


def shift_right(captions, bos_id: int):
  """Decoder inputs for teacher forcing: captions [batch, length] (words, <eos>, <pad>...) ->
  [<bos>, captions[:, :-1]], so position t predicts captions[:, t] from the words before it."""
  bos = jnp.full((captions.shape[0], 1), bos_id, captions.dtype)
  return jnp.concatenate([bos, captions[:, :-1]], axis=1)


def caption_loss(logits, targets, mask, label_smoothing: float = 0.0):
  """Token cross-entropy averaged over real tokens only (padding contributes nothing).

  logits: [batch, length, vocab]; targets: int [batch, length]; mask: [batch, length], true/1
  for real tokens (e.g. targets != pad_id). Returns a float32 scalar (0 if the mask is empty).
  """
  nll = cross_entropy(logits, targets, label_smoothing)
  mask = mask.astype(jnp.float32)
  return jnp.sum(nll * mask) / jnp.maximum(jnp.sum(mask), 1.0)
