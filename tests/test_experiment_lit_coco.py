"""The LiT-on-COCO recipe at toy scale on mock coco_captions (nothing is downloaded): the tiny
preset's main in-process from a tiny ViT .npz (locked) and a tiny HuggingFace BERT folder,
COCO-style retrieval with every caption, eval-only restore, and the paper preset failing before
any work when the checkpoints are missing."""

import json
import os

import numpy as np
import pytest

from experiments import lit_coco as experiment
from mmjax.data import sources
from mmjax.data.tfds.mock import mock_coco_captions
from mmjax.evaluate.retrieval import retrieval_metrics
from mmjax.models.from_checkpoint import checkpoint_params
from mmjax.models.image.vit_checkpoint import load_vit_npz
from mmjax.registry import ConfigError
from mmjax.tasks import lit_coco as lit_model
from tests.scripts import preset, train_losses
from tests.test_pretrained_text import TINY, tiny_checkpoint, write_folder
from tests.test_vit_checkpoint import tiny_npz

NUM = 16  # mock images per split, 5 captions each


def config(name="tiny", **overrides):
  return preset(f"configs/lit_coco.py:{name}", **overrides)


def write_bert(path):
  """tests/test_pretrained_text's tiny random BERT (30 tokens, width 8) with a WordPiece
  tokenizer.json covering the mock captions ("caption 3 of image 107")."""
  from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "caption", "of", "image"]
  vocab += [str(i) for i in range(10)] + [f"##{i}" for i in range(10)]
  tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
  tok.normalizer = normalizers.BertNormalizer(lowercase=True)
  tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  tok.post_processor = processors.TemplateProcessing(
      single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
  cfg = {**TINY, "num_hidden_layers": 1}  # one layer: the test compiles less.
  write_folder(path, cfg, tiny_checkpoint(cfg))
  tok.save(str(path / "tokenizer.json"))
  return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("lit_coco")
  npz = tmp / "vit.npz"
  np.savez(npz, **tiny_npz(seed=3, depth=1))  # 8x8 images, 4x4 patches, width 16
  bert = write_bert(tmp / "bert")
  workdir = tmp / "work"
  # 10 tokens hold "[CLS] caption 4 of image 1 ##1 ##5 [SEP]" whole. 60 steps at lr 1e-2 to
  # learn (test_tiny_trains_text_against_the_locked_image_tower).
  c = {"model.image_init": str(npz), "model.text_init": str(bert), "model.embed_dim": 16,
       "data.image_size": 8, "data.text_len": 10, "total_steps": 60, "log_every_steps": 20,
       "checkpoint.every_steps": 60, "optimizer.lr": 1e-2}
  with mock_coco_captions(num_examples=NUM):
    trained = experiment.run(config(**c), str(workdir))
    again = experiment.run(config(eval_only=True, **c), str(workdir))
  return workdir, npz, trained, again


def test_tiny_trains_text_against_the_locked_image_tower(tiny_run):
  """It learns: the train loss (mean of 20 steps) falls from the first window to the last by
  0.103, 0.148, 0.143 on seeds 0, 1, 2, and at lr 1e-9 by -0.006, -0.001, -0.015. (The mock's
  test images are new random ones named by new ids: test retrieval is at chance by design.)"""
  workdir, npz, results, _ = tiny_run
  losses = train_losses(workdir)
  assert len(losses) == 3 and losses[-1] < losses[0] - 0.05, losses
  assert results["step"] == 60
  assert (results["num_images"], results["num_captions"]) == (NUM, 5 * NUM)
  for d in ("i2t", "t2i"):
    r = [results[f"{d}/R@{k}"] for k in (1, 5, 10)]
    assert 0 <= r[0] <= r[1] <= r[2] <= 1
  # 5 of the 80 captions are right for an image; 1 of the 16 images for a caption.
  assert results["i2t/chance_R@5"] == pytest.approx(1 - np.prod(np.arange(71, 76) /
                                                                np.arange(76, 81)))
  assert results["t2i/chance_R@5"] == pytest.approx(5 / NUM)
  assert json.load(open(workdir / "results.json")) == results
  # The saved image tower is the checkpoint, bit for bit; the image head is still the identity;
  # the text tower trained away from its BERT initialisation.
  params = checkpoint_params(str(workdir / "checkpoints"))
  _, vit = load_vit_npz(str(npz))
  for a, b in zip(_leaves(params["img_tower"]), _leaves(vit), strict=True):
    assert a.shape == b.shape and a.tobytes() == b.tobytes()
  np.testing.assert_array_equal(params["img_proj"]["kernel"], np.eye(16))
  from mmjax.models.text.pretrained import load_hf_bert
  _, bert = load_hf_bert(str(workdir.parent / "bert"))
  assert not np.allclose(params["txt_tower"]["encoder"]["block0"]["mlp"]["fc1"]["kernel"],
                         bert["encoder"]["block0"]["mlp"]["fc1"]["kernel"])


def _leaves(tree):
  import jax
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_eval_only_restores_the_same_model(tiny_run):
  _, _, trained, again = tiny_run
  assert {k: v for k, v in again.items()} == trained


def test_maps_of_a_run_rebuild_its_model_from_the_checkpoints_it_names(tiny_run):
  """`python -m mmjax.interpret` on the run: the ViT tower's rollout of each test image's
  similarity with its first caption, tested by deletion (COCO's objects are unknown here); the
  similarities it explains are those the run's evaluation ranks by."""
  from mmjax import experiment as run_files, train
  from mmjax.interpret.__main__ import run_kind
  from mmjax.interpret.retrieval import explain_lit_coco
  workdir, _, _, _ = tiny_run
  assert run_kind(str(workdir)) == "lit_coco"
  with pytest.raises(ConfigError, match="--method=gradcam on a lit_coco run with a vit"):
    explain_lit_coco(str(workdir), "gradcam")
  with mock_coco_captions(num_examples=NUM):
    scores = explain_lit_coco(str(workdir), "rollout", num_examples=NUM, num_drawn=2,
                              batch_size=4)
    c = run_files.load_run_config(str(workdir))
    source = sources.build(c.data, reads=("coco_captions",))
    image, _, text, _, tok = lit_model.load_towers(c, source, str(workdir))
    model, init_fn, _ = lit_model.build(c, image, text)
    test = lit_model.load_eval(c, source, tok)
  state, _ = train.restore_latest(c, str(workdir), init_fn)
  zimg, ztxt, _ = model.apply({"params": state.params}, lit_model.model_pixels(test["images"]),
                              test["tokens"])
  first = np.unique(test["caption_image"], return_index=True)[1]
  expected = np.sum(np.asarray(zimg) * np.asarray(ztxt)[first], -1).mean()
  assert scores["num_images"] == NUM and scores["step"] == 60
  assert scores["mean_similarity"] == pytest.approx(float(expected), rel=1e-4)
  drops = scores["deletion_similarity_drop"]
  assert set(drops) == {"map", "brightest", "random"}
  assert set(drops["map"]) == {f"top_{p}_percent" for p in (2, 5, 10, 20)}
  assert os.path.getsize(os.path.join(scores["out"], "maps.png")) > 1000


def test_tiny_preset_without_checkpoints_builds_a_word_vocabulary_and_random_towers(tmp_path):
  c = config()
  with mock_coco_captions(num_examples=NUM):
    source = sources.build(c.data)
    image, image_params, text, text_params, tok = lit_model.load_towers(c, source,
                                                                         str(tmp_path))
  assert image_params is None and text_params is None and image == dict(c.model.image.vit)
  ids = tok.encode_batch(["caption 3 of image 107", "an unseen word"], c.data.text_len)
  words = json.load(open(tmp_path / "vocab.json"))["itos"]
  assert [words[i] for i in ids[0]] == ["<bos>", "caption", "3", "of", "image", "107", "<eos>",
                                        "<pad>"]  # <bos> stands in for [CLS] (pool "first").
  assert [words[i] for i in ids[1][:5]] == ["<bos>", "<unk>", "<unk>", "<unk>", "<eos>"]
  assert text["vocab_size"] == len(words) and text["max_len"] == c.data.text_len


def test_coco_retrieval_counts_any_caption_of_the_image():
  zimg = np.eye(3, dtype=np.float32)
  # Captions 0-1 belong to image 0, 2-3 to image 1, 4 to image 2. Caption 1 is the best match
  # of image 0 and caption 0 points at image 1; image 2's only caption points at image 1.
  ztxt = np.array([[0, .9, 0], [1, 0, 0], [0, 1, 0], [0, .8, .1], [0, .7, .05]], np.float32)
  m = retrieval_metrics(zimg, ztxt, keys=np.arange(3), txt_keys=[0, 0, 1, 1, 2], ks=(1, 2))
  assert m["i2t/R@1"] == pytest.approx(2 / 3)  # image 2's top caption is caption 3 (image 1).
  assert m["i2t/R@2"] == 1.0
  assert m["t2i/R@1"] == pytest.approx(3 / 5)  # captions 0 and 4 rank image 1 first,
  assert m["t2i/R@2"] == 1.0                    # and their own image second.
  with pytest.raises(ValueError, match="unpaired embeddings need txt_keys"):
    retrieval_metrics(zimg, ztxt)


def test_paper_preset_without_checkpoints_says_what_to_download(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"(?s)model.image_init is empty.*"
                     r"B_16-i21k-300ep.*model.text_init is empty.*bert-base-uncased"):
    experiment.run(config(""), str(tmp_path))
  with pytest.raises(FileNotFoundError, match="lacks config.json, model.safetensors"):
    experiment.run(config("", **{"model.image_init": __file__,
                                 "model.text_init": str(tmp_path)}), str(tmp_path))
  # A checkpoint needs the tower it was saved from; the source is a registry name.
  with pytest.raises(ConfigError, match=r"model.image.name='cnn': model.image_init loads a vit"):
    experiment.run(config(**{"model.image_init": __file__, "model.image.name": "cnn"}),
                   str(tmp_path))
  with pytest.raises(ConfigError, match=r"data.source.name='coco'.*coco_captions"):
    experiment.run(config(**{"data.source.name": "coco"}), str(tmp_path))
  assert not os.listdir(tmp_path)  # nothing was written: it failed before any work.
  # Unprepared data: named, with the command that prepares it, before any checkpoint or compile.
  with pytest.raises(FileNotFoundError, match="tfds build coco_captions --data_dir DIR"):
    experiment.run(config(**{"data.source.coco_captions.data_dir": str(tmp_path / "tfds")}),
                   str(tmp_path / "work"))
  assert not os.path.exists(tmp_path / "work")


def test_layer_options_run_the_checkpoint_towers_scanned_and_rematerialised(tmp_path):
  """model.image.vit / model.text.transformer's attention, remat and scan apply to the loaded
  towers: the same outputs from the stacked (scan) parameters."""
  import jax
  from mmjax.models.image.vit import ViT
  from mmjax.models.text.pretrained import load_hf_bert
  from mmjax.models.text.transformer import TextTransformer
  npz = tmp_path / "vit.npz"
  np.savez(npz, **tiny_npz(seed=3, depth=2))
  options = {"attention": "xla", "remat": "full", "scan": True}
  images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
  tokens = np.array([[2, 5, 6, 3], [2, 7, 3, 0]])
  for (kwargs, params), module, x in (
      (load_vit_npz(str(npz), image_size=8), ViT, images),
      (load_hf_bert(write_bert(tmp_path / "bert")), TextTransformer, tokens)):
    scanned, stacked = lit_model.layer_options(kwargs, params, options)
    assert scanned["scan"] and "blocks" in stacked["encoder"]
    ref = module(**kwargs).apply({"params": params}, x)[0]
    out = jax.jit(module(**scanned).apply)({"params": stacked}, x)[0]
    np.testing.assert_allclose(out, ref, atol=1e-5)
