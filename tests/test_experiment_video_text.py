"""Video-text retrieval and video captioning on the synthetic clips: both experiments learn on
their tiny presets and report the frame-order keys; the keys' claims (a clip's time-reversed
caption swaps both motion words; a model blind to order prefers true to reversed captions
exactly half the time) hold; bad configs fail before compiling."""

import json

import jax
import numpy as np
import pytest

from experiments import video_captioning, video_retrieval
from mmjax import models
from mmjax.data import sources
from mmjax.data.synthetic import clips
from mmjax.registry import ConfigError
from mmjax.tasks import image_text, video_text
from tests.scripts import preset, train_losses

LEARN = {"total_steps": 60, "log_every_steps": 20, "checkpoint.every_steps": 60,
         "optimizer.lr": 3e-3}


def test_retrieval_tiny_learns_and_reports_the_frame_order_keys(tmp_path):
  """A batch of 16 at chance has contrastive loss ln 16 = 2.77; in 60 steps the train loss
  (first to last 20-step window) falls from 3.07 to 1.99, 2.96 to 2.08, 2.84 to 2.19 with
  seed and data.seed 0, 1, 2."""
  results = video_retrieval.run(preset("configs/video_retrieval.py:tiny", **LEARN),
                                str(tmp_path))
  assert json.load(open(tmp_path / "results.json")) == results
  losses = train_losses(tmp_path)
  assert len(losses) == 3 and losses[-1] < np.log(16) - 0.4, losses
  assert results["step"] == 60 and results["video_tower"] == "frames"
  assert results["v2t/R@5"] > results["v2t/chance_R@5"]
  for prefix in ("", "shuffled_frames/", "compositional/"):
    for k in ("v2t/R@1", "t2v/R@10", *(f"{n}/accuracy" for n in video_text.NEGATIVES)):
      assert 0.0 <= results[prefix + k] <= 1.0, prefix + k


def test_captioning_tiny_learns_and_scores_motion_words(tmp_path, capsys):
  """In 60 steps the train loss falls by 1.21, 1.16, 1.20 (first to last 20-step window; seed
  and data.seed 0, 1, 2) and greedy BLEU-4 from 0.01 (4 steps) to 0.25 (seed 0)."""
  results = video_captioning.run(preset("configs/video_captioning.py:tiny", **LEARN),
                                 str(tmp_path))
  assert json.load(open(tmp_path / "results.json")) == results
  losses = train_losses(tmp_path)
  assert len(losses) == 3 and losses[-1] < losses[0] - 0.8, losses
  assert results["greedy/BLEU-4"] > 0.1
  assert results["motion/order_blind/accuracy"] == 0.5
  for prefix in ("", "shuffled_frames/", "compositional/"):
    for name in ("greedy", "beam3"):
      for k in ("CIDEr-D", "motion/direction_accuracy", "motion/accuracy"):
        assert f"{prefix}{name}/{k}" in results
  examples = json.load(open(tmp_path / "examples.json"))
  assert len(examples) == 4 and {"greedy", "shuffled_frames/greedy"} <= set(examples[0])
  assert "shuffled_frames/greedy" in capsys.readouterr().out


def test_negative_captions_swap_the_motion_words_in_the_same_paraphrase():
  world = clips.ClipWorld(seed=0, image_size=8)
  test = video_text.evaluation_clips(world, "test", 6)
  assert test["video"].shape == (6, 8, 8, 8, 3) and len(test["references"][0]) == 4
  for i in range(6):
    true = test["captions"][i].split()
    d, e = clips.DIRECTIONS[test["direction"][i]], clips.EVENTS[test["event"][i]]
    swap = {d: clips.OPPOSITE[d], e: clips.EVENTS[1 - test["event"][i]]}
    expect = {"time_reversed": [swap.get(w, w) for w in true],
              "direction_swapped": [swap[w] if w == d else w for w in true],
              "event_swapped": [swap[w] if w == e else w for w in true]}
    for name in video_text.NEGATIVES:
      assert test[name][i].split() == expect[name], (name, test[name][i])
  assert video_text.motion_words("a red square moves up and a blue circle appears") == (
      "up", "appears")
  said = ["a x moves up and a y appears", "a x moves down", "nothing"]
  assert video_text.motion_accuracy(said, [2, 3, 0], [0, 0, 1]) == {
      "direction_accuracy": 2 / 3, "event_accuracy": 1 / 3, "accuracy": 1 / 3}


def test_a_model_blind_to_frame_order_prefers_the_true_caption_half_the_time(tmp_path):
  """Each test clip and its exact reversal (frames backwards, captioned by the time-reversed
  caption): a tower that averages its frames embeds both alike, so it prefers the true caption
  on exactly one of each pair, whatever its weights."""
  config = preset("configs/video_retrieval.py:tiny", **{"model.video.frames.temporal": "mean"})
  world = sources.build(config.data)
  tokenizer = image_text.word_tokenizer(world, str(tmp_path))
  test = video_text.evaluation_clips(world, "test", 8)
  video = sources.normalize(np.concatenate([test["video"], test["video"][:, ::-1]]))
  true = test["captions"] + test["time_reversed"]
  reversed_ = test["time_reversed"] + test["captions"]
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  model = image_text.two_tower(config.model, tokenizer.vocab_size, config.data.text_len,
                               visual="video")
  init = jax.jit(image_text.init_fn(model, video[:1], tokens(true[:1])))  # eager: 2x slower
  params = init(jax.random.key(0))[0]
  zvid = image_text.embed_images(model, 16)(params, video)[0]
  np.testing.assert_allclose(zvid[:8], zvid[8:], atol=1e-5)
  texts = image_text.embed_texts(model, tokens, 16)
  assert video_text.preference(zvid, texts(params, true), texts(params, reversed_)) == 0.5


def test_the_visual_tower_is_an_image_or_a_video_encoder():
  assert models.visual_encoders("video") is models.VIDEO_ENCODERS
  with pytest.raises(ValueError, match="visual='audio'; valid: image, video"):
    models.visual_encoders("audio")


def test_preference_counts_ties_as_half():
  z = np.eye(3, dtype=np.float32)
  assert video_text.preference(z, z, z[::-1]) == pytest.approx((2 + 0.5) / 3)


@pytest.mark.parametrize("experiment,config,overrides,match", [
    (video_retrieval, "configs/video_retrieval.py:tiny", {"model.video.name": "vivid"},
     'Did you mean "vivit"'),
    (video_retrieval, "configs/video_retrieval.py:tiny", {"data.source.name": "shapes"},
     "this experiment reads clips"),
    (video_captioning, "configs/video_captioning.py:tiny", {"model.video.name": "vivid"},
     'Did you mean "vivit"'),
    (video_captioning, "configs/video_captioning.py:tiny", {"eval.beam_size": 0},
     "eval.beam_size=0"),
])
def test_bad_configs_fail_before_compiling(tmp_path, experiment, config, overrides, match):
  with pytest.raises(ConfigError, match=match):
    experiment.run(preset(config, **overrides), str(tmp_path))
  assert not (tmp_path / "checkpoints").exists()
