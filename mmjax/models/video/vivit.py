"""ViViT (Arnab et al. 2021): a video Transformer over tubelets, and its init from an image ViT.

Two of the paper's variants, with the parameter names of `image.vit.ViT` so that a trained
image ViT initialises them (`inflate_vit`, as scenic does):
  joint       one Encoder over every spatio-temporal tubelet token (Model 1);
  factorised  the factorised encoder (Model 2): a spatial Encoder over each time step's tokens,
              whose class-token outputs a temporal Encoder then reads (temporal_depth=0: their
              mean, which is blind to order).
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mmjax.models.transformer import Dense, Encoder, layer_norm, stack_blocks

VARIANTS = ("joint", "factorised")
INFLATIONS = ("central_frame", "average")


def tubelets(video, t: int, p: int):
  """video [batch, frames, h, w, c] -> [batch, frames/t, (h/p)*(w/p), t*p*p*c]: each tubelet's
  pixels ordered (time, row, column, channel), so time step k of a tubelet holds exactly the
  (row, column, channel) patch that `image.vit.ViT` flattens."""
  b, f, h, w, c = video.shape
  if f % t or h % p or w % p:
    raise ValueError(f"video of {f} frames of {h}x{w} is not divisible into tubelets of "
                     f"{t} frames x {p}x{p} pixels.")
  x = video.reshape(b, f // t, t, h // p, p, w // p, p, c).transpose(0, 1, 3, 5, 2, 4, 6, 7)
  return x.reshape(b, f // t, (h // p) * (w // p), t * p * p * c)


class ViViT(nn.Module):
  """video [batch, frames, h, w, c] -> (pooled [batch, width], tokens [batch, n, width]).

  tubelet: (frames, pixels) of each token; pool "cls" (class token) or "mean". tokens: joint,
  every tubelet's output [batch, (frames/t) * patches, width]; factorised, one per time step
  [batch, frames/t, width]. ViT's options (ln_pre, patch_bias, ln_eps, gelu_approximate,
  dropout, attention, remat, scan) mean what they mean there.
  """
  tubelet: Sequence[int] = (2, 8)
  variant: str = "factorised"
  width: int = 256
  depth: int = 6
  num_heads: int = 4
  mlp_dim: int = 1024
  temporal_depth: int = 2
  pool: str = "cls"
  patch_bias: bool = False
  ln_pre: bool = True
  ln_eps: float = 1e-5
  gelu_approximate: bool = False
  dropout: float = 0.0
  attention: str = "auto"
  remat: str = "none"
  scan: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def _encoder(self, depth, name):
    return Encoder(depth, self.num_heads, self.mlp_dim, self.dtype, self.param_dtype,
                   ln_eps=self.ln_eps, gelu_approximate=self.gelu_approximate,
                   dropout=self.dropout, attention=self.attention, remat=self.remat,
                   scan=self.scan, name=name)

  def _with_cls(self, x, name):
    if self.pool == "mean":
      return x
    cls = self.param(name, nn.initializers.normal(0.02), (1, 1, self.width), self.param_dtype)
    return jnp.concatenate([jnp.broadcast_to(cls.astype(x.dtype), (x.shape[0], 1, self.width)),
                            x], axis=1)

  def _pool(self, x):
    return (x[:, 0], x[:, 1:]) if self.pool == "cls" else (x.mean(axis=1), x)

  @nn.compact
  def __call__(self, video, train: bool = False):
    if self.variant not in VARIANTS:
      raise ValueError(f"variant={self.variant!r}; valid: {', '.join(VARIANTS)}.")
    if self.pool not in ("cls", "mean"):
      raise ValueError(f"pool={self.pool!r}; valid: cls, mean.")
    t, p = self.tubelet
    x = tubelets(video, t, p)
    b, nt, n, _ = x.shape
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = Dense(self.width, use_bias=self.patch_bias, name="embedding", **kw)(x)
    positions = nt * n if self.variant == "joint" else n
    pos = self.param("pos_embedding", nn.initializers.normal(0.02), (positions, self.width),
                     self.param_dtype)
    drop = lambda y: nn.Dropout(self.dropout)(y, deterministic=not train)
    if self.variant == "joint":
      x = drop(x.reshape(b, nt * n, self.width) + pos.astype(x.dtype))
    else:  # each time step is an image to the spatial encoder
      x = drop(x.reshape(b * nt, n, self.width) + pos.astype(x.dtype))
    x = self._with_cls(x, "cls")
    if self.ln_pre:
      x = layer_norm(name="ln_pre", eps=self.ln_eps, **kw)(x)
    x = self._encoder(self.depth, "encoder")(x, train=train)
    x = layer_norm(name="ln_post", eps=self.ln_eps, **kw)(x)
    pooled, tokens = self._pool(x)
    if self.variant == "joint":
      return pooled, tokens
    frames = pooled.reshape(b, nt, self.width)  # one token per time step
    if not self.temporal_depth:
      return frames.mean(axis=1), frames
    pos_t = self.param("temporal_pos_embedding", nn.initializers.normal(0.02),
                       (nt, self.width), self.param_dtype)
    x = self._with_cls(frames + pos_t.astype(frames.dtype), "temporal_cls")
    x = self._encoder(self.temporal_depth, "temporal_encoder")(x, train=train)
    return self._pool(layer_norm(name="ln_temporal", eps=self.ln_eps, **kw)(x))


def inflate_vit(vit_params: dict, vivit_params: dict, tubelet_frames: int,
                method: str = "central_frame") -> dict:
  """ViViT params with every parameter an image ViT has taken from `vit_params` (both are the
  "params" collections; `vivit_params` a fresh init supplying the temporal parts).

  The patch embedding becomes a tubelet embedding [t * p*p*c, width] by `method`:
  "central_frame" puts the image kernel on the tubelet's middle frame and zeros elsewhere;
  "average" puts kernel / t on every frame. Either way a still video embeds as its frame did.
  A joint model's positions repeat the image's over the time steps; an unrolled ViT's layers
  are stacked for a ViViT with scan=True. Shapes must agree
  otherwise (the same width, depth and patch size, the image size the video's frame size).
  """
  if method not in INFLATIONS:
    raise ValueError(f"method={method!r}; valid: {', '.join(INFLATIONS)}.")
  out = jax.tree.map(lambda x: x, dict(vivit_params))
  kernel = np.asarray(vit_params["embedding"]["kernel"])
  t = tubelet_frames
  if method == "average":
    tube = np.repeat(kernel[None] / t, t, axis=0)
  else:
    tube = np.zeros((t,) + kernel.shape, kernel.dtype)
    tube[t // 2] = kernel
  inflated = {"embedding": {**vit_params["embedding"], "kernel": tube.reshape(-1, kernel.shape[1])}}
  pos, want = np.asarray(vit_params["pos_embedding"]), out["pos_embedding"].shape
  if want[0] % pos.shape[0]:
    raise ValueError(f"the ViT has {pos.shape[0]} positions, the ViViT {want[0]}: not a whole "
                     "number of time steps; use the image size the ViT was trained at.")
  inflated["pos_embedding"] = np.tile(pos, (want[0] // pos.shape[0], 1))
  for name in ("cls", "ln_pre", "encoder", "ln_post"):
    if name in vit_params:
      inflated[name] = vit_params[name]
  encoder = inflated.get("encoder", {})
  if "blocks" in out.get("encoder", {}) and "block0" in encoder:  # a ViViT with scan=True
    inflated["encoder"] = stack_blocks(encoder, sum(k.startswith("block") for k in encoder))
  for name, value in inflated.items():
    if name not in out:
      raise ValueError(f"the ViT has {name!r}, the ViViT does not (pool / ln_pre differ).")
    got = jax.tree.map(np.shape, value)
    if got != jax.tree.map(np.shape, out[name]):
      raise ValueError(f"{name}: the ViT's shapes {got} differ from the ViViT's "
                       f"{jax.tree.map(np.shape, out[name])}.")
    out[name] = jax.tree.map(jnp.asarray, value)
  return out
