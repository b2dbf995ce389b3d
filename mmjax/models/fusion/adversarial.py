"""Adversarial alignment fusion: per-modality features projected to a shared space, made
indistinguishable by a modality discriminator behind a gradient-reversal layer (the domain-
adversarial objective of Ganin & Lempitsky 2015, applied across modalities)."""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmjax.models.fusion.gradient_reversal import gradient_reversal
from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.transformer import Dense, gelu


class AdversarialFusion(nn.Module):
  """pooled [batch, d_i] per modality -> [batch, dim] (combine="mean") or [batch, M * dim]
  (combine="concat").

  a_i = W_i x_i + b_i. A discriminator MLP (Dense(hidden_dim) -> GELU -> Dense(M)) sees every
  gradient_reversal(a_i, reversal_scale) and predicts i; its mean cross-entropy (float32) is sown
  as `losses/adversarial`. Adding that term to the task loss trains the discriminator to
  recognise the modality and, through the reversed gradient, the projections to hide it.
  """
  dim: int = 256
  hidden_dim: Optional[int] = None  # default dim
  reversal_scale: float = 1.0
  combine: str = "mean"
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    count, _ = check_inputs("adversarial", pooled, tokens, masks, at_least=2,
                            limit_note="the discriminator tells modalities apart")
    if self.combine not in ("mean", "concat"):
      raise ValueError(f"adversarial: combine={self.combine!r}; valid: mean, concat.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    aligned = jnp.stack([Dense(self.dim, name=f"proj{i}", **kw)(p) for i, p in enumerate(pooled)])
    # The discriminator sees all M * batch embeddings in one pass.
    h = gradient_reversal(aligned, self.reversal_scale).reshape(-1, self.dim)
    h = Dense(self.hidden_dim or self.dim, name="disc_hidden", activation=gelu, **kw)(h)
    logits = Dense(count, name="disc_out", **kw)(h).astype(jnp.float32)
    labels = jnp.repeat(jnp.arange(count), aligned.shape[1])
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    loss = -jnp.take_along_axis(log_probs, labels[:, None], axis=-1).mean()
    self.sow("losses", "adversarial", loss)
    if self.combine == "mean":
      return aligned.mean(axis=0)
    return jnp.concatenate(list(aligned), axis=-1)
