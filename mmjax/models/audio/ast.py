"""Audio Spectrogram Transformer (Gong et al. 2021, "AST: Audio Spectrogram Transformer"): a ViT
over (optionally overlapping) patches of a log-mel spectrogram."""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.audio.log_mel import LogMel, frame
from mmjax.models.transformer import Dense, Encoder, layer_norm

SPEC_NORMS = ("per_example", "fixed", "none")
POOLS = ("cls", "mean")


class AudioSpectrogramTransformer(nn.Module):
  """waves [batch, samples] -> (pooled [batch, width], tokens [batch, n, width]).

  LogMel [batch, frames, mels] -> normalise (`spec_norm`) -> patches of patch_size
  (time, freq) every patch_stride (time, freq) (default: patch_size, i.e. no overlap; AST uses
  16x16 every 10x10) -> Dense -> + learned positions -> [cls] -> Encoder -> LayerNorm.
  n = time patches x frequency patches; `tokens` are the patch tokens. pool: "cls" or "mean".

  spec_norm: "per_example" (zero mean, unit std over each clip's spectrogram), "fixed"
  ((x - spec_mean) / spec_std with dataset statistics, as AST) or "none". Positions are learned
  per patch, so every clip must give the same number of patches as the clip used at init.
  """
  patch_size: Sequence[int] = (16, 16)
  patch_stride: Optional[Sequence[int]] = None
  width: int = 256
  depth: int = 6
  num_heads: int = 4
  mlp_dim: int = 1024
  pool: str = "cls"
  spec_norm: str = "per_example"
  spec_mean: float = 0.0
  spec_std: float = 1.0
  # Log-mel front end (see LogMel).
  sample_rate: float = 16000.0
  frame_length_ms: float = 25.0
  frame_step_ms: float = 10.0
  num_mel_bins: int = 128
  fmin: float = 20.0
  fmax: Optional[float] = None
  # Attention implementation, remat policy and nn.scan over layers: see transformer.Encoder.
  attention: str = "auto"
  remat: str = "none"
  scan: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, waves, train: bool = False):
    if self.pool not in POOLS:
      raise ValueError(f"pool={self.pool!r}; valid: {', '.join(POOLS)}.")
    if self.spec_norm not in SPEC_NORMS:
      raise ValueError(f"spec_norm={self.spec_norm!r}; valid: {', '.join(SPEC_NORMS)}.")
    sizes = (tuple(self.patch_size), tuple(self.patch_stride or self.patch_size))
    if any(len(v) != 2 or min(v) < 1 for v in sizes):
      raise ValueError(f"patch_size={self.patch_size}, patch_stride={self.patch_stride}; each "
                       "must be (time, freq) with entries >= 1.")
    (pt, pf), (st, sf) = sizes
    if self.num_mel_bins < pf:
      raise ValueError(f"num_mel_bins={self.num_mel_bins} is smaller than the patch's "
                       f"frequency size {pf}.")
    log_mel = LogMel(sample_rate=self.sample_rate, frame_length_ms=self.frame_length_ms,
                     frame_step_ms=self.frame_step_ms, num_mel_bins=self.num_mel_bins,
                     fmin=self.fmin, fmax=self.fmax)
    if waves.shape[-1] < log_mel.min_samples(pt):
      raise ValueError(f"a clip of {waves.shape[-1]} samples is too short for one "
                       f"{pt}-frame patch; need at least {log_mel.min_samples(pt)} samples.")
    spec = log_mel(waves)  # float32 [batch, frames, mels]
    if self.spec_norm == "per_example":
      mean = spec.mean(axis=(1, 2), keepdims=True)
      spec = (spec - mean) / (spec.std(axis=(1, 2), keepdims=True) + 1e-5)
    elif self.spec_norm == "fixed":
      spec = (spec - self.spec_mean) / self.spec_std

    # [b, T, F] -> [b, nt, pt, F] -> [b, nt, pt, nf, pf] -> [b, nt * nf, pt * pf].
    patches = frame(frame(spec, pt, st, axis=1), pf, sf, axis=3).transpose(0, 1, 3, 2, 4)
    b, nt, nf = patches.shape[:3]
    patches = patches.reshape(b, nt * nf, pt * pf)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = Dense(self.width, name="embedding", **kw)(patches)
    if self.has_variable("params", "pos_embedding"):
      have = self.get_variable("params", "pos_embedding").shape[0]
      if have != nt * nf:
        raise ValueError(f"this clip gives {nt}x{nf} = {nt * nf} patches but the model was "
                         f"initialised with {have}; positions are learned per patch, so use "
                         "clips of the init length.")
    pos = self.param("pos_embedding", nn.initializers.normal(0.02), (nt * nf, self.width),
                     self.param_dtype)
    x = x + pos.astype(x.dtype)
    if self.pool == "cls":
      cls = self.param("cls", nn.initializers.normal(0.02), (1, 1, self.width), self.param_dtype)
      x = jnp.concatenate([jnp.broadcast_to(cls.astype(x.dtype), (b, 1, self.width)), x], 1)
    x = Encoder(self.depth, self.num_heads, self.mlp_dim, name="encoder",
                attention=self.attention, remat=self.remat, scan=self.scan, **kw)(x)
    x = layer_norm(name="ln_final", **kw)(x)
    if self.pool == "cls":
      return x[:, 0], x[:, 1:]
    return x.astype(jnp.float32).mean(axis=1).astype(self.dtype), x
