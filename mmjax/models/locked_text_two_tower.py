"""LiT with the text side locked: a trainable image tower learns to match the fixed embeddings
of a pretrained text encoder (Zhai et al. 2022, "LiT: Zero-Shot Transfer with Locked-image text
Tuning", with the roles of the towers swapped)."""

import math
from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax import models
from mmjax.models.transformer import Dense
from mmjax.models.two_tower import l2_normalize


class LockedTextTwoTower(nn.Module):
  """images [batch, h, w, c] and/or text_features [batch, text_dim] (a frozen text encoder's
  sentence embeddings, computed once as data) -> (img_emb [batch, embed_dim] or None,
  txt_emb [batch, embed_dim] or None, extras), the interface of `TwoTower`.

  The text encoder is not part of the model, so nothing can train it. project_text: a trainable
  linear map of the locked features into the shared space (as the image side has); False uses
  the locked embeddings as they are (LiT's fully locked tower), which needs embed_dim = text_dim.
  """
  image_encoder: str = "vit"
  image: Optional[dict] = None  # kwargs of the image encoder
  embed_dim: int = 256
  project_text: bool = True
  logit_scale_init: float = math.log(1 / 0.07)
  logit_bias_init: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.img_tower = models.IMAGE_ENCODERS.build(
        self.image_encoder, "model.image_encoder", **dict(self.image or {}), **kw)
    self.img_proj = Dense(self.embed_dim, use_bias=False, **kw)
    if self.project_text:
      self.txt_proj = Dense(self.embed_dim, use_bias=False, **kw)
    self.logit_scale = self.param("logit_scale", nn.initializers.constant(self.logit_scale_init),
                                  (), jnp.float32)
    self.logit_bias = self.param("logit_bias", nn.initializers.constant(self.logit_bias_init),
                                 (), jnp.float32)

  def __call__(self, images=None, text_features=None, train: bool = False):
    extras = {"logit_scale": self.logit_scale, "logit_bias": self.logit_bias}
    zimg = ztxt = None
    if images is not None:
      pooled, toks = self.img_tower(images, train=train)
      zimg = l2_normalize(self.img_proj(pooled))
      extras.update({"img/pooled": pooled, "img/tokens": toks})
    if text_features is not None:
      if text_features.ndim != 2:
        raise ValueError(f"text_features must be [batch, text_dim]; got {text_features.shape}.")
      if self.project_text:
        ztxt = l2_normalize(self.txt_proj(text_features.astype(self.dtype)))
      elif text_features.shape[-1] != self.embed_dim:
        raise ValueError(f"project_text=False uses the locked embeddings as they are: embed_dim="
                         f"{self.embed_dim} must equal their width {text_features.shape[-1]}.")
      else:
        ztxt = l2_normalize(text_features)
    return zimg, ztxt, extras
