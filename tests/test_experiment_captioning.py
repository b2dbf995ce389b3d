"""The captioner (greedy decoding agrees with teacher forcing, bfloat16, gradients, BatchNorm
encoders), the captioner a config section describes (mmjax.tasks.captioning), and the captioning
experiment's main: the tiny preset and eval-only in-process, a bad key on the command line as a
user runs it."""

import functools
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import captioning as experiment
from mmjax.data.synthetic import SceneWorld
from mmjax.data.tokenizer import WordTokenizer
from mmjax.losses.captioning import caption_loss, shift_right
from mmjax.models.captioner import Captioner, decode
from mmjax.registry import ConfigError
from mmjax.tasks import captioning
from tests.scripts import ROOT, preset, train_losses
from tests.test_heads import random_variables

CMD = [sys.executable, "experiments/captioning.py", "--config", "configs/captioning.py:tiny"]
VOCAB, LEN, BOS, EOS = 13, 6, 1, 2
VIT = dict(patch_size=8, width=16, depth=1, num_heads=2, mlp_dim=32)
DECODERS = {"transformer": dict(vocab_size=VOCAB, max_len=LEN, width=16, depth=1, num_heads=2,
                                mlp_dim=32),
            "lstm": dict(vocab_size=VOCAB, embed_dim=8, hidden=16)}


def _setup(decoder, features, image_encoder="vit", image=VIT):
  model = Captioner(image_encoder=image_encoder, image=image, caption_decoder=decoder,
                    decoder=DECODERS[decoder], features=features)
  images = jax.random.normal(jax.random.key(1), (3, 16, 16, 3))
  captions = jax.random.randint(jax.random.key(2), (3, LEN), 3, VOCAB)
  return model, random_variables(model, images, captions), images, captions


def test_greedy_decoding_agrees_with_teacher_forcing_and_bfloat16():
  model, variables, images, _ = _setup("transformer", "tokens")
  greedy, logp = jax.jit(functools.partial(decode, model, max_len=LEN, bos_id=BOS, eos_id=EOS))(
      variables, images)
  # Decoding runs init_state + step; teacher forcing runs __call__. On the greedy caption, each
  # token must be the argmax of the teacher-forced logits, and the score their log-probability,
  # up to and including <eos>.
  tokens_in = shift_right(greedy, BOS)
  logits = jax.jit(model.apply)(variables, images, tokens_in)
  assert logits.shape == (3, LEN, VOCAB) and logits.dtype == jnp.float32
  real = jnp.cumsum(greedy == EOS, axis=1) - (greedy == EOS) == 0
  np.testing.assert_array_equal(jnp.where(real, jnp.argmax(logits, -1), -1),
                                jnp.where(real, greedy, -1))
  chosen = jnp.take_along_axis(jax.nn.log_softmax(logits), greedy[..., None], -1)[..., 0]
  np.testing.assert_allclose(logp, jnp.sum(jnp.where(real, chosen, 0.0), axis=1), atol=1e-4)
  bf16 = jax.jit(model.clone(dtype=jnp.bfloat16).apply)(variables, images, tokens_in)
  assert bf16.dtype == jnp.float32  # logits stay float32 for the softmax and the loss
  np.testing.assert_allclose(bf16, logits, atol=0.05 * float(jnp.abs(logits).max()))


def test_gradients_and_batchnorm_statistics_with_a_cnn_and_lstm():
  cnn = dict(channels=(8, 16), norm="batch")
  model, variables, images, captions = _setup("lstm", "pooled", image_encoder="cnn", image=cnn)
  assert set(variables) == {"params", "batch_stats"}
  stats = jax.tree.map(jnp.ones_like, variables["batch_stats"])

  def loss(params):
    logits, new = model.apply({"params": params, "batch_stats": stats}, images,
                              shift_right(captions, BOS), train=True, mutable=["batch_stats"])
    return caption_loss(logits, captions, jnp.ones_like(captions)), new["batch_stats"]

  (value, new_stats), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables["params"])
  assert jnp.isfinite(value)
  for part in ("encoder", "text_decoder"):  # the loss reaches back through both halves
    norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree.leaves(grads[part])))
    assert jnp.isfinite(norm) and norm > 0, part
  assert all(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new_stats, stats)))


def test_decode_rejects_bad_arguments():
  model = Captioner(image=VIT, decoder=DECODERS["transformer"])
  images = jnp.zeros((1, 16, 16, 3))
  with pytest.raises(ValueError, match="method='nucleus'; valid: greedy, beam"):
    decode(model, {}, images, max_len=LEN, bos_id=BOS, eos_id=EOS, method="nucleus")
  with pytest.raises(ValueError, match="max_len=9 exceeds the decoder's max_len=6"):
    decode(model, {}, images, max_len=9, bos_id=BOS, eos_id=EOS)
  with pytest.raises(ValueError, match="features='grid'; valid: tokens, pooled"):
    jax.eval_shape(Captioner(features="grid").init, jax.random.key(0), images,
                   jnp.zeros((1, 4), jnp.int32))


def tiny_model_section(**changes):
  """The tiny preset's model section with `changes` {"decoder.name": value, ...}."""
  overrides = {f"model.{k}": v for k, v in changes.items()}
  return preset("configs/captioning.py:tiny", **overrides).model


def test_build_captioner_fills_the_data_fields_and_builds_the_named_parts():
  model = captioning.build_captioner(tiny_model_section(), VOCAB, LEN)
  assert (model.image_encoder, model.caption_decoder, model.features) == ("vit", "transformer",
                                                                          "tokens")
  assert model.decoder == dict(width=32, depth=1, num_heads=2, mlp_dim=64, vocab_size=VOCAB,
                               max_len=LEN)
  # The same parameter tree as the Captioner built by hand with those options.
  by_hand = Captioner(image=dict(model.image), decoder=dict(model.decoder))
  images, tokens = jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, LEN), jnp.int32)
  shapes = lambda m: jax.tree.map(lambda x: x.shape,
                                  jax.eval_shape(m.init, jax.random.key(0), images, tokens))
  assert shapes(model) == shapes(by_hand)
  lstm = captioning.build_captioner(tiny_model_section(**{"decoder.name": "lstm"}), VOCAB, LEN)
  assert lstm.decoder == dict(embed_dim=16, hidden=32, image_as="input", vocab_size=VOCAB)
  assert captioning.model_choices(tiny_model_section(**{"decoder.name": "lstm"})) == {
      "image": ("vit", dict(model.image)), "decoder": ("lstm", dict(embed_dim=16, hidden=32,
                                                                    image_as="input")),
      "features": "tokens"}


@pytest.mark.parametrize("changes,match", [
    ({"image.name": "vot"}, r"stages.captioner.model.image.name='vot'. Valid choices: cnn, "),
    ({"decoder.transformer": {"widht": 8}}, r"stages.captioner.model.decoder.transformer has "
                                            r"no option 'widht'"),
    ({"features": "grid"}, r"stages.captioner.model.features='grid'; valid choices: tokens, "
                           r"pooled"),
    ({"decoder.transformer": {"vocab_size": 5}},
     r"decoder.transformer.vocab_size=5 is smaller than the tokenizer's vocabulary \(13\)"),
    ({"decoder.transformer": {"max_len": 4}}, r"decoder.transformer.max_len=4 < data.text_len=6"),
])
def test_build_captioner_errors_name_the_key(changes, match):
  with pytest.raises(ConfigError, match=match):
    captioning.build_captioner(tiny_model_section(**changes), VOCAB, LEN,
                               key="stages.captioner.model")


def test_image_caption_batches_references_and_scores():
  world = SceneWorld(0, 16, 2)
  tokenizer = WordTokenizer(world.vocabulary())
  images, captions = captioning.image_captions(world, "train", np.arange(3))
  assert images.shape == (3, 16, 16, 3) and images.dtype == np.float32
  assert 0.0 <= images.min() and images.max() <= 1.0 and all(isinstance(c, str) for c in captions)
  tokens = captioning.caption_encoder(tokenizer, 16)(captions)
  assert tokens.shape == (3, 16) and [tokenizer.decode(t) for t in tokens] == captions
  with pytest.raises(ConfigError, match="data.text_len=4 cannot hold .* raise data.text_len"):
    captioning.caption_encoder(tokenizer, 4)(captions)
  refs = captioning.references(world, "test", 3)
  assert all(len(r) == 4 for r in refs)
  assert all(world.example("test", i)["caption"] in refs[i] for i in range(3))
  perfect = captioning.score([r[0] for r in refs], refs)
  assert set(perfect) == set(captioning.METRICS)
  assert perfect["BLEU-4"] == pytest.approx(1.0) and perfect["exact_match"] == 1.0
  assert captioning.exact_match([refs[0][1], "a red"], refs[:2]) == 0.5


def test_caption_loss_fn_is_teacher_forcing_on_normalised_pixels():
  model = Captioner(image=VIT, decoder=DECODERS["transformer"])
  pixels = jax.random.uniform(jax.random.key(1), (3, 16, 16, 3))
  captions = jnp.array([[4, 5, EOS, 0, 0, 0], [6, EOS, 0, 0, 0, 0], [7, 8, 9, 10, 11, EOS]])
  variables = random_variables(model, pixels, captions)
  tokenizer = WordTokenizer([f"w{i}" for i in range(VOCAB - 4)])
  loss_fn = captioning.caption_loss_fn(model, tokenizer, label_smoothing=0.1)
  batch = {"images": pixels, "captions": captions}
  (loss, (metrics, state)), by_hand = jax.jit(lambda v: (
      loss_fn(v["params"], {}, batch, jax.random.key(0), None),
      caption_loss(model.apply(v, (pixels - 0.5) / 0.25, shift_right(captions, BOS)), captions,
                   captions != 0, 0.1)))(variables)
  np.testing.assert_allclose(loss, by_hand, rtol=1e-6)
  assert state == {} and 0.0 <= float(metrics["token_accuracy"]) <= 1.0


def run(workdir, *extra):
  return subprocess.run(CMD + ["--workdir", str(workdir), "--config.progress_bar=False", *extra],
                        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_tiny_trains_captions_scores_and_evaluates_again(tmp_path, capsys):
  config = preset("configs/captioning.py:tiny")
  results = experiment.run(config, str(tmp_path))
  stdout = capsys.readouterr().out
  assert json.load(open(tmp_path / "results.json")) == results
  assert results["step"] == 6
  for method in ("greedy", "beam3", "shuffled"):
    for metric in ("BLEU-1", "BLEU-4", "CIDEr-D", "exact_match"):
      assert 0.0 <= results[f"{method}/{metric}"] <= (10.0 if metric == "CIDEr-D" else 1.0)
  assert f"{results['greedy/CIDEr-D']:.3f}" in stdout
  examples = json.load(open(tmp_path / "examples.json"))
  assert len(examples) == 4 and all(len(e["references"]) == 4 for e in examples)
  assert all(isinstance(e["greedy"], str) and isinstance(e["beam3"], str) for e in examples)
  # It learns: 6 steps are too few for captions above the shuffled baseline (BLEU-4 0.01 vs
  # 0.30), but the teacher-forced loss falls: by 0.54, 0.70, 0.42 on seeds 0, 1, 2.
  losses = train_losses(tmp_path)
  assert losses[-1] < losses[0] - 0.2, losses
  config.eval_only = True
  assert experiment.run(config, str(tmp_path)) == results
  assert json.load(open(tmp_path / "results.json")) == results
  assert json.load(open(tmp_path / "examples.json")) == examples


def test_bad_config_fails_naming_the_key(tmp_path):
  p = run(tmp_path, "--config.model.decoder.name=lstn")  # the command line, as a user runs it
  assert p.returncode != 0
  assert "model.decoder.name='lstn'. Valid choices: lstm, transformer" in p.stderr


def test_tiny_captions_coco_against_every_caption_of_each_image(tmp_path):
  from mmjax.data.tfds.mock import mock_coco_captions
  config = preset("configs/captioning.py:tiny", **{"data.source.name": "coco_captions"})
  with mock_coco_captions(num_examples=20):
    results = experiment.run(config, str(tmp_path))
  assert results["step"] == 6
  for method in ("greedy", "beam3", "shuffled"):
    for metric in ("BLEU-1", "BLEU-4", "CIDEr-D"):
      assert 0.0 <= results[f"{method}/{metric}"] <= (10.0 if metric == "CIDEr-D" else 1.0)
  # eval.num_examples=16 test images (of 20), each with its 5 captions as references.
  examples = json.load(open(tmp_path / "examples.json"))
  assert [e["references"] for e in examples[:2]] == [
      [f"caption {j} of image {100 + i}" for j in range(5)] for i in range(2)]
  assert results["shuffled/BLEU-1"] > 0.5  # another image's caption shares most words
  with pytest.raises(FileNotFoundError, match="tfds build coco_captions --data_dir DIR"):
    experiment.run(preset("configs/captioning.py:tiny", **{
        "data.source.name": "coco_captions",
        "data.source.coco_captions.data_dir": str(tmp_path / "tfds")}), str(tmp_path / "work"))
  assert not (tmp_path / "work").exists()


def test_tiny_scores_the_compositional_split_and_counts_seen_references(tmp_path):
  from tests.scripts import check_held_out_split
  config = preset("configs/captioning.py:tiny", total_steps=3, **{"checkpoint.every_steps": 3})
  results = experiment.run(config, str(tmp_path))
  for method in ("greedy", "beam3"):
    for metric in ("BLEU-1", "BLEU-4", "CIDEr-D", "exact_match"):
      value = results[f"compositional/{method}/{metric}"]
      assert 0.0 <= value <= (10.0 if metric == "CIDEr-D" else 1.0)
  # 3 x 16 training scenes: some test references are training captions, and no caption of a
  # scene with a held-out pair is.
  assert 0.0 < results["test_captions_seen_in_training"] < 1.0
  assert results["compositional/test_captions_seen_in_training"] == 0.0
  check_held_out_split("configs/captioning.py")
  with pytest.raises(ConfigError, match="eval.compositional_examples=16 .* needs held-out"):
    experiment.run(preset("configs/captioning.py:tiny", **{"data.source.shapes.held_out": ()}),
                   str(tmp_path / "bad"))
