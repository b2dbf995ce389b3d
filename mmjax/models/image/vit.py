"""Vision Transformer (Dosovitskiy et al. 2021), pre-LN, as CLIP's image tower uses it."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from mmjax.models.transformer import Dense, Encoder, layer_norm


def sincos_2d(grid: int, dim: int) -> np.ndarray:
  """Fixed 2-D sine-cosine position embedding [grid * grid, dim] (MAE / big_vision style)."""
  if dim % 4:
    raise ValueError(f"sincos positions need width divisible by 4, got {dim}.")
  y, x = np.mgrid[:grid, :grid]
  omega = 1.0 / 10000 ** (np.arange(dim // 4) / (dim // 4 - 1 or 1))
  y, x = y.reshape(-1, 1) * omega, x.reshape(-1, 1) * omega
  return np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1).astype(np.float32)


class ViT(nn.Module):
  """images [batch, height, width, channels] -> (pooled [batch, width], tokens [batch, n, width]).

  pool: "cls" (a learned class token, as CLIP) or "mean" (mean over patch tokens).
  posemb: "learned" or "sincos2d". `tokens` are the patch tokens after the final LayerNorm.

  The original ViT / big_vision layout (Dosovitskiy et al. 2021; `vit_checkpoint.load_vit_npz`
  loads those checkpoints) is ln_pre=False, ln_eps=1e-6, gelu_approximate=True, patch_bias=True;
  the defaults are CLIP's.

  dropout: with train=True (and a "dropout" rng), the rate after the position embedding, on
  every residual branch and on the MLPs' hidden units, as the original ViT; 0 (CLIP's) keeps
  the model deterministic.
  """
  patch_size: int = 8
  width: int = 256
  depth: int = 6
  num_heads: int = 4
  mlp_dim: int = 1024
  pool: str = "cls"
  posemb: str = "learned"
  patch_bias: bool = False  # CLIP's patch embedding has no bias.
  ln_pre: bool = True  # CLIP normalises the embedded tokens; the original ViT does not.
  ln_eps: float = 1e-5  # flax's nn.LayerNorm (original ViT): 1e-6.
  gelu_approximate: bool = False  # tanh GELU, as flax's nn.gelu (original ViT checkpoints).
  dropout: float = 0.0
  # Attention implementation, remat policy and nn.scan over layers: see transformer.Encoder.
  attention: str = "auto"
  remat: str = "none"
  scan: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False):
    b, h, w, c = images.shape
    p = self.patch_size
    if h % p or w % p:
      raise ValueError(f"image size {h}x{w} is not divisible by patch_size {p}.")
    # Non-overlapping patches as one matmul: the same as a stride-p convolution, faster on CPU.
    patches = images.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    patches = patches.reshape(b, (h // p) * (w // p), p * p * c)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = Dense(self.width, use_bias=self.patch_bias, name="embedding", **kw)(patches)
    n = x.shape[1]
    if self.posemb == "learned":
      pos = self.param("pos_embedding", nn.initializers.normal(0.02), (n, self.width),
                       self.param_dtype)
    elif self.posemb == "sincos2d":
      if h != w:
        raise ValueError("sincos2d positions need square images.")
      pos = jnp.asarray(sincos_2d(h // p, self.width))
    else:
      raise ValueError(f"posemb={self.posemb!r}; valid: learned, sincos2d.")
    x = nn.Dropout(self.dropout)(x + pos.astype(x.dtype), deterministic=not train)
    if self.pool == "cls":
      # The class token's own position embedding is folded into it.
      cls = self.param("cls", nn.initializers.normal(0.02), (1, 1, self.width), self.param_dtype)
      x = jnp.concatenate([jnp.broadcast_to(cls.astype(x.dtype), (b, 1, self.width)), x], 1)
    elif self.pool != "mean":
      raise ValueError(f"pool={self.pool!r}; valid: cls, mean.")
    if self.ln_pre:
      x = layer_norm(name="ln_pre", eps=self.ln_eps, **kw)(x)
    x = Encoder(self.depth, self.num_heads, self.mlp_dim, name="encoder", ln_eps=self.ln_eps,
                gelu_approximate=self.gelu_approximate, dropout=self.dropout,
                attention=self.attention, remat=self.remat, scan=self.scan, **kw)(x, train=train)
    x = layer_norm(name="ln_post", eps=self.ln_eps, **kw)(x)
    if self.pool == "cls":
      return x[:, 0], x[:, 1:]
    return x.mean(axis=1), x
