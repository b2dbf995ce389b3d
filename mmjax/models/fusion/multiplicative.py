"""Multiplicative interactions (Jayakumar et al. 2020, "Multiplicative Interactions and Where to
Find Them"), MultiBench's MI fusion (Liang et al. 2021): one modality, the context z, generates
the weights of an affine map applied to the other, x:

  f(x, z) = W'(z) x + b'(z),   W'(z) = W z + V,   b'(z) = U z + b,

i.e. z^T W x + z^T U + V x + b. `mode` restricts W'(z):
  matrix  a full [dim, d_x] matrix: a hypernetwork (W is a 3-tensor). For two modalities this is
          the function class of TensorFusion with its output layer ([z; 1] (x) [x; 1] -> Dense).
  vector  a diagonal: a feature-wise gate and shift of x (as FiLM).
  scalar  a multiple of the identity: one scale and one shift per example.
"""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models import matmul
from mmjax.models.fusion.inputs import context_and_other
from mmjax.models.transformer import Dense

MODES = ("matrix", "vector", "scalar")


class MultiplicativeFusion(nn.Module):
  """pooled [batch, d_i] for exactly two modalities -> [batch, dim].

  context_index: the modality z that generates the weights (0, MultiBench's default; 1 is its
  `flip`); the other is x. dim: the output width; matrix mode maps x to it directly (default
  d_x), vector and scalar modes first project x to it with a Dense when set (default: x as is).
  Parameters, named as in the paper: matrix W [d_z, d_x, dim], U [d_z, dim], V [d_x, dim],
  b [dim]; vector W, U [d_z, d], V, b [d]; scalar W, U [d_z], V, b []. V starts at 1 in the
  vector and scalar modes, so a fresh layer gates x by about 1, not by noise.
  """
  mode: str = "matrix"
  dim: Optional[int] = None
  context_index: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled, tokens=None, masks=None, train: bool = False):
    z, x = context_and_other("multiplicative", pooled, tokens, masks, self.context_index,
                             "context_index",
                             "one modality generates the weights applied to the other")
    if self.mode not in MODES:
      raise ValueError(f"multiplicative: mode={self.mode!r}; valid: {', '.join(MODES)}.")
    if self.dim is not None and self.dim < 1:
      raise ValueError(f"multiplicative: dim={self.dim} must be >= 1 (or None).")
    z, x = z.astype(self.dtype), x.astype(self.dtype)
    if self.mode != "matrix" and self.dim is not None:
      x = Dense(self.dim, name="proj", dtype=self.dtype, param_dtype=self.param_dtype)(x)
    dz, dx = z.shape[-1], x.shape[-1]
    out_dim = (self.dim or dx) if self.mode == "matrix" else dx
    fan_in = lambda *axes: nn.initializers.lecun_normal(in_axis=axes, out_axis=-1)
    param = lambda name, init, shape: self.param(name, init, shape, self.param_dtype)
    # Products in the compute dtype, sums in float32 (matmul.einsum accumulates in float32).
    mul = lambda eq, a, w: matmul.einsum(eq, a, w, self.dtype, out_dtype=jnp.float32)
    if self.mode == "matrix":
      w = param("W", fan_in(0, 1), (dz, dx, out_dim))
      u = param("U", fan_in(0), (dz, out_dim))
      v = param("V", fan_in(0), (dx, out_dim))
      b = param("b", nn.initializers.zeros, (out_dim,))
      # z^T W x as one product of the per-example outer product z x^T with W.
      zx = z[:, :, None] * x[:, None, :]
      out = mul("bzx,zxo->bo", zx, w) + mul("bz,zo->bo", z, u) + mul("bx,xo->bo", x, v)
    elif self.mode == "vector":
      w = param("W", fan_in(0), (dz, dx))
      u = param("U", fan_in(0), (dz, dx))
      v = param("V", nn.initializers.ones, (dx,))
      b = param("b", nn.initializers.zeros, (dx,))
      gate = mul("bz,zx->bx", z, w) + v.astype(jnp.float32)
      out = gate * x.astype(jnp.float32) + mul("bz,zx->bx", z, u)
    else:
      w = param("W", nn.initializers.normal(dz ** -0.5), (dz,))
      u = param("U", nn.initializers.normal(dz ** -0.5), (dz,))
      v = param("V", nn.initializers.ones, ())
      b = param("b", nn.initializers.zeros, ())
      scale = mul("bz,z->b", z, w) + v.astype(jnp.float32)
      out = scale[:, None] * x.astype(jnp.float32) + mul("bz,z->b", z, u)[:, None]
    return (out + b.astype(jnp.float32)).astype(self.dtype)
