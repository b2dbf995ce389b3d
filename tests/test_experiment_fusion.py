"""MultimodalClassifier (unimodal = no fusion, sown fusion losses, text padding masks, bfloat16)
and the fusion-classification experiment's main run as a user runs it: tiny preset, eval-only,
a unimodal baseline, bad config values."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.data.synthetic import task_info
from mmjax.data.synthetic.scenes import DEFAULT_HELD_OUT, all_pairs
from mmjax.models.multimodal_classifier import MultimodalClassifier, auxiliary_loss
from mmjax.registry import ConfigError
from tests.scripts import train_losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CMD = [sys.executable, "experiments/fusion_classification.py", "--config",
       "configs/fusion.py:tiny", "--config.progress_bar=False"]
ENCODERS = {"text": dict(name="bag_of_words", vocab_size=12, width=8),
            "audio": dict(name="wave_cnn", channels=(8,), kernel_sizes=(16,), strides=(8,))}


def classifier(modalities=("text", "audio"), **kw):
  return MultimodalClassifier(num_classes=3, modalities=modalities, encoders=ENCODERS,
                              head_options=dict(hidden=(8,)), **kw)


def inputs(batch=4, seed=0):
  rng = np.random.default_rng(seed)
  tokens = rng.integers(4, 12, (batch, 6)).astype(np.int32)
  tokens[:, 4:] = 0  # padding
  return {"text": jnp.asarray(tokens),
          "audio": jnp.asarray(rng.normal(0, 0.3, (batch, 400)), jnp.float32)}


def test_one_modality_skips_the_fusion_and_two_fuse():
  x = inputs()
  uni = classifier(("audio",), fusion="adversarial")  # a 2+-modality fusion is never built.
  logits, variables = jax.eval_shape(uni.init_with_output, jax.random.key(0), x)
  assert logits.shape == (4, 3) and logits.dtype == jnp.float32
  assert set(variables["params"]) == {"towers_audio", "classifier"}
  fused = classifier(fusion="concat_late", fusion_options=dict(dim=8))
  variables = jax.eval_shape(fused.init, jax.random.key(0), x)
  assert set(variables["params"]) == {"towers_text", "towers_audio", "fuse", "classifier"}
  # A fusion without auxiliary losses sows nothing: the auxiliary loss is 0.
  _, mutated = jax.eval_shape(lambda v: fused.apply(v, x, mutable=["losses"]), variables)
  assert "losses" not in mutated and float(auxiliary_loss(mutated)) == 0.0


def test_adversarial_losses_pass_through_and_reach_the_encoders():
  model, x = classifier(fusion="adversarial", fusion_options=dict(dim=8)), inputs()

  def aux(p):
    _, mutated = model.apply({"params": p}, x, mutable=["losses"])
    return auxiliary_loss(mutated)

  # One compile for init and gradient: compiles dominate this test's time.
  loss, grads = jax.jit(lambda k: jax.value_and_grad(aux)(model.init(k, x)["params"]))(
      jax.random.key(0))
  # Two modalities: the untrained discriminator's cross-entropy is near log 2.
  assert 0.3 < float(loss) < 1.5
  for tower in ("towers_text", "towers_audio"):
    norm = sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads[tower]))
    assert np.isfinite(norm) and norm > 0, tower


@pytest.fixture(scope="module")
def cross_attention_outputs():
  """A token-level fusion's logits (float32; float32 with 5 more padding tokens; bfloat16),
  from one compile."""
  # Audio queries attend over text tokens, whose padding must be masked out of the keys.
  model = classifier(fusion="cross_attention",
                     fusion_options=dict(dim=8, num_heads=2, query_index=1))
  x = inputs()
  longer = dict(x, text=jnp.pad(x["text"], ((0, 0), (0, 5))))

  def outputs(key):
    variables = model.init(key, x)
    return (model.apply(variables, x), model.apply(variables, longer),
            model.clone(dtype=jnp.bfloat16).apply(variables, x))
  return jax.jit(outputs)(jax.random.key(0))


def test_text_padding_is_masked_in_token_level_fusion(cross_attention_outputs):
  f32, f32_longer, _ = cross_attention_outputs
  np.testing.assert_allclose(f32, f32_longer, atol=1e-5)


def test_bfloat16_matches_float32(cross_attention_outputs):
  f32, _, bf16 = cross_attention_outputs
  assert bf16.dtype == jnp.float32
  scale = float(jnp.abs(f32).max())
  assert scale > 1e-3  # not trivially equal
  np.testing.assert_allclose(f32, bf16, atol=0.05 + 0.05 * scale)
  assert not np.array_equal(f32, bf16)  # the bfloat16 path really ran in lower precision


@pytest.mark.parametrize("kw,error,match", [
    (dict(modalities=("text", "smell")), ValueError, "valid: a non-empty subset"),
    (dict(modalities=("text", "image")), ValueError, r"no encoder for modalities \['image'\]"),
    (dict(fusion="concat"), ConfigError, 'Did you mean "concat_late"'),
])
def test_bad_model_config_is_named(kw, error, match):
  model = classifier(**{"modalities": ("text", "audio"), **kw})
  x = dict(inputs(), image=jnp.zeros((4, 8, 8, 3)))
  with pytest.raises(error, match=match):
    model.init(jax.random.key(0), x)


def run(workdir, *extra):
  return subprocess.run(CMD + ["--workdir", str(workdir), *extra], cwd=ROOT, capture_output=True,
                        text=True, timeout=600)


# 40 steps instead of the preset's 6: enough for the loss to fall clearly (the compile, not the
# steps, is what a tiny run spends its time on).
LEARN = ("--config.total_steps=40", "--config.log_every_steps=10",
         "--config.checkpoint.every_steps=40")


def test_tiny_trains_evaluates_and_eval_only_reproduces(tmp_path):
  p = run(tmp_path, *LEARN)
  assert p.returncode == 0, p.stderr[-3000:]
  assert "accuracy" in p.stdout and "Bayes-optimal" in p.stdout
  results = json.load(open(tmp_path / "results.json"))
  # The default world holds out two pairs: its Bayes numbers count them (World.pairs).
  pairs = [p for p in all_pairs() if p not in DEFAULT_HELD_OUT]
  info = task_info("redundant", pairs, image_eps=0.25, audio_eps=0.25, corruption="erase")
  assert results["step"] == 40 and results["modalities"] == ["image", "audio"]
  assert results["chance"] == info["chance"] and results["bayes_optimal"] == info["bayes_optimal"]
  cm = np.array(results["confusion_matrix"])
  assert cm.shape == (4, 4) and cm.sum() == results["num_test_examples"] == 48
  assert results["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
  for name in ("metrics.jsonl", "config.json", "vocab.json", "checkpoints"):
    assert (tmp_path / name).exists(), name
  # It learns: the loss of the last 10 steps is below that of the first 10 by 0.111, 0.092,
  # 0.083 on seeds 0, 1, 2; at lr 1e-9 it rises by 0.087.
  losses = train_losses(tmp_path)
  assert losses[-1] < losses[0] - 0.05, losses
  again = run(tmp_path, *LEARN, "--config.eval_only=True")
  assert again.returncode == 0, again.stderr[-3000:]
  assert json.load(open(tmp_path / "results.json")) == results


def test_unimodal_baseline_is_a_config_override(tmp_path):
  p = run(tmp_path, "--config.model.modalities=text", "--config.total_steps=3")
  assert p.returncode == 0, p.stderr[-3000:]
  results = json.load(open(tmp_path / "results.json"))
  info = task_info("redundant", [p for p in all_pairs() if p not in DEFAULT_HELD_OUT])
  assert results["modalities"] == ["text"] and results["fusion"] is None
  # The caption (text or its audio) alone: the unimodal Bayes accuracy, below the fused one.
  assert results["bayes_optimal"] == info["unimodal_bayes"]["audio"] < info["bayes_optimal"]


def test_bad_config_values_fail_before_compiling_and_name_the_choices(tmp_path):
  p = run(tmp_path, "--config.model.modalities=image,video")
  assert p.returncode != 0 and "model.modalities" in p.stderr and "image, text, audio" in p.stderr
  assert "compile_time" not in p.stdout
  p = run(tmp_path, "--config.model.fusion.name=gatd")
  assert p.returncode != 0 and "model.fusion.name='gatd'" in p.stderr
  assert 'Did you mean "gated"' in p.stderr and "compile_time" not in p.stdout


def test_tiny_scores_the_compositional_split(tmp_path, capsys):
  from experiments import fusion_classification
  from tests.scripts import check_held_out_split, preset
  for arg in ("configs/fusion.py", "configs/fusion.py:synergy"):
    check_held_out_split(arg, n=200)
  config = preset("configs/fusion.py:tiny", total_steps=3, **{
      "checkpoint.every_steps": 3, "model.modalities": ("image", "text")})
  results = fusion_classification.run(config, str(tmp_path))
  assert results["compositional/num_test_examples"] == 16
  assert 0.0 <= results["compositional/accuracy"] <= 1.0
  assert 0.0 <= results["compositional/macro_f1"] <= 1.0
  assert "test_compositional (16 examples" in capsys.readouterr().out


def test_three_modalities_agreement_task_and_each_subsets_bayes(tmp_path, capsys):
  from experiments import fusion_classification
  from mmjax.tasks.classification import bayes_for
  from tests.scripts import preset
  info = task_info("agreement")
  assert [bayes_for(info, m) for m in (("text",), ("image", "audio"), ("text", "audio"),
                                        ("audio", "text", "image"))] == [0.5, 5 / 6, 5 / 6, 1.0]
  config = preset("configs/fusion.py:tiny", total_steps=3, **{
      "checkpoint.every_steps": 3, "data.source.shapes.task.name": "agreement",
      "model.modalities": ("image", "text", "audio"), "model.missing.placeholders": True})
  results = fusion_classification.run(config, str(tmp_path))
  assert results["modalities"] == ["image", "text", "audio"] and results["bayes_optimal"] == 1.0
  assert {f"missing_{m}/accuracy" for m in ("image", "text", "audio")} <= set(results)
  out = capsys.readouterr().out
  for gone, kept in (("image", "text+audio"), ("text", "image+audio"), ("audio", "image+text")):
    assert f"without {gone}: accuracy" in out and f"Bayes-optimal from {kept} 0.833" in out


def test_the_agreement_sweep_takes_exactly_the_fusions_that_accept_three_inputs():
  from mmjax.models import FUSIONS
  from mmjax.sweep.spec import load_module, load_sweep
  fusion_config = load_module(os.path.join(ROOT, "configs/fusion.py"))
  options = fusion_config.get_config().model.fusion
  encoders = dict(ENCODERS, image=dict(name="cnn", channels=(4,)))
  x = dict(inputs(batch=2), image=jnp.zeros((2, 8, 8, 3)))
  takes_three = []
  for name in FUSIONS.names():
    model = MultimodalClassifier(num_classes=2, modalities=("image", "text", "audio"),
                                 encoders=encoders, fusion=name,
                                 fusion_options=dict(options.get(name, None) or {}),
                                 head_options=dict(hidden=(8,)))
    try:
      jax.eval_shape(model.init, jax.random.key(0), x)
      takes_three.append(name)
    except ValueError as e:
      assert "exactly 2 modalities" in str(e), (name, e)
  assert tuple(takes_three) == fusion_config.THREE_INPUT_FUSIONS
  sweep = load_sweep(os.path.join(ROOT, "configs/fusion.py:agreement"))
  assert {t.values["model.fusion.name"] for t in sweep.trials} == set(takes_three)
