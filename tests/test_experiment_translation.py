"""The attribute classifier and text-to-image model, the stage models a config section describes
(mmjax.tasks.translation), and the translation experiment's main run in-process: the tiny preset
through all four stages, eval-only with a captioner loaded from another workdir, and bad config
values failing before any compile."""

import json
import os

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

from experiments import translation
from mmjax.models.attribute_classifier import AttributeClassifier, attribute_loss
from mmjax.models.text_to_image import TextToImage
from mmjax.registry import ConfigError
from mmjax.tasks import translation as stage_models
from tests.scripts import preset, train_losses

CHANCE = {"shape": 1 / 4, "colour": 1 / 6, "size": 1 / 2, "all": 1 / 48}


def tiny_config(**changes):
  return preset("configs/translation.py:tiny", **changes)


def test_attribute_classifier_has_a_head_per_attribute_and_its_loss_sums_them():
  classes = {"shape": 4, "colour": 6}
  image = AttributeClassifier(classes, encoder="cnn", encoder_options=dict(channels=(4,)))
  x = jax.random.normal(jax.random.key(1), (3, 8, 8, 3))
  variables = jax.eval_shape(image.init, jax.random.key(0), x)
  rng = np.random.default_rng(0)  # init-like values without compiling init
  variables = jax.tree.map(lambda s: (rng.normal(size=s.shape) * 0.3).astype(s.dtype), variables)
  f32, bf16 = jax.jit(lambda v: (image.apply(v, x), image.clone(dtype=jnp.bfloat16).apply(v, x)))(
      variables)
  assert {a: y.shape for a, y in f32.items()} == {"shape": (3, 4), "colour": (3, 6)}
  for a in classes:
    assert bf16[a].dtype == jnp.float32 and not np.array_equal(f32[a], bf16[a])
    np.testing.assert_allclose(bf16[a], f32[a], atol=0.05 * float(jnp.abs(f32[a]).max()))
  text = AttributeClassifier(classes, modality="text", encoder="bag_of_words",
                             encoder_options=dict(vocab_size=10, width=8))
  logits = jax.eval_shape(text.init_with_output, jax.random.key(0), jnp.ones((3, 5), jnp.int32))[0]
  assert logits["colour"].shape == (3, 6) and logits["colour"].dtype == jnp.float32
  with pytest.raises(ValueError, match="modality='audio'; valid: image, text"):
    jax.eval_shape(AttributeClassifier(classes, modality="audio").init, jax.random.key(0),
                   jnp.zeros((3, 8)))
  # By hand: uniform logits cost log(classes) each; argmax of all-equal logits is class 0.
  logits = {"shape": jnp.zeros((2, 4)), "colour": jnp.zeros((2, 6))}
  labels = {"shape": jnp.array([0, 1]), "colour": jnp.array([0, 0])}
  loss, acc = jax.jit(attribute_loss)(logits, labels)  # one compile, not one per eager op
  np.testing.assert_allclose(loss, np.log(4) + np.log(6), rtol=1e-6)
  assert float(acc["shape"]) == 0.5 and float(acc["colour"]) == 1.0


def test_text_to_image_follows_the_caption_unless_the_condition_is_dropped():
  model = TextToImage(text=dict(vocab_size=10, width=8), condition="tokens",
                      generator_options=dict(base_channels=8, channel_mults=(1,),
                                             num_res_blocks=1, num_groups=4, num_heads=2))
  # Rows: caption a, caption b, both again with the condition dropped; same x and t for all.
  x = jnp.tile(jax.random.normal(jax.random.key(1), (1, 8, 8, 3)), (4, 1, 1, 1))
  t = jnp.full((4,), 300)
  tokens = jnp.array([[4, 5, 6, 2, 0], [9, 7, 2, 0, 0]] * 2, jnp.int32)
  drop = jnp.array([False, False, True, True])
  variables = jax.eval_shape(model.init, jax.random.key(0), x, t, tokens)
  rng = np.random.default_rng(0)  # init-like values without compiling init
  variables = jax.tree.map(lambda s: (rng.normal(size=s.shape) * 0.3).astype(s.dtype), variables)
  eps = jax.jit(lambda v: model.apply(v, x, t, tokens, drop=drop))(variables)  # one compile
  assert eps.shape == x.shape and eps.dtype == jnp.float32
  assert float(jnp.abs(eps[0] - eps[1]).max()) > 1e-3  # the caption changes the prediction
  np.testing.assert_allclose(eps[2], eps[3], atol=1e-6)  # the null condition ignores it


def test_stage_models_from_config_sections():
  s = tiny_config().stages
  image = stage_models.build_attribute_classifier(s.image_classifier.model, "image", 30, 16)
  assert (image.modality, image.encoder) == ("image", "cnn")
  assert image.encoder_options == dict(channels=(4,), head="flatten")
  assert image.num_classes == {"shape": 4, "colour": 6, "size": 2}
  text = stage_models.build_attribute_classifier(s.text_classifier.model, "text", 30, 16)
  assert text.encoder_options == dict(width=8, vocab_size=30)  # the vocabulary: from the data
  t2i = stage_models.build_text_to_image(s.generator.model, 30, 16)
  assert (t2i.text_encoder, t2i.generator, t2i.condition) == ("bag_of_words", "diffusion",
                                                              "pooled")
  assert t2i.text == dict(width=8, vocab_size=30)
  assert t2i.generator_options == dict(s.generator.model.generator.diffusion)
  assert stage_models.noise_schedule(s.generator.model).shape == (1000,)
  predictions = {"shape": np.array([0, 1]), "colour": np.array([2, 2]), "size": np.array([1, 1])}
  labels = {"shape": np.array([0, 1]), "colour": np.array([2, 3]), "size": np.array([1, 1])}
  assert stage_models.accuracies(predictions, labels) == {"shape": 1.0, "colour": 0.5,
                                                          "size": 1.0, "all": 0.5}
  # The attribute set is the data's: a source of files' label alone.
  label = stage_models.build_attribute_classifier(s.image_classifier.model, "image", 30, 16,
                                                  attributes={"label": 3})
  assert label.num_classes == {"label": 3}
  assert stage_models.accuracies({"label": np.array([0, 2])}, {"label": np.array([0, 1])}) == {
      "label": 0.5, "all": 0.5}
  assert stage_models.accuracies(predictions, labels, ("shape", "size")) == {
      "shape": 1.0, "size": 1.0, "all": 1.0}


@pytest.mark.parametrize("section,changes,match", [
    ("text_classifier", {"head": {"hiden": 8}}, r"stages.text_classifier.model.head has no "
                                                r"option 'hiden'"),
    ("image_classifier", {"encoder.name": "cnm"}, r"stages.image_classifier.model.encoder.name="
                                                  r"'cnm'"),
    ("generator", {"condition": "both"}, r"stages.generator.model.condition='both'; valid "
                                         r"choices: pooled, tokens"),
    ("generator", {"noise_schedule": "cosin"}, r"stages.generator.model.noise_schedule='cosin'.*"
                                               r"valid: cosine, linear"),
    ("generator", {"text.bag_of_words": {"widht": 8}},
     r"stages.generator.model.text.bag_of_words has no option 'widht'"),
])
def test_stage_model_errors_name_the_key(section, changes, match):
  key = f"stages.{section}.model"
  m = tiny_config(**{f"{key}.{k}": v for k, v in changes.items()}).stages[section].model
  with pytest.raises(ConfigError, match=match):
    if section == "generator":
      stage_models.build_text_to_image(m, 30, 16, key=key)
    else:
      modality = "text" if section == "text_classifier" else "image"
      stage_models.build_attribute_classifier(m, modality, 30, 16, key=key)


@pytest.fixture(scope="module")
def experiment():
  return translation


@pytest.fixture(scope="module")
def tiny_run(experiment, tmp_path_factory):
  """The tiny preset through every stage: (workdir, results)."""
  workdir = str(tmp_path_factory.mktemp("translation"))
  return workdir, experiment.run(tiny_config(), workdir)


def test_tiny_trains_every_stage_and_scores_the_translations(tiny_run, experiment, capsys):
  workdir, results = tiny_run
  assert json.load(open(os.path.join(workdir, "results.json"))) == results
  assert results["chance"] == pytest.approx(CHANCE)
  for stage in ("image_classifier", "generator", "text_classifier", "captioner"):
    assert results[stage]["step"] == 4, stage
    assert os.path.isdir(os.path.join(workdir, stage, "checkpoints", "4")), stage
    losses = train_losses(os.path.join(workdir, stage))
    assert len(losses) == 2 and np.all(np.isfinite(losses)), stage
  # The generator learns: its denoising loss falls by 0.16, 0.11 on seeds 0, 1. In 4 steps the
  # classifiers' and captioner's losses barely move and no score beats chance.
  losses = train_losses(os.path.join(workdir, "generator"))
  assert losses[-1] < losses[0] - 0.05, losses
  scores = [results["image_classifier"]["real_images"], results["generator"]["generated_images"],
            results["text_classifier"]["real_captions"],
            results["captioner"]["generated_captions"]]
  for s in scores:  # accuracies of 16 examples; all three right is rarer than each one
    assert set(s) == set(CHANCE) and all(16 * v == int(16 * v) for v in s.values())
    assert 0 <= s["all"] <= min(s["shape"], s["colour"], s["size"]) <= 1
  # The generator's "real" row scores the same 16 test images as the image classifier's.
  assert results["generator"]["real_images"] == results["image_classifier"]["real_images"]
  grid = matplotlib.image.imread(os.path.join(workdir, "generated.png"))
  assert grid.ndim == 3 and grid.shape[0] > 100 and grid.std() > 0
  assert len(results["captioner"]["examples"]) == 4
  experiment.report(results)
  out = capsys.readouterr().out
  assert "images generated from captions" in out and "text classifier, generated captions" in out
  assert f"{results['generator']['generated_images']['all']:8.3f}" in out


def test_eval_only_with_the_captioner_loaded_from_another_workdir_reproduces(tiny_run,
                                                                            experiment):
  workdir, results = tiny_run
  again = experiment.run(tiny_config(eval_only=True, mode="caption_route",
                                     captioner_workdir=os.path.join(workdir, "captioner")),
                         workdir)
  for stage in ("image_classifier", "text_classifier", "captioner"):
    assert again[stage] == results[stage], stage


@pytest.mark.parametrize("changes,match", [
    ({"mode": "speech"}, "mode='speech'; valid choices: text_to_image, caption_route, both"),
    ({"stages.generator.model.generator.name": "difusion"}, 'Did you mean "diffusion"'),
    ({"stages.text_classifier.model.encoder.bag_of_words": {"width": 8, "hiden": 8}},
     "has no option 'hiden'"),
    ({"eval.sample_steps": 2000}, r"eval.sample_steps=2000; valid: 1..stages.generator.model"),
    ({"stages.generator.optimizer.name": "adam"},
     "stages.generator: optimizer.name='adam' is not valid"),
    ({"captioner_workdir": "/nonexistent"}, "has no config.json; give the workdir of a"),
])
def test_bad_config_values_fail_before_compiling(experiment, tmp_path, changes, match):
  with pytest.raises(ConfigError, match=match):
    experiment.run(tiny_config(**changes), str(tmp_path))
  assert not (tmp_path / "image_classifier").exists()


def test_a_workdir_refuses_stages_of_other_data(experiment, tmp_path):
  # A run that stops at a bad model option has already recorded its data in the workdir.
  with pytest.raises(ConfigError, match="has no option"):
    experiment.run(tiny_config(**{"stages.generator.model.text.bag_of_words":
                                  {"width": 8, "hidden": 8}}), str(tmp_path))
  with pytest.raises(ConfigError, match="holds stages trained on data"):
    experiment.run(tiny_config(**{"data.image_size": 8}), str(tmp_path))
