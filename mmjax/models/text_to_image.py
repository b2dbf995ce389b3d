"""Text-to-image model: a text encoder (TEXT_ENCODERS) trained jointly with a text-conditioned
generator (GENERATORS, e.g. the diffusion U-Net), each chosen by name. This is Imagen's recipe
(Saharia et al. 2022) with the text encoder learnt from scratch instead of frozen: the caption's
pooled embedding, and optionally its tokens for cross-attention, condition the denoiser."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax import models

CONDITIONS = ("pooled", "tokens")


class TextToImage(nn.Module):
  """(x_t [batch, h, w, c], t [batch] or [], tokens [batch, length] int) -> ε̂ [batch, h, w, c]
  float32.

  condition: "pooled" (the text encoder's pooled feature modulates every block) or "tokens"
  (also cross-attention to the per-token features, padding masked). `drop` [batch] bool and
  train=True (with the "dropout" rng) replace the condition by the generator's learnt null
  condition, as classifier-free guidance needs. Training: `losses/diffusion.py`'s
  `diffusion_loss`; sampling: `heads/diffusion.py`'s `sample` (both take `apply_fn(params, x_t,
  t, tokens, **kwargs)`). The model a config section describes:
  `mmjax.tasks.translation.build_text_to_image`.
  """
  text_encoder: str = "bag_of_words"
  text: Optional[dict] = None  # kwargs of the text encoder
  generator: str = "diffusion"
  generator_options: Optional[dict] = None  # kwargs of the generator
  condition: str = "pooled"
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    if self.condition not in CONDITIONS:
      raise ValueError(f"condition={self.condition!r}; valid: {', '.join(CONDITIONS)}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.encoder = models.TEXT_ENCODERS.build(self.text_encoder, **dict(self.text or {}), **kw)
    self.denoiser = models.GENERATORS.build(self.generator, **dict(self.generator_options or {}),
                                            **kw)

  def __call__(self, x, t, tokens, drop=None, train: bool = False):
    pooled, token_features = self.encoder(tokens, train=train)
    cond = {"pooled": pooled}
    if self.condition == "tokens":
      cond.update(tokens=token_features, mask=tokens != self.pad_id)
    return self.denoiser(x, t, cond, drop=drop, train=train)
