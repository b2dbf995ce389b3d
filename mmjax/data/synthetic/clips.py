"""Short clips of the shapes world: one object moves, another appears or disappears, a tone sounds.

A clip of `frames` frames holds two objects of the scene world (scenes.py), in opposite halves
of the frame so they never overlap:
  mover  crosses the frame in `direction` (left, right, up, down) at constant speed;
  other  stays put and `appears` (absent before frame `event_frame`, present from it on) or
         `disappears` (present before it, absent from it on).
The sound track, frames x frame_seconds long, holds one tone (a Hann-windowed sine) centred on
boundary `tone_frame` (the moment frame tone_frame - 1 gives way to frame tone_frame): on the
event when the clip is in sync, otherwise 2 or more frames away from it.

Labels (`LABELS`), what each needs, and the best accuracy without it (`label_info`):
  direction  4 classes, needs the order of frames; order-blind (a bag of frames): 0.5, the axis
  event      appears / disappears, needs the order of frames; order-blind: 0.5
  sync       the tone marks the event or not, needs sound and picture; either alone: 0.5
Why order-blind models sit at chance: the sampler is symmetric under time reversal.
`reverse(clip)`, the same frames backwards, is a clip the sampler draws with the same
probability, with the opposite direction and event and the same sync. The two have the same bag
of frames, so a model that ignores order answers both alike and is right on at most one. For
sync, the tone's boundary and the event's are each uniform on 1..frames-1 whether or not the
clip is in sync (off-sync, the tone is the event's boundary shifted cyclically by 2..frames-3),
so neither the sound nor the picture alone says anything about it.
"""

import dataclasses
from typing import Optional, Sequence

import numpy as np

from mmjax.data.synthetic import render
from mmjax.data.synthetic.world import SPLITS
from mmjax.data.synthetic.scenes import SIZES, Object, Scene, all_pairs, check_pairs

DIRECTIONS = ("left", "right", "up", "down")
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}
EVENTS = ("appears", "disappears")
LABELS = {"direction": DIRECTIONS, "event": EVENTS, "sync": ("off", "on")}
PATH = 0.4  # how far the mover travels, as a fraction of the side
TONE_HZ, TONE_SECONDS = 880.0, 0.06
_CAPTIONS = ("a {m} moves {d} and a {o} {e}", "a {o} {e} while a {m} moves {d}",
             "the {m} moves {d} as a {o} {e}", "there is a {m} moving {d} and a {o} that {e}")


@dataclasses.dataclass(frozen=True)
class Clip:
  """mover: its position at frame 0; other: where it stands (when present)."""
  mover: Object
  other: Object
  direction: str
  event: str
  event_frame: int  # 1..frames-1: the first frame without (appears: with) the other object
  tone_frame: int   # 1..frames-1: the boundary the tone is centred on
  frames: int

  @property
  def sync(self) -> bool:
    return self.tone_frame == self.event_frame

  def labels(self) -> dict:
    """{label: int class id}, ids indexing `LABELS[label]`."""
    return {"direction": DIRECTIONS.index(self.direction), "event": EVENTS.index(self.event),
            "sync": int(self.sync)}

  def mover_at(self, frame: int) -> Object:
    step = PATH * frame / (self.frames - 1)
    dx, dy = {"left": (-step, 0), "right": (step, 0), "up": (0, -step), "down": (0, step)}[
        self.direction]
    return dataclasses.replace(self.mover, x=self.mover.x + dx, y=self.mover.y + dy)

  def scene(self, frame: int) -> Scene:
    """What frame `frame` shows: the mover, and the other object while it is present."""
    present = (frame >= self.event_frame) == (self.event == "appears")
    return Scene((self.mover_at(frame),) + ((self.other,) if present else ()))

  def captions(self) -> list:
    return [t.format(m=self.mover.phrase, o=self.other.phrase, d=self.direction, e=self.event)
            for t in _CAPTIONS]


def reverse(clip: Clip) -> Clip:
  """The clip played backwards (frame i shows what frame frames-1-i showed)."""
  return dataclasses.replace(
      clip, mover=clip.mover_at(clip.frames - 1), direction=OPPOSITE[clip.direction],
      event=EVENTS[1 - EVENTS.index(clip.event)], event_frame=clip.frames - clip.event_frame,
      tone_frame=clip.frames - clip.tone_frame)


def sample_clip(rng: np.random.Generator, frames: int = 8, pairs: Optional[Sequence] = None,
                held_out: Sequence = (), compositional: bool = False,
                sync: Optional[bool] = None) -> Clip:
  """One clip from `rng`. pairs: the (shape, colour) pairs objects may take (None: all);
  compositional: one of the two objects, chosen uniformly, takes a `held_out` pair instead.
  sync: force the tone on (True) or off (False) the event; None draws it (probability 1/2)."""
  if frames < 6:
    raise ValueError(f"frames={frames}; valid: >= 6 (an off-sync tone is >= 2 frames away on "
                     "a cycle of frames - 1 boundaries).")
  pick = lambda xs: xs[int(rng.integers(len(xs)))]
  choices = [pairs if pairs is not None else all_pairs()] * 2
  if compositional:
    choices[int(rng.integers(2))] = list(held_out)
  attrs = [(*pick(c), pick(list(SIZES))) for c in choices]
  direction, event = pick(DIRECTIONS), pick(EVENTS)
  # The mover's path [start, start + PATH] along its axis, in one half across it; the other
  # object in the other half. Large objects (radius 0.24) in opposite bands just touch.
  start = rng.uniform(0.25, 0.35)  # centres within 0.25..0.75: large objects stay in frame
  if direction in ("left", "right"):
    along = start if direction == "right" else start + PATH
  else:
    along = start if direction == "down" else start + PATH
  band = rng.integers(2)
  across_mover, across_other = (0.26, 0.74) if band else (0.74, 0.26)
  across_mover += rng.uniform(-0.04, 0.04)
  other_along = rng.uniform(0.3, 0.7)
  if direction in ("left", "right"):
    mover_xy, other_xy = (along, across_mover), (other_along, across_other)
  else:
    mover_xy, other_xy = (across_mover, along), (across_other, other_along)
  event_frame = int(rng.integers(1, frames))
  on = bool(rng.integers(2)) if sync is None else sync
  shift = 0 if on else int(rng.integers(2, frames - 2))  # 2..frames-3
  tone_frame = 1 + (event_frame - 1 + shift) % (frames - 1)
  return Clip(Object(*attrs[0], *mover_xy), Object(*attrs[1], *other_xy), direction, event,
              event_frame, tone_frame, frames)


def render_clip(clip: Clip, size: int, rng: Optional[np.random.Generator] = None,
                noise: float = 0.0) -> np.ndarray:
  """clip -> frames [frames, size, size, 3] float32 in [0, 1], Gaussian pixel noise from rng."""
  return np.stack([render.render(clip.scene(i), size, rng, noise) for i in range(clip.frames)])


def sound_track(clip: Clip, sample_rate: int = 8000, frame_seconds: float = 0.125,
                rng: Optional[np.random.Generator] = None,
                snr_db: Optional[float] = None) -> np.ndarray:
  """The clip's sound [round(frames * frame_seconds * sample_rate)] float32: the tone centred
  on boundary `tone_frame`, plus white noise at snr_db over the tone (None: silence)."""
  length = int(round(clip.frames * frame_seconds * sample_rate))
  n = int(round(TONE_SECONDS * sample_rate))
  # The window is symmetric and the sine's phase is centred, so a clip and its reversal sound
  # the same backwards.
  t = (np.arange(n) - (n - 1) / 2) / sample_rate
  tone = (0.5 * np.hanning(n) * np.cos(2 * np.pi * TONE_HZ * t)).astype(np.float32)
  wave = np.zeros(length, np.float32)
  first = int(round(clip.tone_frame * frame_seconds * sample_rate - (n - 1) / 2))
  wave[first:first + n] = tone
  if snr_db is not None:
    std = np.sqrt(np.mean(tone ** 2) / 10.0 ** (snr_db / 10.0))
    wave += std * rng.standard_normal(length).astype(np.float32)
  return wave


def label_info(label: str) -> dict:
  """{"num_classes", "chance", "bayes_optimal", and what a model lacking the needed evidence can
  reach: "order_blind" (direction, event) or "audio_only" / "video_only" (sync)}. Classes are
  uniform; Bayes-optimal is 1 because frames and tone are drawn without corruption that hides
  them (pixel noise leaves the objects' colours far apart)."""
  if label not in LABELS:
    raise ValueError(f"label={label!r}; valid: {', '.join(LABELS)}.")
  k = len(LABELS[label])
  info = {"num_classes": k, "chance": 1.0 / k, "bayes_optimal": 1.0}
  if label == "sync":
    return {**info, "audio_only": 0.5, "video_only": 0.5}
  # direction: the bag of frames still shows the axis, halving the four classes to two.
  return {**info, "order_blind": 0.5}


class ClipWorld:
  """Clips with frames, captions, sound and labels: example `i` of a split is a pure function of
  (seed, split, i), as in SceneWorld (world.py), whose splits it shares: test_compositional
  clips have a held-out (shape, colour) pair on one object, which no other split shows.

  frames (>= 6) at frame_seconds each; image_size pixels square; noise: std of the pixel noise;
  sample_rate and snr_db (None: silence around the tone) shape the sound.
  """
  FIELDS = ("video", "caption", "audio", "labels")

  def __init__(self, seed: int = 0, image_size: int = 32, frames: int = 8, noise: float = 0.05,
               *, frame_seconds: float = 0.125, sample_rate: int = 8000,
               snr_db: Optional[float] = 20.0, held_out: Sequence = ()):
    if image_size < 1 or noise < 0 or frame_seconds <= 0:
      raise ValueError(f"image_size={image_size}, noise={noise}, frame_seconds={frame_seconds}; "
                       "valid: a positive size, noise >= 0, frame_seconds > 0.")
    if TONE_SECONDS > frame_seconds * 2:
      raise ValueError(f"frame_seconds={frame_seconds}; valid: >= {TONE_SECONDS / 2} (the tone "
                       "must fit in the clip at its first and last boundary).")
    self.seed, self.image_size, self.frames, self.noise = seed, image_size, frames, noise
    self.frame_seconds, self.sample_rate, self.snr_db = frame_seconds, sample_rate, snr_db
    self.held_out = check_pairs(held_out)
    self.pairs = [p for p in all_pairs() if p not in self.held_out] if self.held_out else None
    sample_clip(np.random.default_rng(0), frames)  # fails now on a bad frame count

  def _rng(self, split: str, index: int, stream: int = 0):
    if split not in SPLITS:
      raise ValueError(f"split={split!r}; valid: {', '.join(SPLITS)}.")
    if split == "test_compositional" and not self.held_out:
      raise ValueError("split='test_compositional' needs held-out pairs: pass "
                       "held_out=((shape, colour), ...).")
    return np.random.default_rng([self.seed, SPLITS[split], index, stream])

  def clip(self, split: str, index: int) -> Clip:
    return sample_clip(self._rng(split, index), self.frames, self.pairs, self.held_out,
                       split == "test_compositional")

  def example(self, split: str, index: int, fields: Sequence[str] = ("video", "caption")
              ) -> dict:
    """"video" [frames, size, size, 3] float32 in [0, 1], "caption" str (one of four
    paraphrases), "audio" [samples] float32, "labels" {label: int32} (`LABELS`)."""
    if isinstance(fields, str) or not set(fields) <= set(self.FIELDS):
      raise ValueError(f"fields={fields!r}; valid: a sequence of {', '.join(self.FIELDS)}.")
    clip, out = self.clip(split, index), {}
    if "video" in fields:
      out["video"] = render_clip(clip, self.image_size, self._rng(split, index, 1), self.noise)
    if "caption" in fields:
      captions = clip.captions()
      out["caption"] = captions[int(self._rng(split, index, 2).integers(len(captions)))]
    if "audio" in fields:
      out["audio"] = sound_track(clip, self.sample_rate, self.frame_seconds,
                                 self._rng(split, index, 3), self.snr_db)
    if "labels" in fields:
      out["labels"] = {k: np.int32(v) for k, v in clip.labels().items()}
    return out

  @staticmethod
  def vocabulary() -> list:
    """Every word a clip caption can use, sorted."""
    words = {w for t in _CAPTIONS for w in t.split() if "{" not in w}
    words |= set(DIRECTIONS) | set(EVENTS) | set(SIZES)
    words |= {w for shape, colour in all_pairs() for w in (shape, colour)}
    return sorted(words)
