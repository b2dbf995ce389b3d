"""CLIP-style two-tower model: an image encoder and a text encoder, each chosen by name, each
followed by a linear projection to a shared embedding space (Radford et al. 2021). The image
tower may be a video encoder (visual="video"): video-text retrieval is the same model."""

import math
from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax import models
from mmjax.models.transformer import Dense


def l2_normalize(x, eps=1e-6):
  x = x.astype(jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


def setup_image_side(module):
  """Builds, from `module`'s setup, the image tower, its projection and the contrastive scalars
  under the names every two-tower model shares (img_tower, img_proj, logit_scale, logit_bias),
  so checkpoints graft across them. `module` has the fields visual, image_encoder, image,
  embed_dim, logit_scale_init, logit_bias_init, dtype and param_dtype."""
  kw = dict(dtype=module.dtype, param_dtype=module.param_dtype)
  module.img_tower = models.visual_encoders(module.visual).build(
      module.image_encoder, **dict(module.image or {}), **kw)
  module.img_proj = Dense(module.embed_dim, use_bias=False, **kw)
  module.logit_scale = module.param(
      "logit_scale", nn.initializers.constant(module.logit_scale_init), (), jnp.float32)
  module.logit_bias = module.param(
      "logit_bias", nn.initializers.constant(module.logit_bias_init), (), jnp.float32)


def embed_images(module, images, train: bool):
  """images [batch, h, w, c] (video: [batch, frames, h, w, c]) or None -> (img_emb [batch,
  embed_dim] float32, L2-normalised, or None; extras {logit_scale, logit_bias, and given
  images img/pooled, img/tokens})."""
  extras = {"logit_scale": module.logit_scale, "logit_bias": module.logit_bias}
  if images is None:
    return None, extras
  pooled, toks = module.img_tower(images, train=train)
  extras.update({"img/pooled": pooled, "img/tokens": toks})
  return l2_normalize(module.img_proj(pooled)), extras


class TwoTower(nn.Module):
  """images [batch, h, w, c] and/or tokens [batch, length] ->
  (img_emb [batch, embed_dim] or None, txt_emb [batch, embed_dim] or None, extras).

  Embeddings are L2-normalised float32. extras holds the contrastive scalars `logit_scale`
  (log of the temperature's inverse, open_clip init log(1/0.07)) and `logit_bias` (SigLIP), and
  the towers' named intermediates (`img/pooled`, `img/tokens`, `txt/pooled`, `txt/tokens`).
  visual="video": the image tower is a VIDEO_ENCODERS one and `images` are videos [batch,
  frames, h, w, c].
  """
  visual: str = "image"  # the image tower's registry: models.visual_encoders
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
    setup_image_side(self)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.txt_tower = models.TEXT_ENCODERS.build(self.text_encoder, **dict(self.text or {}), **kw)
    self.txt_proj = Dense(self.embed_dim, use_bias=False, **kw)

  def __call__(self, images=None, tokens=None, train: bool = False):
    zimg, extras = embed_images(self, images, train)
    ztxt = None
    if tokens is not None:
      pooled, toks = self.txt_tower(tokens, train=train)
      ztxt = l2_normalize(self.txt_proj(pooled))
      extras.update({"txt/pooled": pooled, "txt/tokens": toks})
    return zimg, ztxt, extras
