"""1-D CNN over raw waveforms: M3/M5/M11 of Dai et al. 2017, "Very deep convolutional neural
networks for raw waveforms" (a wide strided first conv acts as a learned filterbank)."""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.pooling import max_pool
from mmjax.models.transformer import layer_norm


class WaveCNN(nn.Module):
  """waves [batch, samples] -> (pooled [batch, channels[-1]], tokens [batch, n, channels[-1]]).

  Block i: Conv1D(channels[i], kernel_sizes[i], strides[i], VALID) -> LayerNorm -> ReLU ->
  MaxPool(pool_size) ("pool_size" 1 = none). The defaults are M5. LayerNorm over channels
  replaces the paper's BatchNorm so the model has no mutable batch statistics. tokens are the
  last feature map's time steps; pooled is their mean. `min_samples()` is the shortest clip.
  """
  channels: Sequence[int] = (128, 128, 256, 512)
  kernel_sizes: Sequence[int] = (80, 3, 3, 3)
  strides: Sequence[int] = (4, 1, 1, 1)
  pool_size: int = 4
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def _check(self):
    n = len(self.channels)
    if not n or len(self.kernel_sizes) != n or len(self.strides) != n:
      raise ValueError(f"channels, kernel_sizes and strides need one entry per block and the "
                       f"same length; got {len(self.channels)}, {len(self.kernel_sizes)}, "
                       f"{len(self.strides)}.")
    for name in ("channels", "kernel_sizes", "strides"):
      if min(getattr(self, name)) < 1:
        raise ValueError(f"{name}={tuple(getattr(self, name))}; every entry must be >= 1.")
    if self.pool_size < 1:
      raise ValueError(f"pool_size={self.pool_size}; must be >= 1 (1 = no pooling).")

  def min_samples(self) -> int:
    """The shortest clip that leaves one time step after every (VALID) conv and pool."""
    self._check()
    n = 1
    for k, s in reversed(list(zip(self.kernel_sizes, self.strides))):
      n = (n * self.pool_size - 1) * s + k  # Inverts pool, then conv: out = (in - k) // s + 1.
    return n

  @nn.compact
  def __call__(self, waves, train: bool = False):
    if waves.ndim != 2:
      raise ValueError(f"waves must be [batch, samples], got shape {waves.shape}.")
    if waves.shape[1] < self.min_samples():
      raise ValueError(f"a clip of {waves.shape[1]} samples is too short for wave_cnn; need at "
                       f"least {self.min_samples()} samples (kernel_sizes="
                       f"{tuple(self.kernel_sizes)}, strides={tuple(self.strides)}, "
                       f"pool_size={self.pool_size}).")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = waves.astype(self.dtype)[..., None]  # [batch, samples, 1]
    for i, (c, k, s) in enumerate(zip(self.channels, self.kernel_sizes, self.strides)):
      x = nn.Conv(c, (k,), strides=(s,), padding="VALID", name=f"conv{i}", **kw)(x)
      x = nn.relu(layer_norm(name=f"norm{i}", **kw)(x))
      if self.pool_size > 1:
        x = max_pool(x, (self.pool_size,), strides=(self.pool_size,))
    pooled = x.astype(jnp.float32).mean(axis=1).astype(self.dtype)
    return pooled, x
