"""Audio-visual event localisation on the clips (clips.py), in the spirit of the AVE benchmark
(Tian et al. 2018, "Audio-Visual Event Localization in Unconstrained Videos"): a segment holds
an audio-visual event when the event is both seen and heard in it.

A clip of F frames has S = F - 1 segments, one per frame boundary: segment s (0-based) is
boundary s + 1, where frame s gives way to frame s + 1, with the sound from half a frame before
it to half a frame after. Segment s holds an audio-visual event when the other object appears
or disappears there (event_frame == s + 1) and the tone sounds there (tone_frame == s + 1). So
an in-sync clip has exactly one, an off-sync clip none (its tone and change are >= 2 segments
apart): the event is only in sound and picture together.

Labels per clip: `segment_labels` int [S] (1: an audio-visual event) and `where`, the
localisation class (0: no event, s + 1: segment s). Metrics (mmjax/evaluate/event_localisation.py):
  segment_accuracy  per-segment accuracy, AVE's measure;
  exact             the clip's every segment right: the right segment, or "no event" when none;
  detection         has an event or not, right.

`limits(frames)` gives the best each observer can reach on each metric, computed exactly from
the sampler's distribution (`joint`: event_frame uniform on 1..F-1; in sync with probability
1/2, otherwise the tone shifted cyclically by 2..F-3 boundaries):
  chance         nothing: the best constant answer, "no event" everywhere (exact, detection 0.5).
  audio_only     the tone's boundary: in sync or not is a coin flip given it (clips.py), so
                 exact and detection stay at 0.5 and segment_accuracy at chance's.
  video_only     the change's boundary: likewise.
  order_blind    the sound in order, the frames as a bag: the bag is the clip up to time
                 reversal (clips.py), the change's boundary known up to b <-> F - b; wrong only
                 when an off-sync tone falls on the mirror boundary (F = 8: exact 13/14).
  bayes_optimal  both in order: every metric 1 (pixel noise and the sound's noise hide nothing).
Per-segment accuracy is high for every observer (an event fills one segment in 2(F - 1)):
exact localisation is the measure that separates them.
"""

import collections

import numpy as np

from mmjax.data.synthetic.clips import Clip

METRICS = ("segment_accuracy", "exact", "detection")
# What each observer sees of a clip with change at boundary e and tone at t, F frames.
OBSERVERS = {
    "chance": lambda e, t, f: (),
    "audio_only": lambda e, t, f: t,
    "video_only": lambda e, t, f: e,
    "order_blind": lambda e, t, f: (t, min(e, f - e)),
    "bayes_optimal": lambda e, t, f: (e, t),
}


def segment_labels(clip: Clip) -> np.ndarray:
  """int32 [frames - 1]: 1 at the segment (frame boundary) holding the audio-visual event."""
  labels = np.zeros(clip.frames - 1, np.int32)
  if clip.sync:
    labels[clip.event_frame - 1] = 1
  return labels


def where(clip: Clip) -> int:
  """The localisation class: 0 for no audio-visual event, else its segment + 1."""
  return clip.event_frame if clip.sync else 0


def joint(frames: int) -> list:
  """[(probability, event_frame, tone_frame)]: every (change, tone) boundary pair
  clips.sample_clip draws, with its probability (the entries sum to 1)."""
  boundaries, shifts = frames - 1, range(2, frames - 2)
  out = []
  for e in range(1, frames):
    out.append((0.5 / boundaries, e, e))
    out += [(0.5 / boundaries / len(shifts), e, 1 + (e - 1 + s) % boundaries) for s in shifts]
  return out


def _best(pairs) -> float:
  """sum over observations of the largest P(observation, answer): the accuracy of answering
  each observation's most probable answer. pairs: [(probability, observation, answer)]."""
  mass = collections.defaultdict(float)
  for p, obs, answer in pairs:
    mass[obs, answer] += p
  best = collections.defaultdict(float)
  for (obs, _), p in mass.items():
    best[obs] = max(best[obs], p)
  return float(sum(best.values()))


def limits(frames: int = 8) -> dict:
  """{observer: {metric: the best accuracy it can reach}} for `OBSERVERS` and `METRICS`, on
  clips of `frames` frames (see the module docstring)."""
  if frames < 6:
    raise ValueError(f"frames={frames}; valid: >= 6 (clips.sample_clip's).")
  draws = joint(frames)
  out = {}
  for name, see in OBSERVERS.items():
    obs = [(p, see(e, t, frames), e, t) for p, e, t in draws]
    segments = [_best((p, o, int(e == t == s + 1)) for p, o, e, t in obs)
                for s in range(frames - 1)]
    best = {"segment_accuracy": float(np.mean(segments)),
            "exact": _best((p, o, e if e == t else 0) for p, o, e, t in obs),
            "detection": _best((p, o, e == t) for p, o, e, t in obs)}
    out[name] = {k: round(v, 12) for k, v in best.items()}  # sums of fractions: float dust
  return out
