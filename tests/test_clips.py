"""The synthetic clip world: time-reversal symmetry (why order-blind models sit at chance),
sync that needs sound and picture, captions, splits and bad input."""

import dataclasses

import numpy as np
import pytest

from mmjax.data.synthetic import clips
from mmjax.data.synthetic.clips import ClipWorld, reverse, sample_clip

FRAMES = 8


def sampled(n, seed=0, **kw):
  rng = np.random.default_rng(seed)
  return [sample_clip(rng, FRAMES, **kw) for _ in range(n)]


def test_reverse_plays_the_frames_and_the_sound_backwards_with_the_opposite_labels():
  for clip in sampled(20):
    back = reverse(clip)
    np.testing.assert_array_equal(clips.render_clip(back, 24), clips.render_clip(clip, 24)[::-1])
    np.testing.assert_allclose(clips.sound_track(back), clips.sound_track(clip)[::-1], atol=1e-6)
    assert back.direction == clips.OPPOSITE[clip.direction] and back.event != clip.event
    again = reverse(back)  # the mover's start, up to float rounding
    assert back.sync == clip.sync and again.mover.x == pytest.approx(clip.mover.x)
    assert dataclasses.replace(again, mover=clip.mover) == clip


def test_the_sampler_is_symmetric_under_reversal():
  """Each clip's reversal is drawn as often: the counts of (direction, event, event_frame,
  tone_frame) and of their reversals agree within sampling noise."""
  draws = sampled(20000, seed=1)
  key = lambda c: (c.direction, c.event, c.event_frame, c.tone_frame)
  counts = {}
  for c in draws:
    counts[key(c)] = counts.get(key(c), 0) + 1
  for k, n in counts.items():
    m = counts.get(key(reverse(next(c for c in draws if key(c) == k))), 0)
    assert abs(n - m) <= 4 * np.sqrt(n + m) + 1, (k, n, m)


def bag_and_order_features(videos):
  """Per clip [frames, size, size, 3]: the per-pixel mean and std over frames (a bag of frames:
  blind to their order), and the differences of consecutive frames (which need it)."""
  n = len(videos)
  return (np.concatenate([videos.mean(1).reshape(n, -1), videos.std(1).reshape(n, -1)], 1),
          np.diff(videos, axis=1).reshape(n, -1))


def linear_accuracy(train_x, train_y, test_x, test_y, k):
  """Ridge regression onto one-hot labels, the argmax on the test set."""
  mean = train_x.mean(0)
  x, test_x = train_x - mean, test_x - mean
  w = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ np.eye(k)[train_y])
  return float(((test_x @ w).argmax(1) == test_y).mean())


def test_order_labels_are_at_chance_for_a_bag_of_frames_and_not_with_order():
  """The same linear model on order-blind features stays at the order-blind limit (0.5: the
  axis of motion, or nothing); on consecutive differences it is far above (0.88 / 0.92)."""
  world = ClipWorld(seed=0, image_size=12, noise=0.0)
  split = {s: [world.example(s, i, ("video", "labels")) for i in range(n)]
           for s, n in (("train", 1500), ("test", 600))}
  feats = {s: bag_and_order_features(np.stack([e["video"] for e in ex]))
           for s, ex in split.items()}
  for label in ("direction", "event"):
    y = {s: np.array([e["labels"][label] for e in ex]) for s, ex in split.items()}
    info = clips.label_info(label)
    blind, ordered = (linear_accuracy(feats["train"][j], y["train"], feats["test"][j],
                                      y["test"], info["num_classes"]) for j in (0, 1))
    # 600 test clips: a binomial std of 0.02 around the order-blind limit.
    assert blind < info["order_blind"] + 0.07, (label, blind)
    assert ordered > info["order_blind"] + 0.25, (label, ordered)


def test_sync_needs_sound_and_picture():
  """Given either sync value, the tone's boundary and the event's are each uniform: neither
  alone predicts sync; together they decide it."""
  draws = sampled(14000, seed=2)
  for on in (False, True):
    chosen = [c for c in draws if c.sync == on]
    for field in ("tone_frame", "event_frame"):
      freq = np.bincount([getattr(c, field) for c in chosen], minlength=FRAMES)[1:] / len(chosen)
      np.testing.assert_allclose(freq, 1 / (FRAMES - 1), atol=0.02)
  assert all(abs(c.tone_frame - c.event_frame) >= 2 for c in draws if not c.sync)
  assert clips.label_info("sync") == {"num_classes": 2, "chance": 0.5, "bayes_optimal": 1.0,
                                      "audio_only": 0.5, "video_only": 0.5}


def test_the_tone_sounds_at_its_boundary():
  clip = sampled(1)[0]
  wave = clips.sound_track(clip, sample_rate=8000, frame_seconds=0.125)
  assert wave.shape == (8000,)
  peak_seconds = np.argmax(np.abs(wave)) / 8000
  assert abs(peak_seconds - clip.tone_frame * 0.125) < 0.002


def test_captions_say_what_happens_and_use_the_vocabulary():
  vocab = set(ClipWorld.vocabulary())
  for clip in sampled(50):
    for caption in clip.captions():
      words = caption.split()
      assert clip.direction in words and clip.event in words, caption
      assert set(words) <= vocab, caption
    assert reverse(clip).captions() != clip.captions()


def test_examples_are_deterministic_and_held_out_pairs_only_in_test_compositional():
  held = (("circle", "red"),)
  world = ClipWorld(seed=3, image_size=8, held_out=held)
  a = world.example("train", 5, ("video", "caption", "audio", "labels"))
  b = world.example("train", 5, ("labels", "video"))
  np.testing.assert_array_equal(a["video"], b["video"])
  assert a["labels"] == b["labels"] and a["video"].shape == (FRAMES, 8, 8, 3)
  pairs = lambda c: {(o.shape, o.colour) for o in (c.mover, c.other)}
  assert not any(pairs(world.clip(s, i)) & set(held) for s in ("train", "val", "test")
                 for i in range(200))
  assert all(pairs(world.clip("test_compositional", i)) & set(held) for i in range(50))


@pytest.mark.parametrize("kwargs,match", [
    (dict(frames=5), "frames=5; valid: >= 6"),
    (dict(frame_seconds=0.01), "frame_seconds=0.01; valid: >= 0.03"),
    (dict(held_out=(("circle", "mauve"),)), "mauve"),
])
def test_bad_options_name_the_valid_ones(kwargs, match):
  with pytest.raises(ValueError, match=match):
    ClipWorld(**kwargs)
  with pytest.raises(ValueError, match="split='dev'; valid: train"):
    ClipWorld().example("dev", 0)
  with pytest.raises(ValueError, match="label='speed'; valid: direction, event, sync"):
    clips.label_info("speed")
