"""Missing modalities: a MultimodalClassifier with placeholders takes any subset of its
modalities under every fusion, leaving a modality out equals marking every example as lacking
it, other examples are untouched, and modality dropout never drops all of an example's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models import FUSIONS
from mmjax.models.missing_modality import dropout_keep
from mmjax.models.multimodal_classifier import MultimodalClassifier
from tests.test_experiment_fusion import ENCODERS, inputs
from tests.test_fusion import CASES

# Each fusion's tiny options: its first case in tests/test_fusion.py.
OPTIONS = {}
for _name, _options in CASES:
  OPTIONS.setdefault(_name, _options)


def model(fusion="concat_late", **kw):
  return MultimodalClassifier(num_classes=3, modalities=("text", "audio"), encoders=ENCODERS,
                              fusion=fusion, fusion_options=OPTIONS[fusion],
                              head_options=dict(hidden=(8,), dropout=0.0), placeholders=True,
                              **kw)


@pytest.mark.parametrize("fusion", sorted(FUSIONS.names()))
def test_every_fusion_takes_either_modality_alone(fusion):
  m, x = model(fusion), inputs(batch=3)
  variables = jax.jit(m.init)(jax.random.key(0), x)
  none = jnp.zeros(3, bool)

  @jax.jit  # every variant in one program: one compile per fusion
  def variants(v):
    out = {"both": m.apply(v, x),
           "mixed": m.apply(v, x, present={"audio": jnp.array([True, False, True])})}
    for gone, kept in (("text", "audio"), ("audio", "text")):
      out[f"no_{gone}"] = m.apply(v, {kept: x[kept]})
      # The reference: the input there, every example marked as lacking it.
      out[f"marked_no_{gone}"] = m.apply(v, x, present={gone: none})
    return out

  out = {k: np.asarray(v) for k, v in variants(variables).items()}
  for gone in ("text", "audio"):
    alone = out[f"no_{gone}"]
    assert alone.shape == (3, 3) and np.all(np.isfinite(alone)), (fusion, gone)
    np.testing.assert_allclose(alone, out[f"marked_no_{gone}"], atol=1e-5,
                               err_msg=f"{fusion} without {gone}")
    assert not np.allclose(alone, out["both"], atol=1e-4), (fusion, gone)  # stand-ins in use
  # Per example: the ones that keep both modalities are untouched.
  np.testing.assert_allclose(out["mixed"][[0, 2]], out["both"][[0, 2]], atol=1e-5)
  np.testing.assert_allclose(out["mixed"][1], out["no_audio"][1], atol=1e-5)


def test_without_placeholders_a_missing_modality_is_named():
  m = MultimodalClassifier(num_classes=3, modalities=("text", "audio"), encoders=ENCODERS)
  variables = m.init(jax.random.key(0), inputs(batch=3))
  with pytest.raises(ValueError, match=r"inputs lack modalities \['audio'\].*placeholders=True"):
    m.apply(variables, {"text": inputs(batch=3)["text"]})
  with pytest.raises(ValueError, match="modality_dropout needs placeholders=True"):
    MultimodalClassifier(num_classes=3, modalities=("text", "audio"), encoders=ENCODERS,
                         modality_dropout=0.5).init(jax.random.key(0), inputs(batch=3))


def test_bad_present_and_empty_inputs_are_named():
  m, x = model(), inputs(batch=3)
  variables = m.init(jax.random.key(0), x)
  with pytest.raises(ValueError, match=r"present names \['image'\], not modalities"):
    m.apply(variables, x, present={"image": jnp.ones(3, bool)})
  with pytest.raises(ValueError, match="inputs hold none of the modalities"):
    m.apply(variables, {"image": jnp.zeros((3, 8, 8, 3))})
  with pytest.raises(ValueError, match=r"modality_dropout=1.0; valid: 0 <= p < 1"):
    model(modality_dropout=1.0).init(jax.random.key(0), x)


def test_modality_dropout_draws_each_modality_at_its_rate_and_never_all():
  keep = np.asarray(dropout_keep(jax.random.key(0), 20000, 2, 0.4))
  assert keep.shape == (2, 20000) and keep.any(0).all()
  # P(dropped) = p - p^2 / 2: an example that lost both keeps one of them back.
  dropped = 1 - keep.mean(1)
  np.testing.assert_allclose(dropped, 0.4 - 0.4 ** 2 / 2, atol=0.015)


def test_training_with_modality_dropout_replaces_dropped_examples():
  m, x = model(modality_dropout=0.5), inputs(batch=64)
  variables = m.init(jax.random.key(0), x)
  trained = np.asarray(m.apply(variables, x, train=True, rngs={"dropout": jax.random.key(3)}))
  # Each example is one of: both modalities, text dropped, audio dropped (never both).
  none = jnp.zeros(64, bool)
  versions = np.stack([m.apply(variables, x), m.apply(variables, x, present={"text": none}),
                       m.apply(variables, x, present={"audio": none})])
  match = np.abs(trained[None] - versions).max(-1) < 1e-5  # [3, 64]
  assert match.any(0).all()
  assert match.sum(1).min() >= 8, match.sum(1)  # each occurs (expected 16, 24, 24)


def test_fusion_experiment_trains_with_modality_dropout_and_scores_each_modality_missing(
    tmp_path, capsys):
  from experiments import fusion_classification
  from mmjax.registry import ConfigError
  from tests.scripts import preset
  c = preset("configs/fusion.py:tiny", **{"model.missing.placeholders": True,
                                           "model.missing.modality_dropout": 0.3})
  results = fusion_classification.run(c, str(tmp_path))
  for gone in ("image", "audio"):
    assert 0.0 <= results[f"missing_{gone}/accuracy"] <= 1.0
  out = capsys.readouterr().out
  assert "without image: accuracy" in out and "(Bayes-optimal from audio 0.818)" in out
  c = preset("configs/fusion.py:tiny", **{"model.missing.modality_dropout": 0.3})
  with pytest.raises(ConfigError, match="modality_dropout needs model.missing.placeholders"):
    fusion_classification.run(c, str(tmp_path / "bad"))


def test_vqa_takes_any_subset_of_its_inputs_with_placeholders(tmp_path):
  from mmjax.models.vqa import VQAModel
  from tests.scripts import preset
  encoders = {"question": ENCODERS["text"], "image": dict(name="cnn", channels=(4,))}
  batch = {"question": jnp.array([[3, 4, 5, 0], [6, 7, 0, 0]]),
           "image": jax.random.normal(jax.random.key(1), (2, 8, 8, 3))}
  vqa = VQAModel(num_answers=5, encoders=encoders, placeholders=True,
                 head_options=dict(hidden=(8,)))
  v = vqa.init(jax.random.key(0), batch)
  alone = vqa.apply(v, {"question": batch["question"]})
  marked = vqa.apply(v, batch, present={"image": jnp.array([False, False])})
  np.testing.assert_allclose(alone, marked, atol=1e-6)
  kept = vqa.apply(v, batch, present={"image": jnp.array([True, False])})
  np.testing.assert_allclose(kept[0], vqa.apply(v, batch)[0], atol=1e-6)
  np.testing.assert_allclose(kept[1], alone[1], atol=1e-6)
  plain = VQAModel(num_answers=5, encoders=encoders, head_options=dict(hidden=(8,)))
  with pytest.raises(ValueError, match="lacks inputs \\['image'\\].*placeholders=True"):
    plain.apply(plain.init(jax.random.key(0), batch), {"question": batch["question"]})
  with pytest.raises(ValueError, match="present names \\['audio'\\]"):
    vqa.apply(v, batch, present={"audio": jnp.array([True, True])})
  # The experiment scores each input left out.
  from experiments import vqa as vqa_experiment
  config = preset("configs/vqa.py:tiny", **{"model.missing.placeholders": True,
                                             "model.missing.modality_dropout": 0.3})
  results = vqa_experiment.run(config, str(tmp_path))
  assert {"missing_question/accuracy", "missing_image/accuracy"} <= set(results)


def test_event_localiser_takes_either_modality_alone(tmp_path, capsys):
  """The per-segment stand-ins: leaving a modality out equals marking every clip as lacking
  it, a clip that keeps both is untouched, and every segment of a missing modality gets the
  same stand-in (so its output differs from the full model's)."""
  from experiments import av_event_localisation
  from mmjax.tasks import event_localisation
  from tests.scripts import preset
  config = preset("configs/av_events.py:tiny", **{"model.missing.placeholders": True})
  m = event_localisation.localiser(config, ("video", "audio"), 7)
  x = {"video": jax.random.normal(jax.random.key(1), (2, 8, 32, 32, 3)),
       "audio": jax.random.normal(jax.random.key(2), (2, 8000))}
  v = jax.jit(m.init)(jax.random.key(0), x)
  none = jnp.zeros(2, bool)
  full = m.apply(v, x)
  for gone, kept in (("video", "audio"), ("audio", "video")):
    alone = m.apply(v, {kept: x[kept]})
    assert alone.shape == (2, 7, 2) and np.all(np.isfinite(alone))
    np.testing.assert_allclose(alone, m.apply(v, x, present={gone: none}), atol=1e-5)
    assert not np.allclose(alone, full, atol=1e-4), gone
  mixed = m.apply(v, x, present={"audio": jnp.array([True, False])})
  np.testing.assert_allclose(mixed[0], full[0], atol=1e-5)
  np.testing.assert_allclose(mixed[1], m.apply(v, {"video": x["video"]})[1], atol=1e-5)
  plain = event_localisation.localiser(preset("configs/av_events.py:tiny"), ("video", "audio"), 7)
  with pytest.raises(ValueError, match=r"inputs lack modalities \['audio'\].*placeholders"):
    plain.apply(plain.init(jax.random.key(0), x), {"video": x["video"]})
  # The experiment trains with modality dropout and scores each modality left out.
  config = preset("configs/av_events.py:tiny", **{"model.missing.placeholders": True,
                                                  "model.missing.modality_dropout": 0.3})
  results = av_event_localisation.run(config, str(tmp_path))
  for gone in ("video", "audio"):
    for k in ("exact", "segment_accuracy", "detection"):
      assert 0.0 <= results[f"missing_{gone}/{k}"] <= 1.0
  assert "without video: exact" in capsys.readouterr().out
