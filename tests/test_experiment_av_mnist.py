"""The AV-MNIST experiment on tfds mock data (nothing is downloaded): the tiny preset's main run
in-process (train, validation-best selection, test, eval-only), every preset's model at
MultiBench's widths, and bad data / config values failing fast with the fix named."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from experiments import av_mnist as experiment
from mmjax.data import sources
from mmjax.registry import ConfigError
from mmjax.tasks import classification, digits
from tests.scripts import preset, train_losses

NUM_MOCK = 84  # mock examples per tfds split: AV-MNIST train 77, val 7, test 84.
PRESETS = ("late", "tensor", "low_rank_tensor", "multiplicative", "image_only", "audio_only")


def config(name="tiny", **overrides):
  return preset(f"configs/av_mnist.py:{name}", **overrides)


def audio_length(c):
  return round(c.data.audio_seconds * c.data.sample_rate)


def random_variables(shapes, seed=0):
  """Variables of the given shapes drawn with numpy (fan-in scaled matrices; norm scales and
  running variances 1): no PRNG to compile, which would cost more than the forward pass."""
  rng = np.random.default_rng(seed)

  def draw(path, s):
    if len(s.shape) >= 2:
      return rng.normal(size=s.shape).astype(s.dtype) / np.sqrt(np.prod(s.shape[:-1]))
    ones = jax.tree_util.keystr(path).endswith(("'scale']", "'var']"))
    return (float(ones) + 0.1 * rng.normal(size=s.shape)).astype(s.dtype)
  return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  """The tiny preset's main, in-process: trained 4 steps (validated at steps 2 and 4) on data
  read inside the tfds mock, then evaluated again with eval_only."""
  workdir = tmp_path_factory.mktemp("av_mnist")
  with tfds.testing.mock_data(num_examples=NUM_MOCK, policy=tfds.testing.MockPolicy.USE_CODE):
    splits = sources.build(config().data)
  # The splits hold their arrays: both runs reuse them rather than reading the mock again.
  trained = experiment.run(config(), str(workdir), splits)
  again = experiment.run(config(eval_only=True), str(workdir), splits)
  return workdir, trained, again


def test_tiny_trains_selects_on_validation_and_tests(tiny_run):
  workdir, results, _ = tiny_run
  assert results["step"] == 4 and results["modalities"] == ["image", "audio"]
  assert results["fusion"] == "concat_late" and results["chance"] == 0.1
  assert (results["num_val_examples"], results["num_test_examples"]) == (NUM_MOCK // 12, NUM_MOCK)
  # Validated after steps 2 and 4; the first of the best is kept (MultiBench saves on a strict
  # improvement) and its parameters are the ones tested.
  curve = {int(k): v for k, v in results["val_curve"].items()}
  assert sorted(curve) == [2, 4]
  best = max(curve.values())
  assert results["best_step"] == min(s for s, v in curve.items() if v == best)
  assert results["best_val_accuracy"] == best
  cm = np.array(results["confusion_matrix"])
  assert cm.shape == (10, 10) and cm.sum() == NUM_MOCK
  assert results["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
  record = json.load(open(workdir / "best.json"))
  assert record["step"] == results["best_step"] and record["val_accuracy"] == best
  for name in ("results.json", "metrics.jsonl", "config.json", "best_variables.msgpack",
               "checkpoints"):
    assert (workdir / name).exists(), name
  # It learns: 4 steps on mock data are too few for test accuracy above chance (0.107 vs 0.1),
  # but the loss falls: by 0.19, 0.55, 0.43 on seeds 0, 1, 2.
  losses = train_losses(workdir)
  assert losses[-1] < losses[0] - 0.1, losses


def test_eval_only_tests_the_same_best_checkpoint(tiny_run):
  workdir, trained, again = tiny_run
  assert again == trained
  assert json.load(open(workdir / "results.json")) == trained


def test_maps_of_the_tested_parameters_score_on_the_ink(tiny_run):
  """`python -m mmjax.interpret` on the run: maps of the best epoch's parameters (the tested
  ones: same accuracy), scored on each digit's ink, with the deletion test's three orders."""
  from mmjax.interpret.deletion import PERCENTS
  from mmjax.interpret.digits import explain_digits, ink_masks
  workdir, results, _ = tiny_run
  with tfds.testing.mock_data(num_examples=NUM_MOCK, policy=tfds.testing.MockPolicy.USE_CODE):
    gc = explain_digits(str(workdir), "gradcam", num_examples=NUM_MOCK, num_drawn=4,
                        batch_size=42)
    ig = explain_digits(str(workdir), "integrated_gradients", num_examples=12, num_drawn=0,
                        steps=4, batch_size=6)
    images = sources.build(config().data)["test"].make_batch(np.arange(NUM_MOCK))["images"]
  assert gc["accuracy"] == pytest.approx(results["accuracy"])
  game = gc["pointing_game"]
  assert game["num_maps"] == NUM_MOCK and gc["layer"].startswith("towers_image/")
  assert game["random_baseline"] == pytest.approx(ink_masks(images).mean())
  for kept in (gc["deletion_predictions_kept"], ig["deletion_predictions_kept"]):
    assert set(kept) == {"map", "brightest", "random"}
    assert all(set(v) == {f"top_{p}_percent" for p in PERCENTS} for v in kept.values())
  shares = ig["integrated_gradients"]["mean_share_of_magnitude"]
  assert set(shares) == {"image", "audio"} and sum(shares.values()) == pytest.approx(1.0)
  assert (workdir / "interpret" / "gradcam" / "maps.png").exists()


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_builds_at_multibench_widths_and_its_tiny_version_runs(preset):
  # Full size: shapes only (nothing computed), checked against MultiBench's layer widths.
  c = config(preset)
  mods = classification.modalities_of(c, digits.MODALITIES)
  x = {"image": jnp.zeros((2, 28, 28, 1)), "audio": jnp.zeros((2, audio_length(c)))}
  x = {m: x[m] for m in mods}
  model = classification.classifier(c, mods, digits.NUM_CLASSES)
  params = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
  head_in = params["classifier"]["hidden0"]["kernel"].shape
  assert head_in[1] == 100 and params["classifier"]["out"]["kernel"].shape == (100, 10)
  expected_head_in = {"late": 48 + 192, "tensor": 120, "low_rank_tensor": 120,
                      "multiplicative": 240, "image_only": 24, "audio_only": 192}
  assert head_in[0] == expected_head_in[preset]
  fuse = {k: v.shape for k, v in jax.tree_util.tree_leaves_with_path(params.get("fuse", {}))}
  if preset == "low_rank_tensor":
    assert {s for s in fuse.values() if len(s) == 3} == {(40, 49, 120), (40, 193, 120)}
  if preset == "multiplicative":
    assert params["fuse"]["W"].shape == (48, 192, 240)
  if preset == "tensor":
    assert params["fuse"]["out"]["kernel"].shape == (49 * 193, 120)
  if len(mods) == 1:
    assert "fuse" not in params

  # Tiny: a real forward pass (training mode runs in the tiny_run fixture).
  c = config(f"{preset},tiny")
  model = classification.classifier(c, mods, digits.NUM_CLASSES)
  # Two unlike examples: a blank image with faint noise, and a random image with a loud tone.
  rng = np.random.default_rng(0)
  tone = 0.5 * np.sin(2 * np.pi * 1000 / c.data.sample_rate * np.arange(audio_length(c)))
  x = {"image": np.stack([np.zeros((28, 28, 1)), rng.uniform(0, 1, (28, 28, 1))]),
       "audio": np.stack([rng.normal(0, 0.01, audio_length(c)), tone])}
  x = {m: x[m].astype(np.float32) for m in mods}

  variables = random_variables(jax.eval_shape(model.init, jax.random.key(0), x))
  logits = np.asarray(jax.jit(model.apply)(variables, x))
  assert logits.shape == (2, 10) and np.isfinite(logits).all()
  assert np.abs(logits[0] - logits[1]).max() > 1e-3  # depends on the input, not constant


def test_unprepared_data_names_the_tfds_build_command(tmp_path):
  with pytest.raises(FileNotFoundError, match="tfds build mnist spoken_digit --data_dir DIR"):
    experiment.run(config(**{"data.source.av_mnist.data_dir": str(tmp_path)}),
                   str(tmp_path / "work"))


@pytest.mark.parametrize("overrides,match", [
    ({"model.fusion.name": "concat"}, 'model.fusion.name=.concat.*Did you mean "concat_late"'),
    ({"model.modalities": ("image", "video")}, "model.modalities.*valid: a non-empty subset"),
    ({"data.source.av_mnist.audio_snr_db": float("nan")},
     "data.source.av_mnist.audio_snr_db=nan"),
])
def test_bad_config_values_fail_before_loading_or_compiling(tmp_path, overrides, match):
  # No tfds mock here: the config must be rejected before the data is read.
  with pytest.raises(ConfigError, match=match):
    experiment.run(config(**overrides), str(tmp_path))


def test_unknown_preset_lists_the_valid_ones():
  with pytest.raises(ValueError, match="valid: one of late, tensor, low_rank_tensor"):
    config("early")


def test_placeholders_score_each_modality_missing(tmp_path, capsys):
  with tfds.testing.mock_data(num_examples=NUM_MOCK, policy=tfds.testing.MockPolicy.USE_CODE):
    splits = sources.build(config().data)
  c = config(**{"model.missing.placeholders": True, "model.missing.modality_dropout": 0.3})
  results = experiment.run(c, str(tmp_path), splits)
  out = capsys.readouterr().out
  for gone in ("image", "audio"):
    assert 0.0 <= results[f"missing_{gone}/accuracy"] <= 1.0
    assert f"without {gone}: test accuracy {results[f'missing_{gone}/accuracy']:.4f}" in out
