"""The video classification experiment on a manifest of clips the test writes (the path the real
Kinetics-tiny clips take: configs/video.py:kinetics_tiny): it learns, counts the skipped clips,
and a label that is not the files' own fails before compiling."""

import json

import numpy as np
import pytest

from experiments import video_classification as experiment
from mmjax.registry import ConfigError
from tests.scripts import preset, train_losses
from tests.test_manifest_video import write_clip

COLOURS = {"red": (200, 40, 40), "blue": (40, 40, 200)}


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
  """train 16 / val 4 / test 8 mp4 clips (8 frames of 16 x 16, a red or blue square drifting
  over noise), labelled by colour, and one damaged train clip."""
  d = tmp_path_factory.mktemp("video_files")
  rng = np.random.default_rng(0)
  for split, n in (("train", 16), ("val", 4), ("test", 8)):
    rows = []
    for i in range(n):
      name = sorted(COLOURS)[i % 2]
      frames = rng.integers(0, 60, (8, 16, 16, 3)).astype(np.uint8)
      for t in range(8):
        frames[t, 4:10, t:t + 6] = COLOURS[name]
      rows.append({"video": write_clip(d / f"{split}{i}.mp4", frames), "label": name})
    if split == "train":
      (d / "broken.mp4").write_bytes(b"not a video")
      rows.append({"video": str(d / "broken.mp4"), "label": "red"})
    (d / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  return str(d)


def test_trains_on_a_manifest_of_clips_and_counts_skipped_ones(clips_dir, tmp_path):
  """30 steps at batch 8, lr 3e-3: the train loss falls from the first 10-step window to the
  last by 0.56, 0.42, 0.42 and test accuracy is 1.0 (chance 0.5) on seeds 0, 1, 2."""
  config = preset("configs/video.py:kinetics_tiny,tiny", total_steps=30, log_every_steps=10,
                  **{"checkpoint.every_steps": 30, "optimizer.lr": 3e-3,
                     "data.source.manifest.dir": clips_dir})
  results = experiment.run(config, str(tmp_path))
  losses = train_losses(tmp_path)
  assert len(losses) == 3 and losses[-1] < losses[0] - 0.3, losses
  assert results["chance"] == 0.5 and results["accuracy"] >= 0.875, results
  assert results["num_test_examples"] == 8 and results["label"] == "label"
  assert results["skipped/train"] == 1 and results["skipped/test"] == 0
  assert "shuffled_frames/accuracy" in results and "compositional/accuracy" not in results


def test_files_need_their_own_label(clips_dir, tmp_path):
  with pytest.raises(ConfigError, match="data.label='direction'.*set data.label=label"):
    experiment.run(preset("configs/video.py:kinetics_tiny,tiny", **{
        "data.label": "direction", "data.source.manifest.dir": clips_dir}), str(tmp_path))
  assert not (tmp_path / "checkpoints").exists()
