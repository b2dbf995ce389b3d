"""Log-mel spectrogram front end in JAX, matching `tf.signal` (stft, linear_to_mel_weight_matrix).

Conventions follow tf.signal.stft, so there are no padding surprises: no centering and no end
padding, frames = 1 + (samples - frame_length) // frame_step (trailing samples that do not fill a
frame are dropped), a periodic window, and each frame zero-padded on the right to fft_length.
(librosa / torch.stft default to center=True, which reflects-pads frame_length // 2 on both
sides; pad the waveform yourself if you want that.)
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

WINDOWS = ("hann", "hamming", "none")
SPECTRA = ("power", "magnitude")


def frame(x, frame_length: int, frame_step: int, axis: int = -1):
  """Overlapping frames along `axis`: [..., n, ...] -> [..., frames, frame_length, ...] with
  frames = 1 + (n - frame_length) // frame_step (no padding; trailing samples are dropped)."""
  axis = axis % x.ndim
  n = x.shape[axis]
  if frame_length < 1 or frame_step < 1:
    raise ValueError(f"frame_length={frame_length}, frame_step={frame_step}; both must be >= 1.")
  if n < frame_length:
    raise ValueError(f"length {n} along axis {axis} is shorter than one frame "
                     f"(frame_length={frame_length}); need at least {frame_length}.")
  frames = 1 + (n - frame_length) // frame_step
  x = jnp.moveaxis(x, axis, -1)
  chunks_per_frame = -(-frame_length // frame_step)
  if chunks_per_frame <= 8:
    # Reshape into frame_step-long chunks; a frame is `chunks_per_frame` consecutive chunks. Only
    # slices and a reshape, so the gradient is cheap too (a gather's is a slow scatter on CPU).
    num_chunks = frames + chunks_per_frame - 1
    pad = max(num_chunks * frame_step - n, 0)  # Lands only in the cut-off tail of the last frame.
    x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)])[..., :num_chunks * frame_step]
    chunks = x.reshape(x.shape[:-1] + (num_chunks, frame_step))
    out = jnp.concatenate([chunks[..., i:i + frames, :] for i in range(chunks_per_frame)], -1)
    out = out[..., :frame_length]
  else:  # A tiny step (many chunks per frame): one strided gather instead of many slices.
    idx = frame_step * np.arange(frames)[:, None] + np.arange(frame_length)[None, :]
    out = x[..., idx]
  # [..., frames, frame_length] back to where `axis` was.
  return jnp.moveaxis(out, (-2, -1), (axis, axis + 1))


def window_fn(name: str, length: int) -> np.ndarray:
  """Periodic window [length] float32 (as tf.signal.hann_window(periodic=True))."""
  n = np.arange(length) / length
  if name == "hann":
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n)
  elif name == "hamming":
    w = 0.54 - 0.46 * np.cos(2 * np.pi * n)
  elif name == "none":
    w = np.ones(length)
  else:
    raise ValueError(f"window={name!r}; valid: {', '.join(WINDOWS)}.")
  return w.astype(np.float32)


def default_fft_length(frame_length: int) -> int:
  """The smallest power of two >= frame_length (tf.signal.stft's default)."""
  return 1 << max(frame_length - 1, 0).bit_length()


def stft(wave, frame_length: int, frame_step: int, fft_length: Optional[int] = None,
         window: str = "hann"):
  """Short-time Fourier transform. wave [batch, samples] -> complex64 [batch, frames,
  fft_length // 2 + 1]; frames = 1 + (samples - frame_length) // frame_step (no centering)."""
  fft_length = fft_length or default_fft_length(frame_length)
  if fft_length < frame_length:
    raise ValueError(f"fft_length={fft_length} < frame_length={frame_length} would silently "
                     "drop samples; use fft_length >= frame_length.")
  if wave.ndim != 2:
    raise ValueError(f"wave must be [batch, samples], got shape {wave.shape}.")
  if wave.shape[1] < frame_length:
    raise ValueError(f"a clip of {wave.shape[1]} samples is shorter than one frame; need at "
                     f"least {frame_length} samples (frame_length).")
  frames = frame(wave.astype(jnp.float32), frame_length, frame_step)
  return jnp.fft.rfft(frames * window_fn(window, frame_length), n=fft_length, axis=-1)


def hz_to_mel(hz):
  """HTK mel scale: 1127 ln(1 + hz / 700)."""
  return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def mel_filterbank(num_mel_bins: int, num_spectrogram_bins: int, sample_rate: float,
                   lower_hz: float, upper_hz: float) -> np.ndarray:
  """Triangular HTK-mel filters [num_spectrogram_bins, num_mel_bins] float32, the same matrix
  as tf.signal.linear_to_mel_weight_matrix: unnormalised triangles with peak 1, equally spaced on
  the mel scale between lower_hz and upper_hz; the DC bin gets no weight."""
  nyquist = sample_rate / 2.0
  if num_mel_bins < 1:
    raise ValueError(f"num_mel_bins={num_mel_bins}; must be >= 1.")
  if not 0.0 <= lower_hz < upper_hz <= nyquist:
    raise ValueError(f"mel range lower_hz={lower_hz}, upper_hz={upper_hz}; need "
                     f"0 <= lower_hz < upper_hz <= sample_rate / 2 = {nyquist}.")
  bins_mel = hz_to_mel(np.linspace(0.0, nyquist, num_spectrogram_bins)[1:])[:, None]
  edges = np.linspace(hz_to_mel(lower_hz), hz_to_mel(upper_hz), num_mel_bins + 2)
  lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
  rising = (bins_mel - lower) / (center - lower)
  falling = (upper - bins_mel) / (upper - center)
  weights = np.maximum(0.0, np.minimum(rising, falling))
  return np.pad(weights, [(1, 0), (0, 0)]).astype(np.float32)


def log_mel_spectrogram(wave, sample_rate: float, frame_length: int = 400,
                        frame_step: int = 160, fft_length: Optional[int] = None,
                        num_mel_bins: int = 64, lower_hz: float = 20.0,
                        upper_hz: Optional[float] = None, spectrum: str = "power",
                        window: str = "hann", eps: float = 1e-6):
  """wave [batch, samples] -> log(mel + eps) float32 [batch, frames, num_mel_bins].

  spectrum: "power" (|X|^2) or "magnitude" (|X|) is what the mel filters sum. upper_hz defaults
  to the Nyquist frequency. Always computed in float32.
  """
  if spectrum not in SPECTRA:
    raise ValueError(f"spectrum={spectrum!r}; valid: {', '.join(SPECTRA)}.")
  spec = jnp.abs(stft(wave, frame_length, frame_step, fft_length, window))
  if spectrum == "power":
    spec = spec * spec
  weights = mel_filterbank(num_mel_bins, spec.shape[-1], sample_rate, lower_hz,
                           sample_rate / 2.0 if upper_hz is None else upper_hz)
  mel = jnp.matmul(spec, weights, precision=jax.lax.Precision.HIGHEST)
  return jnp.log(mel + eps)


class LogMel(nn.Module):
  """waves [batch, samples] -> log-mel [batch, frames, num_mel_bins] in `dtype`. No parameters.

  Frame length/step are given in milliseconds, or in samples via frame_length / frame_step
  (which then win). The spectrogram itself is always computed in float32; `param_dtype` is unused
  (kept so every module shares the dtype fields).
  """
  sample_rate: float = 16000.0
  frame_length_ms: float = 25.0
  frame_step_ms: float = 10.0
  frame_length: Optional[int] = None
  frame_step: Optional[int] = None
  fft_length: Optional[int] = None
  num_mel_bins: int = 64
  fmin: float = 20.0
  fmax: Optional[float] = None
  spectrum: str = "power"
  window: str = "hann"
  eps: float = 1e-6
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def frame_sizes(self) -> tuple[int, int]:
    """(frame_length, frame_step) in samples."""
    length = self.frame_length or int(round(self.sample_rate * self.frame_length_ms / 1000))
    step = self.frame_step or int(round(self.sample_rate * self.frame_step_ms / 1000))
    if length < 1 or step < 1:
      raise ValueError(f"frames of {length} samples every {step} samples at sample_rate="
                       f"{self.sample_rate}; both must be >= 1 sample.")
    return length, step

  def min_samples(self, frames: int = 1) -> int:
    """The shortest clip that yields `frames` frames."""
    length, step = self.frame_sizes()
    return length + (frames - 1) * step

  def __call__(self, waves):
    length, step = self.frame_sizes()
    out = log_mel_spectrogram(waves, self.sample_rate, length, step, self.fft_length,
                              self.num_mel_bins, self.fmin, self.fmax, self.spectrum,
                              self.window, self.eps)
    return out.astype(self.dtype)
