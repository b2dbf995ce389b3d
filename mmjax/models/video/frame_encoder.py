"""A video as its frames: any image encoder on each frame, then pooling over time."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax import models
from mmjax.models.transformer import Encoder, layer_norm

TEMPORAL = ("mean", "transformer")


class FrameEncoder(nn.Module):
  """video [batch, frames, h, w, c] -> (pooled [batch, dim], tokens [batch, frames, dim]).

  image / image_options: an IMAGE_ENCODERS name and its kwargs, applied to every frame (shared
  weights; its pooled output is the frame's token). temporal: "mean" averages the frame tokens,
  blind to their order (the baseline that cannot see time); "transformer" runs `depth` pre-LN
  blocks over them with a learned position per frame and a class token, whose output is pooled.
  To see motion the frame token must say where things are: e.g. cnn with head="flatten" (an
  average over positions, cnn's default head, cannot).
  """
  image: str = "cnn"
  image_options: Optional[Any] = None
  temporal: str = "mean"
  max_frames: int = 16  # positions the temporal transformer learns
  depth: int = 1
  num_heads: int = 4
  mlp_dim: Optional[int] = None  # default 4 * dim
  dropout: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, video, train: bool = False):
    if video.ndim != 5:
      raise ValueError(f"video has shape {video.shape}; valid: [batch, frames, h, w, c].")
    if self.temporal not in TEMPORAL:
      raise ValueError(f"temporal={self.temporal!r}; valid: {', '.join(TEMPORAL)}.")
    b, t = video.shape[:2]
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    options = {**dict(self.image_options or {}), **kw}
    models.IMAGE_ENCODERS.check_options(self.image, options)
    encoder = models.IMAGE_ENCODERS.get(self.image)(**options, name="frame_encoder")
    pooled, _ = encoder(video.reshape((b * t,) + video.shape[2:]), train=train)
    tokens = pooled.reshape(b, t, -1)
    if self.temporal == "mean":
      return tokens.mean(axis=1), tokens
    if t > self.max_frames:
      raise ValueError(f"the video has {t} frames; the temporal transformer learns "
                       f"max_frames={self.max_frames} positions: raise it.")
    dim = tokens.shape[-1]
    pos = self.param("temporal_pos_embedding", nn.initializers.normal(0.02),
                     (self.max_frames, dim), self.param_dtype)
    cls = self.param("temporal_cls", nn.initializers.normal(0.02), (1, 1, dim),
                     self.param_dtype)
    x = (tokens + pos[:t]).astype(self.dtype)
    x = jnp.concatenate([jnp.broadcast_to(cls.astype(x.dtype), (b, 1, dim)), x], axis=1)
    x = Encoder(self.depth, self.num_heads, self.mlp_dim or 4 * dim, dropout=self.dropout,
                name="temporal_encoder", **kw)(x, train=train)
    x = layer_norm(name="ln_temporal", **kw)(x)
    return x[:, 0], x[:, 1:]
