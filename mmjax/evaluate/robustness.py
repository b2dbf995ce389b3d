"""Robustness to corrupted inputs: seeded, pure corruptions per modality and a sweep over their
levels that returns the metric curve (MultiBench, Liang et al. 2021, "MultiBench: Multiscale
Benchmarks for Multimodal Representation Learning", which reports such curves per modality).

Every corruption is `fn(x, level, rng) -> corrupted copy of x` with x a batch [n, ...] and rng a
`np.random.Generator`; the input is never modified. `sweep` draws every level from the same
seed, so the noise at two levels differs only in its scale (a smoother curve).
  image  gaussian_noise: x + std * N(0, 1), optionally clipped to the valid pixel range.
  audio  white_noise: white Gaussian noise at a signal-to-noise ratio in dB, per example.
  text   token_dropout: each word token removed with probability p (the rest close up);
         token_replacement: each word token replaced by a random vocabulary word with prob. p.
  video  shuffle_frames: each clip's frames in a random order (time destroyed, frames intact).
  any    drop: the modality replaced by a constant (zeros, or the padding id for tokens).
"""

import dataclasses
from typing import Callable, Mapping, Optional, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Corruption:
  """A named corruption of one modality and the levels to sweep it over."""
  name: str                  # e.g. "gaussian_noise"
  fn: Callable               # (x [n, ...], level, rng) -> corrupted copy of x
  levels: Sequence[float]    # increasing severity
  level_name: str = "level"  # the x axis of its curve, e.g. "noise std (pixels in [0, 1])"


def gaussian_noise(x, std: float, rng: np.random.Generator, clip=None) -> np.ndarray:
  """x + std * N(0, 1) (same dtype), clipped to clip=(low, high) when given."""
  if std < 0:
    raise ValueError(f"std={std}; valid: >= 0.")
  x = np.asarray(x)
  out = x + std * rng.standard_normal(x.shape)
  if clip is not None:
    out = np.clip(out, *clip)
  return out.astype(x.dtype)


def white_noise(waves, snr_db: float, rng: np.random.Generator) -> np.ndarray:
  """waves [n, samples] plus white Gaussian noise whose power is each wave's mean power / 10^(snr
  / 10). A silent wave stays silent (its SNR is undefined)."""
  waves = np.asarray(waves)
  if waves.ndim < 2:
    raise ValueError(f"waves {waves.shape} must be a batch [n, samples].")
  power = np.mean(np.square(waves.astype(np.float64)), axis=tuple(range(1, waves.ndim)),
                  keepdims=True)
  std = np.sqrt(power / 10.0 ** (snr_db / 10.0))
  return (waves + std * rng.standard_normal(waves.shape)).astype(waves.dtype)


def _word_mask(tokens, pad_id, protected):
  return (tokens != pad_id) & ~np.isin(tokens, np.asarray(protected, tokens.dtype))


def _check_probability(p):
  if not 0.0 <= p <= 1.0:
    raise ValueError(f"p={p}; valid: a probability in [0, 1].")


def token_dropout(tokens, p: float, rng: np.random.Generator, pad_id: int = 0,
                  protected: Sequence[int] = ()) -> np.ndarray:
  """tokens int [n, length] with each word token (not padding, not `protected` ids such as
  <eos>) removed with probability p; the kept tokens keep their order and close up, padding
  fills the end."""
  _check_probability(p)
  tokens = np.asarray(tokens)
  removed = _word_mask(tokens, pad_id, protected) & (rng.random(tokens.shape) < p)
  keep = (tokens != pad_id) & ~removed
  # A stable sort on "not kept" moves the kept tokens to the front in their order.
  order = np.argsort(~keep, axis=1, kind="stable")
  out = np.take_along_axis(np.where(keep, tokens, pad_id), order, axis=1)
  return out.astype(tokens.dtype)


def token_replacement(tokens, p: float, rng: np.random.Generator, vocab_size: int,
                      pad_id: int = 0, protected: Sequence[int] = ()) -> np.ndarray:
  """tokens int [n, length] with each word token replaced, with probability p, by a uniform
  draw from the vocabulary's ids other than padding and `protected` (it may draw itself)."""
  _check_probability(p)
  tokens = np.asarray(tokens)
  candidates = np.setdiff1d(np.arange(vocab_size), [pad_id, *protected])
  if candidates.size == 0:
    raise ValueError(f"vocab_size={vocab_size} leaves no word ids besides padding and "
                     f"protected {tuple(protected)}.")
  hit = _word_mask(tokens, pad_id, protected) & (rng.random(tokens.shape) < p)
  draws = candidates[rng.integers(candidates.size, size=tokens.shape)]
  return np.where(hit, draws, tokens).astype(tokens.dtype)


def shuffle_frames(video, seed) -> np.ndarray:
  """video [n, frames, ...] with each clip's frames in its own random order; seed: an int or a
  np.random.Generator. A model that uses time falls towards what order-blind models reach."""
  video = np.asarray(video)
  rng = np.random.default_rng(seed)
  order = np.stack([rng.permutation(video.shape[1]) for _ in range(len(video))])
  return np.take_along_axis(video, order.reshape(order.shape + (1,) * (video.ndim - 2)), 1)


def drop(x, fill=0) -> np.ndarray:
  """The modality removed: x replaced by `fill` (zeros; the padding id for tokens)."""
  return np.full_like(np.asarray(x), fill)


def sweep(probabilities: Callable, inputs: Mapping[str, np.ndarray], labels, modality: str,
          corruption: Corruption, score: Callable, seed: int = 0) -> dict:
  """The metric curve of one corruption of one modality; the other modalities stay clean.

  probabilities(inputs {modality: [n, ...]}) -> [n, classes]; score(labels, probs) -> {metric:
  float}. Returns {"corruption", "level_name", "levels": [L], metric: [L] for each metric, and
  "relative_robustness": {metric: area under the curve with the levels spaced evenly over
  [0, 1]} (MultiBench's relative robustness)}.
  """
  if modality not in inputs:
    raise ValueError(f"modality={modality!r} is not an input; valid: {', '.join(inputs)}.")
  levels = [float(v) for v in corruption.levels]
  if not levels:
    raise ValueError(f"corruption {corruption.name!r} has no levels.")
  curve = {}
  for level in levels:
    rng = np.random.default_rng(seed)
    x = dict(inputs, **{modality: corruption.fn(inputs[modality], level, rng)})
    for k, v in score(labels, probabilities(x)).items():
      curve.setdefault(k, []).append(float(v))
  area = {k: float(np.trapezoid(v, dx=1.0 / (len(v) - 1))) if len(v) > 1 else v[0]
          for k, v in curve.items()}
  return {"corruption": corruption.name, "level_name": corruption.level_name,
          "levels": levels, **curve, "relative_robustness": area}


def robustness_curves(probabilities: Callable, inputs: Mapping[str, np.ndarray], labels,
                      corruptions: Mapping[str, Sequence[Corruption]], score: Callable,
                      seed: int = 0, modalities: Optional[Sequence[str]] = None) -> dict:
  """{modality: {corruption name: sweep(...)}} for every corruption of every modality in
  `modalities` (default: those of `inputs` that have corruptions)."""
  modalities = [m for m in inputs if m in corruptions] if modalities is None else modalities
  return {m: {c.name: sweep(probabilities, inputs, labels, m, c, score, seed)
              for c in corruptions[m]} for m in modalities}
