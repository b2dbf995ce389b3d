"""Host-side waveform preprocessing ops, chosen by name from the config.

  ops = AudioOps([{"op": "resample", "rate": 16000}, {"op": "pad_or_crop", "length": 16000},
                  {"op": "normalize_gain", "target_db": -20}])
  wave, rate = ops(wave, rate=8000, seed=(run_seed, example_position))

Each op maps a mono float32 waveform [samples] and its sample rate to new ones; random ops draw
only from the generator made from the example's seed (byte-identical batches for equal seeds).
The log-mel spectrogram is deliberately not here: it is part of the model
(`mmjax.models.audio.log_mel`), so it runs jitted on the accelerator and its settings live
with the model's.
"""

import dataclasses
import math
from typing import Optional

import numpy as np

from mmjax.data.image_ops import build_op_list
from mmjax.registry import Registry

AUDIO_OPS = Registry("audio op")
_EPS = 1e-12


def pcm_to_float(wave: np.ndarray) -> np.ndarray:
  """Integer PCM (any width) or float samples [samples] or [samples, channels] -> mono float32
  [samples] in [-1, 1]; channels are averaged."""
  x = np.asarray(wave)
  if np.issubdtype(x.dtype, np.unsignedinteger):  # 8-bit WAV is unsigned, centred at 128.
    half = 2.0 ** (8 * x.dtype.itemsize - 1)
    x = (x.astype(np.float64) - half) / half
  elif np.issubdtype(x.dtype, np.integer):
    x = x.astype(np.float64) / 2.0 ** (8 * x.dtype.itemsize - 1)
  if x.ndim == 2:
    x = x.mean(axis=1)
  if x.ndim != 1:
    raise ValueError(f"audio has shape {x.shape}; expected [samples] or [samples, channels].")
  return x.astype(np.float32)


def resample(wave: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
  """Polyphase resampling (scipy.signal.resample_poly: a Kaiser-windowed anti-alias FIR)."""
  if rate == new_rate:
    return np.asarray(wave, np.float32)
  # Imported here: scipy.signal takes seconds to import, which every manifest load (and
  # `python -m mmjax.data.validate`) would pay without ever resampling.
  import scipy.signal  # pylint: disable=g-import-not-at-top
  g = math.gcd(int(rate), int(new_rate))
  return scipy.signal.resample_poly(wave, new_rate // g, rate // g).astype(np.float32)


@AUDIO_OPS.register("resample")
@dataclasses.dataclass(frozen=True)
class Resample:
  rate: int

  def __call__(self, x, rate, rng):
    if self.rate <= 0:
      raise ValueError(f"resample: rate={self.rate} must be positive.")
    return resample(x, rate, self.rate), self.rate


@AUDIO_OPS.register("pad_or_crop")
@dataclasses.dataclass(frozen=True)
class PadOrCrop:
  """To exactly `length` samples: zero-pad at the end, or crop a window at `where`."""
  length: int
  where: str = "start"  # start | center | random

  def __call__(self, x, rate, rng):
    if self.where not in ("start", "center", "random"):
      raise ValueError(f"pad_or_crop: where={self.where!r}; valid: start, center, random.")
    slack = max(len(x) - self.length, 0)
    start = {"start": 0, "center": slack // 2}.get(self.where)
    if start is None:
      start = int(rng.integers(slack + 1))
    return pad_or_crop(x, self.length, start), rate


def pad_or_crop(x: np.ndarray, length: int, start: int = 0) -> np.ndarray:
  """x[start:start + length], zero-padded at the end when x is shorter than `length`."""
  if len(x) < length:
    return np.pad(x, (0, length - len(x)))
  return x[start:start + length]


@AUDIO_OPS.register("normalize_gain")
@dataclasses.dataclass(frozen=True)
class NormalizeGain:
  """Scales the clip to a target level in dBFS: its RMS (loudness-like) or its peak. Silent
  clips stay silent."""
  target_db: float = -20.0
  mode: str = "rms"  # rms | peak

  def __call__(self, x, rate, rng):
    if self.mode not in ("rms", "peak"):
      raise ValueError(f"normalize_gain: mode={self.mode!r}; valid: rms, peak.")
    if self.mode == "rms":
      level = np.sqrt(np.mean(np.square(x, dtype=np.float64)))
    else:
      level = np.abs(x).max(initial=0.0)
    if level < _EPS:
      return x, rate
    return (x * (10.0 ** (self.target_db / 20.0) / level)).astype(np.float32), rate


@AUDIO_OPS.register("add_noise")
@dataclasses.dataclass(frozen=True)
class AddNoise:
  """White Gaussian noise at a signal-to-noise ratio of `snr_db` (relative to the clip's own
  mean power), as in robustness evaluations (MultiBench, Liang et al. 2021)."""
  snr_db: float

  def __call__(self, x, rate, rng):
    return add_noise(x, self.snr_db, rng), rate


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator,
              signal_power: Optional[float] = None) -> np.ndarray:
  """x + white noise whose power is signal_power / 10**(snr_db / 10); signal_power defaults to
  x's mean power (pass the unpadded clip's when x is zero-padded)."""
  power = np.mean(np.square(x, dtype=np.float64)) if signal_power is None else signal_power
  std = np.sqrt(power / 10.0 ** (snr_db / 10.0))
  return (x + std * rng.standard_normal(len(x))).astype(np.float32)


class AudioOps:
  """A sequence of audio ops. Call with a waveform (int PCM or float, mono or [samples,
  channels]), its sample rate and its seed -> (float32 [samples'], rate')."""

  def __init__(self, specs=(), key: str = "audio_ops"):
    self.ops = build_op_list(AUDIO_OPS, specs, key)

  def __call__(self, wave: np.ndarray, rate: int, seed):
    x = pcm_to_float(wave)
    rng = np.random.default_rng(seed)
    for op in self.ops:
      x, rate = op(x, rate, rng)
    return np.ascontiguousarray(x, np.float32), rate

  def batch(self, waves, rates, seeds) -> np.ndarray:
    """n waveforms, their rates and seeds -> float32 [n, samples]."""
    out = [self(w, r, s) for w, r, s in zip(waves, rates, seeds)]
    shapes = {(len(x), r) for x, r in out}
    if len(shapes) > 1:
      raise ValueError(f"clips end with different (samples, rate) {sorted(shapes)}; add "
                       "resample and pad_or_crop ops to audio_ops.")
    return np.stack([x for x, _ in out]) if out else np.zeros((0, 0), np.float32)
