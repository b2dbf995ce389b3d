"""LiT with the text side locked: a trainable image tower learns to match the fixed embeddings
of a pretrained text encoder (Zhai et al. 2022, "LiT: Zero-Shot Transfer with Locked-image text
Tuning", with the roles of the towers swapped)."""

import math
from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.transformer import Dense
from mmjax.models.two_tower import embed_images, l2_normalize, setup_image_side


class LockedTextTwoTower(nn.Module):
  """images [batch, h, w, c] and/or text_features [batch, text_dim] (a frozen text encoder's
  sentence embeddings, computed once as data) -> (img_emb [batch, embed_dim] or None,
  txt_emb [batch, embed_dim] or None, extras), the interface of `TwoTower`.

  The text encoder is not part of the model, so nothing can train it. project_text: a trainable
  linear map of the locked features into the shared space (as the image side has); False uses
  the locked embeddings as they are (LiT's fully locked tower), which needs embed_dim = text_dim.
  """
  visual: str = "image"  # "video": a video tower (models.visual_encoders), as in TwoTower
  image_encoder: str = "vit"
  image: Optional[dict] = None  # kwargs of the image encoder
  embed_dim: int = 256
  project_text: bool = True
  logit_scale_init: float = math.log(1 / 0.07)
  logit_bias_init: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    setup_image_side(self)
    if self.project_text:
      self.txt_proj = Dense(self.embed_dim, use_bias=False, dtype=self.dtype,
                            param_dtype=self.param_dtype)

  def __call__(self, images=None, text_features=None, train: bool = False):
    zimg, extras = embed_images(self, images, train)
    ztxt = None
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
