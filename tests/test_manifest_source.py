"""The `manifest` data source (your own files) on real image and audio files the tests write:
what it serves, its errors, and the contrastive experiment trained and evaluated on it."""

import json
import os

import ml_collections
import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from mmjax import experiment
from mmjax.data import sources
from mmjax.data.manifest_source import ManifestSource
from mmjax.registry import ConfigError
from tests.scripts import ROOT

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
SHAPES = ("square", "stripe")


def write_files(root, n_per_split=(24, 6, 6), audio=False):
  """Images of a coloured square or stripe on grey, JPEG and PNG, with two captions each."""
  rng = np.random.default_rng(0)
  for split, n in zip(("train", "val", "test"), n_per_split):
    rows = []
    for i in range(n):
      colour, shape = list(COLOURS)[i % 3], SHAPES[(i // 3) % 2]
      pixels = np.full((40, 56, 3), 128, np.uint8)
      y0, x0 = rng.integers(0, 16, 2)
      h, w = (20, 20) if shape == "square" else (6, 30)
      pixels[y0:y0 + h, x0:x0 + w] = COLOURS[colour]
      name = f"img/{split}_{i}.{'jpg' if i % 2 else 'png'}"
      os.makedirs(root / "img", exist_ok=True)
      Image.fromarray(pixels).save(root / name)
      row = {"image": name, "label": colour}
      if audio:
        tone = np.sin(np.arange(4000) * (i % 3 + 1) * 0.05) * 0.3
        wavfile.write(str(root / f"img/{split}_{i}.wav"), 16000, tone.astype(np.float32))
        row["audio"] = f"img/{split}_{i}.wav"
      rows += [dict(row, text=f"a {colour} {shape}"), dict(row, text=f"a {shape} in {colour}")]
    with open(root / f"{split}.jsonl", "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in rows)
  return str(root)


def build(**options):
  data = ml_collections.ConfigDict(dict(seed=0, image_size=16, sample_rate=8000,
                                        audio_seconds=0.25, text_len=8,
                                        source=dict(name="manifest", manifest=options)))
  return sources.build(data, reads=("manifest",))


def test_serves_the_fields_experiments_read(tmp_path):
  src = build(dir=write_files(tmp_path, audio=True))
  assert isinstance(src, ManifestSource) and src.size("train") == 48
  ex = src.example("test", 2, ("image", "caption", "key", "label", "audio", "transcript"))
  assert ex["image"].shape == (16, 16, 3) and ex["image"].dtype == np.float32
  assert 0 <= ex["image"].min() <= ex["image"].max() <= 1
  assert ex["caption"] == "a green square" and ex["transcript"] == ["a", "green", "square"]
  assert ex["key"].endswith("test_1.jpg") and ex["audio"].shape == (2000,)
  assert ex["label"] == 1  # sorted names: blue, green, red
  assert src.example("test", 2 + 12, ("caption",)) == {"caption": "a green square"}  # wraps
  assert src.example("test", 2, ("key",))["key"] == src.example("test", 3, ("key",))["key"]
  assert {"a", "green", "in", "square", "stripe"} <= set(src.vocabulary())


def test_label_ids_agree_across_splits(tmp_path):
  root = write_files(tmp_path)
  with open(os.path.join(root, "test.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  with open(os.path.join(root, "test.jsonl"), "w") as f:  # only red in test: its file's id 0
    f.writelines(json.dumps(r) + "\n" for r in rows if r["label"] == "red")
  src = build(dir=root)
  assert src.example("test", 0, ("label",))["label"] == 2  # red's train id
  with open(os.path.join(root, "val.jsonl"), "w") as f:
    f.write(json.dumps(dict(rows[0], label="purple")) + "\n")
  with pytest.raises(ConfigError, match="has the label 'purple', which no train example has"):
    src.example("val", 0, ("label",))


def test_errors_name_what_to_add(tmp_path):
  with pytest.raises(ConfigError, match="data.source.manifest.dir is empty"):
    build()
  with pytest.raises(FileNotFoundError, match="no train manifest .*set data.source.manifest.train"):
    build(dir=str(tmp_path))
  root = write_files(tmp_path)
  with pytest.raises(ConfigError, match="no option 'folder'.*dir"):
    build(folder=root)
  with pytest.raises(ConfigError, match="has the fields image, text, label; this experiment also "
                     "reads audio. Add them to the manifests."):
    build(dir=root).require(("image", "caption", "audio"))


def test_contrastive_trains_and_retrieves_on_your_files(tmp_path):
  from experiments import contrastive
  root = write_files(tmp_path / "data")
  config = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": root,
                                  "eval.zero_shot_tasks": (), "eval.probe_tasks": ()})
  results = contrastive.run(config, str(tmp_path / "run"))
  assert results["step"] == 6
  # 6 test images x 2 captions: an image's 2 captions of 12, a caption's 1 image of 6.
  assert 0 <= results["i2t/R@1"] <= 1 and results["i2t/chance_R@1"] == pytest.approx(2 / 12)
  assert results["t2i/chance_R@1"] == pytest.approx(1 / 6)
  assert not any(k.startswith(("zero_shot", "linear_probe")) for k in results)
  # The synthetic world's attribute tasks on files fail before training, naming the keys.
  config = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": root})
  with pytest.raises(ConfigError, match="eval.zero_shot_tasks, eval.probe_tasks classify the "
                     "synthetic world's scene attributes.*--config.eval.zero_shot_tasks='\\(\\)'"):
    contrastive.run(config, str(tmp_path / "run2"))
  assert not os.path.exists(tmp_path / "run2" / "checkpoints")


def test_manifest_preset_is_the_documented_command(tmp_path):
  config = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py:manifest"),
                                 {"data.source.manifest.dir": str(tmp_path)})
  assert config.data.source.name == "manifest" and config.eval.zero_shot_tasks == ()


def test_captioning_trains_and_scores_on_your_files(tmp_path):
  from experiments import captioning
  root = write_files(tmp_path / "data")
  config = experiment.get_config(os.path.join(ROOT, "configs/captioning.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": root})
  results = captioning.run(config, str(tmp_path / "run"))
  assert results["step"] == 6 and 0 <= results["greedy/BLEU-4"] <= 1
  with open(tmp_path / "run" / "examples.json") as f:
    examples = json.load(f)
  # 6 test images, each scored against its own 2 captions.
  assert len(examples) == 4 and examples[1]["references"] == ["a green square",
                                                              "a square in green"]
  assert 0 <= results["shuffled/BLEU-4"] <= 1
