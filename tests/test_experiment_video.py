"""The video classification experiment in-process on its tiny preset: results, eval-only and
the frame-order ablation (a model blind to order does not move), learning, video + sound, bad
config."""

import json

import numpy as np
import pytest

from experiments import video_classification as experiment
from mmjax.registry import ConfigError
from tests.scripts import preset, train_losses


def test_tiny_trains_evaluates_and_eval_only_reproduces(tmp_path, capsys):
  # Frames averaged over time: a model blind to frame order scores the same on shuffled frames.
  config = preset("configs/video.py:tiny", **{"model.encoders.video.frames.temporal": "mean"})
  results = experiment.run(config, str(tmp_path))
  assert json.load(open(tmp_path / "results.json")) == results
  assert results["step"] == 4 and results["label"] == "direction"
  assert results["modalities"] == ["video"] and results["num_test_examples"] == 16
  assert results["chance"] == 0.25 and results["order_blind"] == 0.5
  for key in ("accuracy", "shuffled_frames/accuracy", "compositional/accuracy"):
    assert 0.0 <= results[key] <= 1.0, key
  assert results["shuffled_frames/accuracy"] == results["accuracy"]
  assert "shuffled_frames/accuracy" in capsys.readouterr().out
  config.eval_only = True
  assert experiment.run(config, str(tmp_path)) == results


def test_tiny_learns_in_sixty_steps(tmp_path):
  """The tiny preset (temporal Transformer): 4 steps show nothing; 60 steps at batch 16 and lr
  3e-3 lower the train loss by 0.52, 0.53, 0.56 (first to last 20-step window) on seeds 0, 1,
  2; at lr 1e-9 by 0.04."""
  config = preset("configs/video.py:tiny", total_steps=60, log_every_steps=20, batch_size=16,
                  **{"checkpoint.every_steps": 60, "optimizer.lr": 3e-3})
  experiment.run(config, str(tmp_path))
  losses = train_losses(tmp_path)
  assert len(losses) == 3 and losses[-1] < losses[0] - 0.25, losses


def test_sync_reads_video_and_sound_and_scores_each_missing(tmp_path, capsys):
  # With placeholders (trained with modality dropout) each modality is also left out at test.
  config = preset("configs/video.py:tiny", **{"data.label": "sync",
                                              "model.modalities": ("video", "audio"),
                                              "model.missing.placeholders": True,
                                              "model.missing.modality_dropout": 0.3})
  results = experiment.run(config, str(tmp_path))
  assert results["modalities"] == ["video", "audio"] and results["label"] == "sync"
  assert results["audio_only"] == results["video_only"] == 0.5
  for gone in ("video", "audio"):
    assert 0.0 <= results[f"missing_{gone}/accuracy"] <= 1.0
  assert "missing_audio/accuracy" in capsys.readouterr().out


def test_shuffle_frames_reorders_each_clip():
  video = np.arange(3 * 6).reshape(3, 6, 1, 1, 1).astype(np.float32)
  shuffled = experiment.shuffle_frames(video, seed=0)
  assert shuffled.shape == video.shape
  for a, b in zip(video, shuffled):
    assert sorted(b.ravel()) == sorted(a.ravel())
  assert not np.array_equal(shuffled, video)


@pytest.mark.parametrize("overrides,match", [
    ({"data.label": "speed"}, "data.label='speed'; valid: direction, event, sync"),
    ({"model.modalities": ("video", "image")}, "model.modalities=.*valid: .*video, audio"),
    ({"model.encoders.video.name": "vivid"}, 'Did you mean "vivit"'),
])
def test_bad_config_values_fail_before_compiling(tmp_path, overrides, match):
  with pytest.raises(ConfigError, match=match):
    experiment.run(preset("configs/video.py:tiny", **overrides), str(tmp_path))
  assert not (tmp_path / "checkpoints").exists()
