"""jit over an 8-device mesh (replicated or FSDP) and pmap over 8 devices must equal a plain
single-device step on the same global batches: same losses, same params, same batch statistics
(a ResNet with BatchNorm). With dropout (a ViT), jit draws the single-device masks; pmap draws
each device's own, and equals a single-device step whose 8 batch shards draw those."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax import train
from mmjax.train import parallel
from mmjax.train.optimizer import make_optimizer
from mmjax.train.state import TrainState
from mmjax.train.step import make_train_step
from tests import toy


def reference_run(c, init_fn, loss_fn, make_batch, steps):
  """The single-device ground truth: no mesh, no pmap, one device."""
  optimizer, schedule = make_optimizer(c, c.total_steps)
  rng = jax.random.key(c.seed)
  # Jitted onto one device as the trainer's pmap setup initialises, so the program is compiled
  # once for both (op by op, a ResNet's init alone takes seconds).
  one = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  state = jax.jit(lambda r: TrainState.create(*init_fn(r), optimizer, r), out_shardings=one)(rng)
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


MODES = pytest.mark.parametrize(
    "mode", [dict(parallelism="jit"), dict(parallelism="jit", fsdp=True),
             dict(parallelism="pmap")], ids=["jit", "jit_fsdp", "pmap"])


@functools.cache
def contrastive_reference():
  """(problem, single-device final state, losses): the modes differ only in parallelism, which
  the reference does not have, so they share one."""
  problem, c = toy.contrastive_problem(), toy.config()
  return (problem, *reference_run(c, *problem, c.total_steps))


@MODES
def test_contrastive_matches_single_device(tmp_path, mode):
  assert jax.device_count() == 8
  c = toy.config(**mode)
  (init_fn, loss_fn, make_batch), ref_state, ref_losses = contrastive_reference()
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
  ref_state, ref_losses = reference_run(c1, init_fn, loss_fn, make_batch, 3)
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
  _, _, ref_losses = contrastive_reference()
  # bf16 matmuls: the first loss (same params, same batch) agrees to bf16 precision.
  np.testing.assert_allclose(losses_logged(tmp_path)[0], ref_losses[0], rtol=2e-2)


# Real encoders, tiny: a ResNet-10 with BatchNorm (stats of 2 examples per device under pmap),
# and a ViT whose dropout (on embeddings, residual branches, MLP units) drops 30 %.
MODELS = {"resnet": dict(depth=10, width=4, stem="cifar", norm="batch"),
          "vit": dict(patch_size=4, width=16, depth=1, num_heads=2, mlp_dim=32, pool="mean",
                      dropout=0.3),
          # Layers under nn.scan, recomputed in the backward pass: FSDP gathers them one at a
          # time inside the scan (transformer.gather_layer).
          "vit_scan": dict(patch_size=4, width=16, depth=2, num_heads=2, mlp_dim=32,
                           pool="mean", dropout=0.3, scan=True, remat="full")}
STEPS = 2


def per_device_loss(loss_fn, n):
  """What the pmap step computes, on one device: the mean over the batch's n shards of the loss,
  shard i drawing from the step's key folded with i (as `make_train_step` folds the device
  index). Only for losses of independent examples (no BatchNorm)."""
  def loss(params, model_state, batch, rng, axis_name):
    shards = jax.tree.map(lambda x: x.reshape((n, -1) + x.shape[1:]), batch)
    losses, (metrics, states) = jax.vmap(
        lambda shard, i: loss_fn(params, model_state, shard, jax.random.fold_in(rng, i), None)
    )(shards, jnp.arange(n))
    mean = lambda t: jax.tree.map(lambda x: x.mean(0), t)
    return losses.mean(), (mean(metrics), mean(states))
  return loss


@functools.cache
def real_model_reference(name, per_device=False):
  """(problem, single-device final state, losses) of MODELS[name], shared by the modes."""
  problem = toy.image_classifier_problem(name.split("_")[0], **MODELS[name])  # vit_scan: a vit
  init_fn, loss_fn, make_batch = problem
  if per_device:
    loss_fn = per_device_loss(loss_fn, jax.device_count())
  return (problem, *reference_run(toy.config(total_steps=STEPS), init_fn, loss_fn, make_batch,
                                  STEPS))


def fit_real_model(tmp_path, monkeypatch, name, mode):
  (init_fn, loss_fn, make_batch), _, _ = real_model_reference(name)
  c = toy.config(total_steps=STEPS, **mode)
  # Tiny models have no array above FSDP's size threshold: shard every one that divides.
  monkeypatch.setattr(parallel, "FSDP_MIN_SIZE", 0)
  result = train.fit(c, str(tmp_path), init_fn=init_fn, loss_fn=loss_fn,
                     train_data=toy.batches(make_batch, c))
  if c.fsdp:
    assert any(not x.sharding.is_fully_replicated for x in jax.tree.leaves(result.state.params))
  return c, init_fn, result, losses_logged(tmp_path)


@MODES
def test_resnet_batchnorm_matches_single_device(tmp_path, monkeypatch, mode):
  c, init_fn, result, losses = fit_real_model(tmp_path, monkeypatch, "resnet", mode)
  _, ref_state, ref_losses = real_model_reference("resnet")
  np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
  assert_trees_close(result.state.params, ref_state.params, rtol=1e-4, atol=1e-6)
  # The running averages too (pmap: statistics synced over the devices by the trainer), and
  # the checkpoint that evaluation restores holds them.
  stats = ref_state.model_state["batch_stats"]
  assert_trees_close(result.state.model_state["batch_stats"], stats, rtol=1e-4, atol=1e-6)
  restored, _ = train.restore_latest(c, str(tmp_path), init_fn)
  assert_trees_close(restored.model_state["batch_stats"], stats, rtol=1e-4, atol=1e-6)


@MODES
def test_vit_dropout_against_single_device(tmp_path, monkeypatch, mode):
  _, _, result, losses = fit_real_model(tmp_path, monkeypatch, "vit", mode)
  _, ref_state, ref_losses = real_model_reference("vit")
  if mode["parallelism"] == "pmap":
    # Each device draws its own masks: a valid dropout stream, but not the single-device one...
    assert np.max(np.abs(np.subtract(losses, ref_losses))) > 1e-3
    # ...it is the single-device step whose 8 batch shards draw with the devices' keys.
    _, ref_state, ref_losses = real_model_reference("vit", per_device=True)
  np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
  assert_trees_close(result.state.params, ref_state.params, rtol=1e-4, atol=1e-6)


def test_fsdp_of_scanned_layers_gathered_one_at_a_time_equals_single_device(tmp_path,
                                                                           monkeypatch):
  _, _, result, losses = fit_real_model(tmp_path, monkeypatch, "vit_scan",
                                        dict(parallelism="jit", fsdp=True))
  _, ref_state, ref_losses = real_model_reference("vit_scan")
  np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
  assert_trees_close(result.state.params, ref_state.params, rtol=1e-4, atol=1e-6)


def test_cpu_dot_kernels_follow_the_compute_dtype(monkeypatch):
  """float32 steps compile with Eigen's dots (YNNPACK fusions off); bfloat16 steps give YNNPACK
  the products alone on a CPU with bf16 instructions, where that was the fastest
  (benchmarks/train_throughput.py)."""
  from mmjax.train import parallel
  off = {"xla_cpu_experimental_ynn_fusion_type": ""}
  dots = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}
  for has_bf16 in (True, False):
    monkeypatch.setattr(parallel, "cpu_has_bf16", lambda has_bf16=has_bf16: has_bf16)
    assert parallel.compiler_options("float32") == off
    assert parallel.compiler_options() == off
    assert parallel.compiler_options("bfloat16") == (dots if has_bf16 else off)
  # XLA accepts the option's value (a misspelt enum name is an error at compile time).
  jax.jit(lambda x: x @ x).lower(jnp.ones((4, 4), jnp.bfloat16)).compile(dots)
