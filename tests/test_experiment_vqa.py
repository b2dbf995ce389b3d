"""VQAModel (the question steers film / cross_attention, one input = a baseline, gradients,
bfloat16) and the VQA experiment's main run in-process: tiny preset, eval-only, bad config."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import vqa as experiment
from mmjax.data.synthetic import ANSWERS
from mmjax.models.vqa import VQAModel
from mmjax.registry import ConfigError
from tests.scripts import preset, train_losses

ENCODERS = {"question": dict(name="bag_of_words", vocab_size=12, width=8),
            "image": dict(name="cnn", channels=(4,)),
            "audio": dict(name="wave_cnn", channels=(4,), kernel_sizes=(16,), strides=(8,))}


def batch(n=3):
  rng = np.random.default_rng(0)
  question = rng.integers(4, 12, (n, 6)).astype(np.int32)
  question[:, 4:] = 0  # padding
  return {"question": jnp.asarray(question),
          "image": jnp.asarray(rng.normal(size=(n, 8, 8, 3)), jnp.float32),
          "audio": jnp.asarray(rng.normal(0, 0.3, (n, 200)), jnp.float32)}


def vqa(**kw):
  return VQAModel(num_answers=5, encoders=ENCODERS, head_options=dict(hidden=(8,)), **kw)


def test_the_question_steers_the_fusion_and_one_input_is_a_baseline():
  x = batch()
  for inputs, q in ((("question", "image"), 0), (("image", "question"), 1)):
    # film: the question (8 wide) predicts gamma and beta for the image's 4 features.
    params = jax.eval_shape(vqa(inputs=inputs).init, jax.random.key(0), x)["params"]
    assert params["classifier"]["fuse"]["film"]["kernel"].shape == (8, 2 * 4), inputs
    # cross_attention: the question's tokens are the queries.
    model = vqa(inputs=inputs, fusion="cross_attention", fusion_options=dict(dim=8, num_heads=2))
    params = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
    assert f"query{q}_block0" in params["classifier"]["fuse"], inputs
  blind = vqa(inputs=("question",), fusion="cross_attention")  # no fusion is built
  logits, variables = jax.eval_shape(blind.init_with_output, jax.random.key(0), x)
  assert logits.shape == (3, 5) and logits.dtype == jnp.float32
  assert set(variables["params"]["classifier"]) == {"towers_text", "classifier"}
  with pytest.raises(ValueError, match="valid: a non-empty subset, without repeats, of question"):
    jax.eval_shape(vqa(inputs=("question", "video")).init, jax.random.key(0), x)
  with pytest.raises(ValueError, match=r"the batch lacks inputs \['audio'\]"):
    jax.eval_shape(vqa(inputs=("question", "audio")).init, jax.random.key(0),
                   {"question": x["question"]})


def test_gradients_reach_both_encoders_and_bfloat16_agrees():
  model, x = vqa(), batch()  # question + image, FiLM

  def outputs(key):
    variables = model.init(key, x)
    labels = jnp.arange(3) % 5
    loss = lambda p: -jnp.mean(jax.nn.log_softmax(model.apply({"params": p}, x))[
        jnp.arange(3), labels])
    return (model.apply(variables, x), model.clone(dtype=jnp.bfloat16).apply(variables, x),
            jax.grad(loss)(variables["params"]))
  f32, bf16, grads = jax.jit(outputs)(jax.random.key(0))  # one compile for all three
  for tower in ("towers_text", "towers_image"):
    norm = sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads["classifier"][tower]))
    assert np.isfinite(norm) and norm > 0, tower
  assert bf16.dtype == jnp.float32
  scale = float(jnp.abs(f32).max())
  assert scale > 1e-3 and not np.array_equal(f32, bf16)
  np.testing.assert_allclose(f32, bf16, atol=0.05 + 0.05 * scale)


def test_tiny_trains_evaluates_and_eval_only_reproduces(tmp_path, capsys):
  config = preset("configs/vqa.py:tiny")
  results = experiment.run(config, str(tmp_path))
  assert json.load(open(tmp_path / "results.json")) == results
  n = results["num_test_examples"]
  assert results["step"] == 4 and n == 64 and results["inputs"] == ["question", "image"]
  assert sum(results["count"].values()) == n
  for key in ("", "prior_"):  # overall = the count-weighted mean of the per-type accuracies
    weighted = sum(results[f"{key}per_type"][t] * c for t, c in results["count"].items()) / n
    assert results[f"{key}accuracy"] == pytest.approx(weighted)
  # The prior's answer for a type is one of that type's answers, e.g. yes/no for exists.
  assert results["prior_answers"]["exists"] in ("yes", "no")
  assert results["prior_answers"]["size"] in ("small", "large")
  assert results["question_only_bayes_per_type"]["colour"] == pytest.approx(1 / 6)
  assert results["chance"] == pytest.approx(1 / len(ANSWERS))
  examples = json.load(open(tmp_path / "examples.json"))
  assert len(examples) == 4 and all(e["answer"] in ANSWERS for e in examples)
  assert all(e["prior"] == results["prior_answers"][e["question_type"]] for e in examples)
  out = capsys.readouterr().out
  assert "Q-only Bayes" in out and examples[0]["question"] in out
  for name in ("examples.png", "metrics.jsonl", "vocab.json", "checkpoints"):
    assert (tmp_path / name).exists(), name

  config.eval_only = True
  assert experiment.run(config, str(tmp_path)) == results


def test_tiny_learns_in_sixty_steps(tmp_path):
  """The 4-step smoke run cannot show learning (its loss rises), so this one trains 60 steps of
  the same 2k-parameter model at lr 3e-3 (a few seconds): the mean train loss of the last 20
  steps falls by 0.29, 0.30, 0.18 from the first 20 on seeds 0, 1, 2; at lr 1e-9 it does not."""
  config = preset("configs/vqa.py:tiny", total_steps=60, log_every_steps=20,
                  **{"checkpoint.every_steps": 60, "optimizer.lr": 3e-3})
  experiment.run(config, str(tmp_path))
  losses = train_losses(tmp_path)
  assert len(losses) == 3 and losses[-1] < losses[0] - 0.1, losses


@pytest.mark.parametrize("overrides,match", [
    ({"model.inputs": ("question", "video")}, "model.inputs=.*valid: a non-empty subset"),
    ({"model.fusion.name": "flim"}, 'model.fusion.name=.flim.*Did you mean "film"'),
    # Truncation could cut the words that name the object.
    ({"data.text_len": 4}, r"data.text_len=4 cannot hold a \d+-word question and <eos>; raise"),
])
def test_bad_config_values_fail_before_compiling(tmp_path, overrides, match):
  with pytest.raises(ConfigError, match=match):
    experiment.run(preset("configs/vqa.py:tiny", **overrides), str(tmp_path))
  assert not (tmp_path / "checkpoints").exists()


def test_tiny_answers_questions_about_the_compositional_split(tmp_path):
  from tests.scripts import check_held_out_split
  config = preset("configs/vqa.py:tiny", total_steps=2, **{"checkpoint.every_steps": 2})
  results = experiment.run(config, str(tmp_path))
  assert results["compositional/num_test_examples"] == 32
  assert 0.0 <= results["compositional/accuracy"] <= 1.0
  assert set(results["compositional/per_type"]) <= {"count", "exists", "colour", "shape", "size",
                                                    "relation"}
  assert json.load(open(tmp_path / "results.json")) == results
  check_held_out_split("configs/vqa.py")
  with pytest.raises(ConfigError, match="eval.compositional_examples=-1; valid: an integer"):
    experiment.run(preset("configs/vqa.py:tiny", **{"eval.compositional_examples": -1}),
                   str(tmp_path / "bad"))
