"""2-D CNN over a log-mel spectrogram: VGGish-style blocks (Hershey et al. 2017, "CNN
architectures for large-scale audio classification")."""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.audio.log_mel import LogMel
from mmjax.models.pooling import max_pool
from mmjax.models.transformer import layer_norm

FREQ_POOLS = ("mean", "max")


class SpectrogramCNN(nn.Module):
  """waves [batch, samples] -> (pooled [batch, channels[-1]], tokens [batch, n, channels[-1]]).

  LogMel -> [batch, frames, mels, 1] -> block i: convs_per_block[i] x (Conv 3x3 SAME ->
  LayerNorm -> ReLU) at channels[i], then 2x2 max pool (SAME, so any clip of one frame or more
  works). tokens are the n = ceil(frames / 2^blocks) time steps, pooled over frequency by
  `freq_pool` ("mean" or "max"); pooled is the mean over tokens. LayerNorm over channels (not in
  VGGish) keeps deep stacks trainable without mutable batch statistics.
  """
  channels: Sequence[int] = (64, 128, 256, 512)
  convs_per_block: Sequence[int] = (1, 1, 2, 2)
  freq_pool: str = "mean"
  # Log-mel front end (see LogMel).
  sample_rate: float = 16000.0
  frame_length_ms: float = 25.0
  frame_step_ms: float = 10.0
  num_mel_bins: int = 64
  fmin: float = 125.0  # VGGish's band: 125 Hz .. 7.5 kHz.
  fmax: Optional[float] = 7500.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, waves, train: bool = False):
    if self.freq_pool not in FREQ_POOLS:
      raise ValueError(f"freq_pool={self.freq_pool!r}; valid: {', '.join(FREQ_POOLS)}.")
    if len(self.convs_per_block) != len(self.channels) or not self.channels:
      raise ValueError(f"channels {tuple(self.channels)} and convs_per_block "
                       f"{tuple(self.convs_per_block)} need one entry per block.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = LogMel(sample_rate=self.sample_rate, frame_length_ms=self.frame_length_ms,
               frame_step_ms=self.frame_step_ms, num_mel_bins=self.num_mel_bins,
               fmin=self.fmin, fmax=self.fmax, **kw)(waves)
    x = x[..., None]  # [batch, frames, mels, 1]: time x frequency image.
    for i, (c, n) in enumerate(zip(self.channels, self.convs_per_block)):
      for j in range(n):
        x = nn.Conv(c, (3, 3), padding="SAME", name=f"conv{i}_{j}", **kw)(x)
        x = nn.relu(layer_norm(name=f"norm{i}_{j}", **kw)(x))
      x = max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    if self.freq_pool == "mean":
      tokens = x.astype(jnp.float32).mean(axis=2).astype(self.dtype)
    else:
      tokens = x.max(axis=2)
    pooled = tokens.astype(jnp.float32).mean(axis=1).astype(self.dtype)
    return pooled, tokens
