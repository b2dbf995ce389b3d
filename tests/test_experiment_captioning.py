"""The captioner (greedy decoding agrees with teacher forcing, bfloat16, gradients, BatchNorm
encoders) and the captioning experiment's main: the tiny preset and eval-only in-process, a bad
key on the command line as a user runs it."""

import functools
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.losses.captioning import caption_loss, shift_right
from mmjax.models.captioner import Captioner, decode
from tests.test_heads import random_variables
from tests.scripts import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def run(workdir, *extra):
  return subprocess.run(CMD + ["--workdir", str(workdir), "--config.progress_bar=False", *extra],
                        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_tiny_trains_captions_scores_and_evaluates_again(tmp_path, capsys):
  experiment = load("experiments/captioning.py")
  config = load("configs/captioning.py").get_config("tiny")
  config.progress_bar = False
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
  losses = [json.loads(line)["train/loss"] for line in open(tmp_path / "metrics.jsonl")
            if "train/loss" in line]
  assert losses[-1] < losses[0]
  config.eval_only = True
  assert experiment.run(config, str(tmp_path)) == results
  assert json.load(open(tmp_path / "results.json")) == results
  assert json.load(open(tmp_path / "examples.json")) == examples


def test_bad_config_fails_naming_the_key(tmp_path):
  p = run(tmp_path, "--config.model.caption_decoder=lstn")  # the command line, as a user runs it
  assert p.returncode != 0
  assert "model.caption_decoder='lstn'. Valid choices: lstm, transformer" in p.stderr
