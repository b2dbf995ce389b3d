"""A synthetic tonal language: every word has its own sound, and sentences are spoken with
random speed, pitch, pauses and background noise.

A word's sound signature is a deterministic function of its spelling (a hash seeds it, so it
never changes between runs or machines): 80-200 ms of 2-3 harmonics of a fundamental between
120 and 360 Hz that follows the word's own pitch contour (a quadratic in semitones through
three points within +-5 of the fundamental), each harmonic fading between its own start and end
amplitude (a formant-like pattern), under a 10 ms smooth attack and release. Like a tone language,
the contour is part of the word's identity; the speaker's pitch shift moves every word alike.

`speak(words, rng)` -> (wave [samples] float32, starts, ends [words] int32); word w occupies
samples starts[w] <= t < ends[w], everything else is silence plus noise. Synthesis is
vectorised over all the samples of the sentence (no per-sample or per-word Python loop beyond
looking up the cached signatures); a 2 s sentence takes 1-3 ms of CPU.
"""

import dataclasses
import functools
import hashlib
from typing import Optional, Sequence, Tuple

import numpy as np

MIN_RATE, MAX_RATE = 8000, 16000
RAMP_SECONDS = 0.01
PEAK = 0.5  # a word's peak amplitude before noise


@dataclasses.dataclass(frozen=True)
class Voice:
  """Ranges the speaker's variation is drawn from, uniformly, once per sentence.

  speed: how fast words are spoken (1 = the signature's duration); pitch: shift in semitones;
  gap / edge: silence between words / before the first and after the last word, in seconds;
  word_jitter: each word's own speed varies by up to this fraction around the sentence's.
  """
  speed: Tuple[float, float] = (0.85, 1.2)
  pitch: Tuple[float, float] = (-2.0, 2.0)
  gap: Tuple[float, float] = (0.02, 0.08)
  edge: Tuple[float, float] = (0.02, 0.1)
  word_jitter: float = 0.05


STEADY = Voice(speed=(1.0, 1.0), pitch=(0.0, 0.0), word_jitter=0.0)  # no speaker variation


@functools.lru_cache(maxsize=4096)
def signature(word: str) -> np.ndarray:
  """A word's sound parameters [12] float64: duration (s), fundamental (Hz), contour in
  semitones at the start / middle / end, number of harmonics (2 or 3), and the three
  harmonics' start and end amplitudes (the third is 0 when there are 2 harmonics)."""
  seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
  rng = np.random.default_rng(seed)
  duration = rng.uniform(0.08, 0.2)
  f0 = np.exp(rng.uniform(np.log(120.0), np.log(360.0)))
  contour = rng.uniform(-5.0, 5.0, size=3)
  harmonics = 2 + int(rng.integers(2))
  amps = rng.uniform(0.15, 1.0, size=(2, 3))
  amps[:, harmonics:] = 0.0
  sig = np.concatenate([[duration, f0], contour, [harmonics], amps.ravel()])
  sig.flags.writeable = False
  return sig


def _synthesise(sigs, lengths, pitch_shift, sample_rate):
  """Voiced samples of consecutive words, concatenated: [sum(lengths)] float32."""
  per_sample = lambda values: np.repeat(np.asarray(values, np.float32), lengths)
  first = np.cumsum(lengths) - lengths
  offset = (np.arange(lengths.sum()) - np.repeat(first, lengths)).astype(np.float32)
  size = per_sample(lengths)
  u = (offset + 0.5) / size  # position within the word in (0, 1)
  s0, s1, s2 = sigs[:, 2], sigs[:, 3], sigs[:, 4]
  # Quadratic through (0, s0), (1/2, s1), (1, s2), in semitones, as a Horner polynomial in u.
  c1, c2 = 4 * s1 - 3 * s0 - s2, 2 * s0 - 4 * s1 + 2 * s2
  semitones = per_sample(s0 + pitch_shift) + u * (per_sample(c1) + u * per_sample(c2))
  freq = per_sample(sigs[:, 1] * (2 * np.pi / sample_rate)) * np.exp2(semitones / 12.0)
  phase = np.cumsum(freq, dtype=np.float64)  # float64: it grows to thousands of radians
  phase -= np.repeat(phase[first], lengths)  # every word starts at phase 0
  phase = np.remainder(phase, 2 * np.pi).astype(np.float32)
  sin, cos = np.sin(phase), np.cos(phase)
  # Harmonics 2 and 3 from the fundamental's sine and cosine: two transcendentals, not three.
  harmonics = (sin, 2.0 * sin * cos, sin * (3.0 - 4.0 * sin * sin))
  tone, total = 0.0, 0.0
  for k, h in enumerate(harmonics):
    start, end = per_sample(sigs[:, 6 + k]), per_sample(sigs[:, 9 + k])
    amp = start + (end - start) * u
    tone, total = tone + amp * h, total + amp
  # Attack and release: a smoothstep over RAMP_SECONDS at each end of the word.
  x = np.minimum(1.0, np.minimum(offset + 0.5, size - offset - 0.5)
                 * np.float32(1.0 / (RAMP_SECONDS * sample_rate)))
  return (PEAK * tone / np.maximum(total, 1e-6)) * (x * x * (3.0 - 2.0 * x))


def word_sound(word: str, sample_rate: int = 8000) -> np.ndarray:
  """A word spoken alone at the signature's own speed and pitch: [samples] float32."""
  return speak([word], None, sample_rate, STEADY, snr_db=None, edge=False)[0]


def speak(words: Sequence[str], rng: Optional[np.random.Generator], sample_rate: int = 8000,
          voice: Voice = Voice(), snr_db: Optional[float] = 20.0,
          seconds: Optional[float] = None, edge: bool = True):
  """Speaks `words` -> (wave [samples] float32, starts [n] int32, ends [n] int32).

  snr_db: white background noise at this signal-to-noise ratio over the spoken samples, or
  None for silence. seconds: the wave's exact length; a sentence too long for it is spoken
  faster (words, gaps and edges shrink together) so no word is ever cut. edge=False drops the
  leading and trailing silence. rng may be None only when nothing random is asked for.
  """
  if not MIN_RATE <= sample_rate <= MAX_RATE:
    raise ValueError(f"sample_rate={sample_rate}; valid: {MIN_RATE} to {MAX_RATE} Hz.")
  if not len(words):
    raise ValueError("speak() needs at least one word.")
  n = len(words)
  uniform = lambda lo_hi, size=None: (np.full(size or (), lo_hi[0]) if lo_hi[0] == lo_hi[1]
                                      else rng.uniform(*lo_hi, size=size))
  speed, pitch_shift = uniform(voice.speed), uniform(voice.pitch)
  jitter = (1.0 + rng.uniform(-voice.word_jitter, voice.word_jitter, n) if voice.word_jitter
            else np.ones(n))
  gaps = uniform(voice.gap, n - 1) if n > 1 else np.zeros(0)
  edges = uniform(voice.edge, 2) if edge else np.zeros(2)
  sigs = np.stack([signature(w) for w in words])
  seconds_each = np.concatenate([[edges[0]], gaps, [edges[1]], sigs[:, 0] / (speed * jitter)])
  lengths = np.round(seconds_each * sample_rate).astype(np.int64)
  target = None if seconds is None else int(round(seconds * sample_rate))
  if target is not None and lengths.sum() > target:
    # Speak faster; flooring the scaled lengths keeps their sum within the target.
    scale = target / (seconds_each.sum() * sample_rate)
    lengths = np.floor(seconds_each * sample_rate * scale).astype(np.int64)
    if lengths[-n:].min() < 1:
      raise ValueError(f"seconds={seconds} is too short for {n} words at {sample_rate} Hz.")
  silences, lengths = lengths[:n + 1], lengths[n + 1:]  # before each word, then after the last
  starts = np.cumsum(silences[:n]) + np.cumsum(lengths) - lengths
  ends = starts + lengths
  length = int(ends[-1] + silences[n]) if target is None else target
  voiced = _synthesise(sigs, lengths, pitch_shift, sample_rate)
  wave = np.zeros(length, np.float32)
  wave[np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
       + np.arange(lengths.sum())] = voiced
  if snr_db is not None:
    noise_std = np.sqrt(np.mean(voiced ** 2) / 10.0 ** (snr_db / 10.0))
    wave += noise_std * rng.standard_normal(length, np.float32)
  return (np.clip(wave, -1.0, 1.0), starts.astype(np.int32),
          ends.astype(np.int32))
