"""jit over an 8-device mesh (replicated or FSDP) and pmap over 8 devices must equal a plain
single-device step on the same global batches: same losses, same params."""

import jax
import numpy as np
import pytest

from mmjax import train
from mmjax.train.optimizer import make_optimizer
from mmjax.train.state import TrainState
from mmjax.train.step import make_train_step
from tests import toy


def reference_run(c, init_fn, loss_fn, make_batch, steps):
  """The single-device ground truth: no mesh, no pmap, one device."""
  optimizer, schedule = make_optimizer(c, c.total_steps)
  rng = jax.random.key(c.seed)
  state = TrainState.create(*init_fn(rng), optimizer, rng)
  step = jax.jit(make_train_step(loss_fn, optimizer, schedule))
  data, losses = toy.batches(make_batch, c, prefetch=0), []
  for _ in range(steps):
    state, metrics = step(state, next(data))
    losses.append(float(metrics["loss"]))
  return state, losses


def losses_logged(workdir):
  import json
  rows = [json.loads(l) for l in open(f"{workdir}/metrics.jsonl")]
  return [r["train/loss"] for r in rows if "train/loss" in r]


def assert_trees_close(a, b, rtol, atol):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.parametrize("mode", [dict(parallelism="jit"), dict(parallelism="jit", fsdp=True),
                                  dict(parallelism="pmap")], ids=["jit", "jit_fsdp", "pmap"])
def test_contrastive_matches_single_device(tmp_path, mode):
  assert jax.device_count() == 8
  c = toy.config(**mode)
  init_fn, loss_fn, make_batch = toy.contrastive_problem()
  ref_state, ref_losses = reference_run(c, init_fn, loss_fn, make_batch, c.total_steps)
  result = train.fit(c, str(tmp_path), init_fn=init_fn, loss_fn=loss_fn,
                     train_data=toy.batches(make_batch, c))
  np.testing.assert_allclose(losses_logged(tmp_path), ref_losses, rtol=1e-5)
  assert_trees_close(result.state.params, ref_state.params, rtol=1e-4, atol=1e-6)
  assert int(result.state.step) == c.total_steps


def test_fsdp_shards_large_params(tmp_path):
  from mmjax.train.loop import _Setup
  c = toy.config(parallelism="jit", fsdp=True)
  c.model = None
  init_fn, _, _ = toy.contrastive_problem()
  setup = _Setup(c, init_fn)
  state = setup.init_state()
  emb = state.params["txt_tower"]["token_embedding"]  # [50, 16]: small, stays replicated.
  assert emb.sharding.is_fully_replicated
  from mmjax.train.parallel import fsdp_spec
  assert fsdp_spec((1024, 64), 8) == jax.P("data", None)
  assert fsdp_spec((100, 1000), 8) == jax.P(None, "data")
  assert fsdp_spec((7, 7), 8) == jax.P()


def test_grad_accumulation_equals_large_batch(tmp_path):
  init_fn, loss_fn, make_batch = toy.regression_problem()
  c1 = toy.config(total_steps=3)
  _, ref_losses = reference_run(c1, init_fn, loss_fn, make_batch, 3)
  ref_state, _ = reference_run(c1, init_fn, loss_fn, make_batch, 3)
  for parallelism in ("jit", "pmap"):
    c = toy.config(total_steps=3, grad_accum_steps=2, parallelism=parallelism)
    result = train.fit(c, str(tmp_path / parallelism), init_fn=init_fn, loss_fn=loss_fn,
                       train_data=toy.batches(make_batch, c))
    np.testing.assert_allclose(losses_logged(tmp_path / parallelism), ref_losses, rtol=1e-5)
    assert_trees_close(result.state.params, ref_state.params, rtol=1e-5, atol=1e-6)


def test_bfloat16_compute_keeps_float32_state(tmp_path):
  c = toy.config(compute_dtype="bfloat16")
  import jax.numpy as jnp
  init_fn, loss_fn, make_batch = toy.contrastive_problem(dtype=jnp.bfloat16)
  result = train.fit(c, str(tmp_path), init_fn=init_fn, loss_fn=loss_fn,
                     train_data=toy.batches(make_batch, c))
  for leaf in jax.tree.leaves((result.state.params, result.state.opt_state)):
    assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
  _, ref_losses = reference_run(toy.config(), *toy.contrastive_problem(), 1)
  # bf16 matmuls: the first loss (same params, same batch) agrees to bf16 precision.
  np.testing.assert_allclose(losses_logged(tmp_path)[0], ref_losses[0], rtol=2e-2)
