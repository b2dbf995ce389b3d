"""Audio-visual event localisation labels of the clips: the labels, the exact distribution and
limits against the sampler's draws, the metrics, and the pooling of tokens to segments."""

import collections
import functools

import numpy as np
import pytest

from mmjax.data.synthetic import av_events, clips
from mmjax.evaluate.event_localisation import localisation_metrics
from mmjax.models.event_localiser import segment_pool, segment_weights

FRAMES = 8


@functools.lru_cache()
def draws(n, seed=0):
  rng = np.random.default_rng(seed)
  return tuple(clips.sample_clip(rng, FRAMES) for _ in range(n))


def test_an_event_is_where_the_tone_and_the_change_meet():
  for clip in draws(10000)[:200]:
    labels = av_events.segment_labels(clip)
    assert labels.shape == (FRAMES - 1,) and labels.sum() == int(clip.sync)
    if clip.sync:
      assert labels[clip.event_frame - 1] == labels[clip.tone_frame - 1] == 1
      assert av_events.where(clip) == clip.event_frame
    else:
      assert av_events.where(clip) == 0


def test_joint_is_the_samplers_distribution():
  """The exact (event_frame, tone_frame) probabilities equal the frequencies of 10000 draws
  within 4 binomial standard deviations."""
  exact = collections.defaultdict(float)
  for p, e, t in av_events.joint(FRAMES):
    exact[e, t] += p
  assert sum(exact.values()) == pytest.approx(1.0)
  n = 10000
  seen = collections.Counter((c.event_frame, c.tone_frame) for c in draws(n))
  assert set(seen) <= set(exact)
  for key, p in exact.items():
    assert abs(seen[key] / n - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-9, (key, seen[key], p)


def empirical_limit(clips_drawn, observe, answer):
  """The accuracy of answering each observation with its commonest answer in the draws."""
  table = collections.defaultdict(collections.Counter)
  for c in clips_drawn:
    table[observe(c)][answer(c)] += 1
  return sum(max(counts.values()) for counts in table.values()) / len(clips_drawn)


def test_limits_hold_on_the_draws_and_unimodal_observers_sit_at_chance():
  limits = av_events.limits(FRAMES)
  # Closed forms: an event fills one segment in 2 (F - 1); off-sync tones on the mirror
  # boundary (1 in 4 shifts, for 4 of the 7 changes) fool the order-blind observer.
  for name in ("chance", "audio_only", "video_only"):
    assert limits[name] == pytest.approx(
        {"segment_accuracy": 13 / 14, "exact": 0.5, "detection": 0.5}), name
  assert limits["order_blind"] == pytest.approx(
      {"segment_accuracy": 1 - 1 / 98, "exact": 13 / 14, "detection": 13 / 14})
  assert limits["bayes_optimal"] == {m: 1.0 for m in av_events.METRICS}
  # The same limits from the sampler's own clips, observed as each observer sees them.
  sample = draws(10000)
  flip = {e: clips.EVENTS[1 - i] for i, e in enumerate(clips.EVENTS)}
  observe = {"chance": lambda c: (), "audio_only": lambda c: c.tone_frame,
             "video_only": lambda c: (c.event_frame, c.event),
             # The bag of frames: the clip or its reversal (clips.reverse), which is which unknown.
             "order_blind": lambda c: (c.tone_frame, frozenset(
                 {(c.event_frame, c.event), (FRAMES - c.event_frame, flip[c.event])})),
             "bayes_optimal": lambda c: (c.event_frame, c.tone_frame)}
  for name, see in observe.items():
    exact = empirical_limit(sample, see, av_events.where)
    detection = empirical_limit(sample, see, lambda c: c.sync)
    # 10000 draws: a binomial std below 0.005.
    assert abs(exact - limits[name]["exact"]) < 0.02, (name, exact)
    assert abs(detection - limits[name]["detection"]) < 0.02, (name, detection)


def test_limits_reject_short_clips():
  with pytest.raises(ValueError, match="frames=5; valid: >= 6"):
    av_events.limits(5)


def test_localisation_metrics():
  labels = np.array([[0, 1, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]])
  pred = np.array([[0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0]])
  m = localisation_metrics(labels, pred)
  assert m["segment_accuracy"] == pytest.approx(9 / 12)
  assert m["exact"] == 0.5 and m["detection"] == 0.75
  assert m["event_recall"] == 0.5 and m["event_precision"] == pytest.approx(1 / 3)
  with pytest.raises(ValueError, match="0 / 1 per segment"):
    localisation_metrics(labels, pred * 2)
  with pytest.raises(ValueError, match="equal, non-empty"):
    localisation_metrics(labels, pred[:, :2])


def test_segments_are_the_half_frames_either_side_of_each_boundary():
  before, after = segment_weights(FRAMES, FRAMES - 1)  # one token per frame
  np.testing.assert_allclose(before, np.eye(FRAMES - 1, FRAMES))
  np.testing.assert_allclose(after, np.eye(FRAMES - 1, FRAMES, 1))
  w = segment_weights(13, 5)  # tokens straddling the halves' edges
  np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)
  assert (w[0].argmax(1) < w[1].argmax(1)).all()


def test_the_tone_lands_in_its_segment():
  """The sound's energy, pooled to segments as the model pools audio tokens, peaks in the
  segment of the tone's boundary, half of it on either side."""
  for clip in draws(10000)[:30]:
    wave = clips.sound_track(clip)
    energy = (wave ** 2).reshape(-1, 50).mean(1)  # 160 time steps of 50 samples
    before, after = np.asarray(segment_pool(energy[None, :, None], FRAMES - 1))[0].T
    assert (before + after).argmax() == clip.tone_frame - 1
    assert before[clip.tone_frame - 1] == pytest.approx(after[clip.tone_frame - 1], rel=0.2)
