"""CLIP-style two-tower model: an image encoder and a text encoder, each chosen by name, each
followed by a linear projection to a shared embedding space (Radford et al. 2021)."""

import math
from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax import models
from mmjax.models.transformer import Dense


def l2_normalize(x, eps=1e-6):
  x = x.astype(jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


class TwoTower(nn.Module):
  """images [batch, h, w, c] and/or tokens [batch, length] ->
  (img_emb [batch, embed_dim] or None, txt_emb [batch, embed_dim] or None, extras).

  Embeddings are L2-normalised float32. extras holds the contrastive scalars `logit_scale`
  (log of the temperature's inverse, open_clip init log(1/0.07)) and `logit_bias` (SigLIP), and
  the towers' named intermediates (`img/pooled`, `img/tokens`, `txt/pooled`, `txt/tokens`).
  """
  image_encoder: str = "vit"
  image: Optional[dict] = None  # kwargs of the image encoder
  text_encoder: str = "transformer"
  text: Optional[dict] = None   # kwargs of the text encoder
  embed_dim: int = 256
  logit_scale_init: float = math.log(1 / 0.07)
  logit_bias_init: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.img_tower = models.IMAGE_ENCODERS.build(
        self.image_encoder, "model.image_encoder", **dict(self.image or {}), **kw)
    self.txt_tower = models.TEXT_ENCODERS.build(
        self.text_encoder, "model.text_encoder", **dict(self.text or {}), **kw)
    self.img_proj = Dense(self.embed_dim, use_bias=False, **kw)
    self.txt_proj = Dense(self.embed_dim, use_bias=False, **kw)
    self.logit_scale = self.param("logit_scale", nn.initializers.constant(self.logit_scale_init),
                                  (), jnp.float32)
    self.logit_bias = self.param("logit_bias", nn.initializers.constant(self.logit_bias_init),
                                 (), jnp.float32)

  def __call__(self, images=None, tokens=None, train: bool = False):
    extras = {"logit_scale": self.logit_scale, "logit_bias": self.logit_bias}
    zimg = ztxt = None
    if images is not None:
      pooled, toks = self.img_tower(images, train=train)
      zimg = l2_normalize(self.img_proj(pooled))
      extras.update({"img/pooled": pooled, "img/tokens": toks})
    if tokens is not None:
      pooled, toks = self.txt_tower(tokens, train=train)
      ztxt = l2_normalize(self.txt_proj(pooled))
      extras.update({"txt/pooled": pooled, "txt/tokens": toks})
    return zimg, ztxt, extras
