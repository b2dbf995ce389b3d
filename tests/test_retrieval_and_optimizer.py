"""Recall@K and the optimizer/schedule factory."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.evaluate.retrieval import retrieval_metrics
from mmjax.train import defaults
from mmjax.train.optimizer import decay_mask, make_optimizer, make_schedule


def test_recall_perfect_reversed_and_equivalent():
  z = np.eye(4, dtype=np.float32)
  assert retrieval_metrics(z, z, ks=(1,))["i2t/R@1"] == 1.0
  shuffled = z[[1, 0, 3, 2]]
  m = retrieval_metrics(z, shuffled, ks=(1, 4))
  assert m["i2t/R@1"] == 0.0 and m["t2i/R@1"] == 0.0 and m["i2t/R@4"] == 1.0
  # Pairs 0/1 and 2/3 show the same thing: retrieving the twin is correct.
  assert retrieval_metrics(z, shuffled, keys=["a", "a", "b", "b"], ks=(1,))["i2t/R@1"] == 1.0
  m = retrieval_metrics(z, z, keys=["a", "a", "b", "b"], ks=(1, 3))
  assert m["i2t/chance_R@1"] == pytest.approx(0.5) and m["i2t/chance_R@3"] == pytest.approx(1.0)


def test_schedules_warmup_then_decay():
  c = defaults().schedule
  c.warmup_steps = 10
  s = make_schedule(c, 1.0, 110)
  assert float(s(0)) == 0.0 and float(s(5)) == pytest.approx(0.5)
  assert float(s(10)) == pytest.approx(1.0) and float(s(60)) == pytest.approx(0.5, abs=1e-6)
  assert float(s(110)) == pytest.approx(0.0, abs=1e-6)
  c.name = "linear"
  assert float(make_schedule(c, 1.0, 110)(60)) == pytest.approx(0.5)
  c.name, c.warmup_steps = "constant", 0
  assert float(make_schedule(c, 2.0, 110)(99)) == 2.0


def test_decay_mask_skips_biases_norm_scales_and_scalars():
  params = {"dense": {"kernel": jnp.ones((3, 4)), "bias": jnp.ones(4)},
            "ln": {"scale": jnp.ones(4)}, "logit_scale": jnp.ones(())}
  mask = decay_mask("matrices")(params)
  assert mask == {"dense": {"kernel": True, "bias": False}, "ln": {"scale": False},
                  "logit_scale": False}


@pytest.mark.parametrize("name", ["adamw", "sgd", "adafactor"])
def test_optimizers_step_and_clip(name):
  c = defaults()
  c.optimizer.name, c.optimizer.grad_clip_norm, c.schedule.name = name, 1.0, "constant"
  opt, _ = make_optimizer(c, 10)
  params = {"w": jnp.ones((4, 4)), "b": jnp.zeros(4)}
  grads = jax.tree.map(lambda p: 1e3 * jnp.ones_like(p), params)
  updates, _ = opt.update(grads, opt.init(params), params)
  assert all(np.isfinite(np.asarray(u)).all() for u in jax.tree.leaves(updates))
  if name == "sgd":  # clipped to global norm 1, then scaled by lr.
    norm = np.sqrt(sum(float(jnp.sum(u ** 2)) for u in jax.tree.leaves(updates)))
    assert norm == pytest.approx(c.optimizer.lr, rel=1e-3)
