"""The audio-visual event localisation experiment in-process on its tiny preset: it learns past
the best constant answer; both temporal fusions give per-segment features; bad configs fail
before compiling. (Eval-only restores as every experiment's does: test_experiment_video.py.)"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import av_event_localisation as experiment
from mmjax.models.temporal_fusion import TEMPORAL_FUSIONS
from mmjax.registry import ConfigError
from mmjax.tasks import event_localisation
from tests.scripts import preset, train_losses

# The loss of the best constant answer: the entropy of a segment's label, an event in 1 of 14.
PRIOR_LOSS = -(np.log(1 / 14) / 14 + np.log(13 / 14) * 13 / 14)  # 0.257


def test_tiny_learns_past_the_prior(tmp_path, capsys):
  """60 steps at batch 16 and lr 3e-3: the train loss (mean of the last 20 steps) ends at
  0.190 (seed 0), below the prior's 0.257 (which any model of the label frequency reaches)
  by 0.067: the model reads where the tone or the change is."""
  config = preset("configs/av_events.py:tiny", total_steps=60, log_every_steps=20,
                  batch_size=16, **{"checkpoint.every_steps": 60, "optimizer.lr": 3e-3})
  results = experiment.run(config, str(tmp_path))
  losses = train_losses(tmp_path)
  assert len(losses) == 3 and losses[-1] < PRIOR_LOSS - 0.04, losses
  assert json.load(open(tmp_path / "results.json")) == results
  assert results["step"] == 60 and results["modalities"] == ["video", "audio"]
  assert results["segments"] == 7 and results["num_test_examples"] == 16
  assert results["limits"]["audio_only"]["exact"] == pytest.approx(0.5)
  for key in ("segment_accuracy", "exact", "detection", "event_recall", "event_precision"):
    assert 0.0 <= results[key] <= 1.0, key
  assert "exact" in capsys.readouterr().out


def test_temporal_fusions_keep_one_feature_per_segment():
  """[batch, S, e_i] per modality -> [batch, S, dim] (concat: also of one), and a segment's
  output depends on the other modality (cross_attention: through attention across segments)."""
  segments = [jnp.ones((2, 7, 6)), jnp.ones((2, 7, 10))]
  for name, count in (("concat", 1), ("concat", 2), ("cross_attention", 2)):
    fusion = TEMPORAL_FUSIONS.build(name, dim=16, depth=1, num_heads=2)
    params = jax.eval_shape(fusion.init, jax.random.PRNGKey(0), segments[:count])
    assert jax.eval_shape(fusion.apply, params, segments[:count]).shape == (2, 7, 16)
  params = jax.jit(fusion.init)(jax.random.PRNGKey(0), segments)
  apply = jax.jit(fusion.apply)
  moved = segments[1].at[:, 5].set(-1.0)  # the audio of segment 5 only
  change = jnp.abs(apply(params, [segments[0], moved]) - apply(params, segments)).sum(-1)
  assert float(change[:, 3].min()) > 0  # segment 3's output attends to segment 5's
  with pytest.raises(ValueError, match="cross_attention joins 2 modalities; got 1"):
    fusion.apply(params, segments[:1])


def test_vivit_time_steps_pool_to_the_segments():
  """A factorised ViViT gives one token per tubelet (4 for 8 frames): they pool to the 7
  segments, and a change in the last tubelet's frames reaches only the segments it spans."""
  # temporal_depth=0: no temporal Transformer mixing the time steps, so the test can see where
  # each one lands.
  vivit = dict(width=8, depth=1, num_heads=2, mlp_dim=16, temporal_depth=0)
  c = preset("configs/av_events.py:tiny", **{"model.encoders.video.name": "vivit",
                                             "model.modalities": ("video",),
                                             **{f"model.encoders.video.vivit.{k}": v
                                                for k, v in vivit.items()}})
  model = event_localisation.localiser(c, ("video",), 7)
  video = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 16, 16, 3))
  params = jax.jit(model.init)(jax.random.PRNGKey(1), {"video": video})
  apply = jax.jit(model.apply)
  logits = apply(params, {"video": video})
  assert logits.shape == (2, 7, 2)
  moved = apply(params, {"video": video.at[:, 6:].multiply(-1.0)})  # frames 6, 7: tubelet 3
  change = np.abs(np.asarray(moved - logits)).sum((0, 2))
  # Tubelet 3 spans the clip's last quarter: segment 5 (frames 5 | 6) through 6 (6 | 7).
  assert change[5] > 0 and change[6] > 0 and np.all(change[:5] == 0), change


@pytest.mark.parametrize("overrides,match", [
    ({"model.fusion.name": "concatt"}, 'Did you mean "concat"'),
    ({"model.encoders.video.name": "vivit", "model.encoders.video.vivit.variant": "joint"},
     "variant='joint': segments pool tokens that each cover a time step"),
    ({"model.fusion.name": "cross_attention", "model.modalities": ("video",)},
     "'cross_attention' joins 2 modalities.*use model.fusion.name=concat"),
    ({"model.modalities": ("video", "image")}, "model.modalities=.*valid: .*video, audio"),
    ({"model.encoders.audio.name": "wave"}, 'Did you mean "wave_cnn"'),
])
def test_bad_config_values_fail_before_compiling(tmp_path, overrides, match):
  with pytest.raises(ConfigError, match=match):
    experiment.run(preset("configs/av_events.py:tiny", **overrides), str(tmp_path))
  assert not (tmp_path / "checkpoints").exists()
