"""CNN and ResNet image encoders: shapes, gradients, BatchNorm state (train vs eval, sync under
pmap), the ImageNet ResNet parameter counts, bfloat16 vs float32, and config errors.

On XLA:CPU the compile, not the tiny forward pass, is the cost, so each model is initialised and
each function compiled once (module-scoped fixtures), at XLA backend optimisation level 0 (half
the compile time, same maths). Inits use "rbg" PRNG keys: threefry's per-parameter random bits
take ~6x longer to compile, and any random init will do here.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models import IMAGE_ENCODERS
from mmjax.models.image.cnn import ConvNet
from mmjax.models.image.resnet import ResNet
from mmjax.registry import ConfigError

KEY = jax.random.key(0, impl="rbg")
R18 = dict(depth=18, width=4, stem="cifar")  # 16 px -> 2x2 final map of 32 channels
LENET = dict(channels=(6, 12, 24, 48), kernel_size=(5, 3, 3, 3), norm="batch", head="flatten")
FAST_COMPILE = {"xla_backend_optimization_level": 0}
jit = functools.partial(jax.jit, compiler_options=FAST_COMPILE)


def out_shapes(model, x_shape):
  (pooled, tokens), _ = jax.eval_shape(model.init_with_output, KEY, jnp.zeros(x_shape))
  return pooled.shape, tokens.shape


def n_params(tree):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))


def rel_err(a, b):
  a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
  return np.linalg.norm(a - b) / np.linalg.norm(b)


def with_stats(variables, stats):
  return {**variables, "batch_stats": stats}


@pytest.fixture(scope="module")
def images():
  return jax.random.normal(jax.random.key(1), (8, 16, 16, 3))


@pytest.fixture(scope="module")
def r18(images):
  """A BatchNorm ResNet-18, its initial variables, and jitted train-step / eval functions."""
  model = ResNet(**R18)
  variables = jit(model.init)(KEY, images)
  proj = jax.random.normal(jax.random.key(2), (model.width * 8,))

  def loss(params, stats, x):
    (pooled, tokens), new = model.apply({"params": params, "batch_stats": stats}, x, train=True,
                                        mutable=["batch_stats"])
    return jnp.sum(pooled * proj), (pooled, tokens, new["batch_stats"])

  train = jit(jax.value_and_grad(loss, has_aux=True))
  evaluate = jit(lambda v, x: model.apply(v, x, train=False, mutable=["batch_stats"]))
  return model, variables, train, evaluate


@pytest.mark.parametrize("cfg,x_shape,pooled,tokens", [
    (dict(channels=(8, 16), kernel_size=5), (2, 28, 28, 1), (2, 16), (2, 49, 16)),
    (dict(channels=(8, 16), kernel_size=(5, 3), convs_per_block=2, head="flatten", hidden=32),
     (2, 32, 32, 3), (2, 32), (2, 64, 16)),
    (dict(channels=(8,), pool="none", head="flatten"), (2, 6, 6, 1), (2, 288), (2, 36, 8)),
    (LENET, (2, 28, 28, 1), (2, 48), (2, 1, 48)),  # MultiBench's AV-MNIST image LeNet
])
def test_convnet_shapes(cfg, x_shape, pooled, tokens):
  assert out_shapes(ConvNet(**cfg), x_shape) == (pooled, tokens)


@pytest.mark.parametrize("cfg,x_shape,pooled,tokens", [
    (R18, (2, 32, 32, 3), (2, 32), (2, 16, 32)),
    (dict(depth=34, width=4, stem="cifar", norm="group"), (2, 16, 16, 3), (2, 32), (2, 4, 32)),
    (dict(depth=50, width=4, stem="imagenet"), (2, 64, 64, 3), (2, 128), (2, 4, 128)),
])
def test_resnet_shapes(cfg, x_shape, pooled, tokens):
  assert out_shapes(ResNet(**cfg), x_shape) == (pooled, tokens)


class Classifier(nn.Module):
  """ResNet + a 1000-way Dense: the torchvision ImageNet models whose sizes are published."""
  depth: int

  @nn.compact
  def __call__(self, x):
    pooled, tokens = ResNet(depth=self.depth)(x)
    return nn.Dense(1000)(pooled), tokens


# ResNet-10: ResNet-18 less one basic block per stage (6,270,720 weights and norm parameters).
@pytest.mark.parametrize("depth,count,dim", [(10, 5_418_792, 512), (18, 11_689_512, 512),
                                             (34, 21_797_672, 512), (50, 25_557_032, 2048)])
def test_resnet_imagenet_param_count(depth, count, dim):
  (logits, tokens), variables = jax.eval_shape(Classifier(depth).init_with_output, KEY,
                                               jnp.zeros((1, 224, 224, 3)))
  assert logits.shape == (1, 1000) and tokens.shape == (1, 7 * 7, dim)
  assert n_params(variables["params"]) == count
  # Running mean and var: two per channel of every BatchNorm, as the scale and bias.
  bn_params = sum(n_params(v) for k, v in jax.tree_util.tree_flatten_with_path(
      variables["params"])[0] if "norm" in jax.tree_util.keystr(k))
  assert n_params(variables["batch_stats"]) == bn_params > 0


def test_resnet_gradients_and_zero_init_residuals(r18, images):
  model, variables, train, _ = r18
  (loss, (pooled, tokens, _)), grads = train(variables["params"], variables["batch_stats"], images)
  np.testing.assert_allclose(pooled, tokens.mean(axis=1), rtol=1e-5, atol=1e-6)
  flat = {jax.tree_util.keystr(k): np.asarray(g) for k, g in
          jax.tree_util.tree_flatten_with_path(grads)[0]}
  assert all(np.isfinite(g).all() for g in flat.values())
  # The last norm of each residual branch starts at scale 0 (Goyal et al.), so the branch is
  # switched off: exactly zero gradient inside it, non-zero everywhere else.
  inner = lambda path: any(f"['{n}']" in path for n in ("conv1", "conv2", "norm1"))
  assert all(not variables["params"][b]["norm2"]["scale"].any()
             for b in variables["params"] if "block" in b)
  assert all(not g.any() for p, g in flat.items() if inner(p)) and any(map(inner, flat))
  assert all(np.abs(g).max() > 0 for p, g in flat.items() if not inner(p))
  # With the residual branches switched on, every parameter gets a gradient.
  ones = jax.tree_util.tree_map_with_path(
      lambda k, p: jnp.ones_like(p) if "'norm2']['scale" in jax.tree_util.keystr(k) else p,
      variables["params"])
  _, grads = train(ones, variables["batch_stats"], images)
  assert all(np.isfinite(g).all() and np.abs(g).max() > 0 for g in jax.tree.leaves(grads))


def test_batchnorm_train_updates_and_eval_uses_running_stats(r18, images):
  model, variables, train, evaluate = r18
  (_, (train_out, _, stats)), _ = train(variables["params"], variables["batch_stats"], images)
  init = variables["batch_stats"]
  # train=True moved the running averages: mean 0 -> 0.1 * batch mean, var 1 -> 0.9 + 0.1 * var.
  assert not np.allclose(stats["stem_norm"]["mean"], init["stem_norm"]["mean"])
  # Undo the momentum to recover the batch statistics that train=True normalised with.
  batch_stats = jax.tree.map(lambda new, old: (new - model.bn_momentum * old) /
                             (1 - model.bn_momentum), stats, init)
  (eval_out, _), eval_state = evaluate(with_stats(variables, batch_stats), images)
  # Eval with running stats equal to this batch's statistics reproduces the train output...
  assert rel_err(eval_out, train_out) < 1e-4
  # ...and leaves the running stats untouched.
  for a, b in zip(jax.tree.leaves(eval_state["batch_stats"]), jax.tree.leaves(batch_stats)):
    np.testing.assert_array_equal(a, b)
  # Eval reads the stats: the initial ones give a different output.
  (eval_init, _), _ = evaluate(variables, images)
  assert rel_err(eval_init, eval_out) > 1e-2


def test_eval_output_is_independent_of_the_rest_of_the_batch(r18, images):
  model, variables, train, evaluate = r18
  others = images.at[1:].set(jax.random.normal(jax.random.key(3), images[1:].shape) * 3 + 1)
  (_, (_, _, stats)), _ = train(variables["params"], variables["batch_stats"], images)
  v = with_stats(variables, stats)
  (a, _), _ = evaluate(v, images)
  (b, _), _ = evaluate(v, others)
  np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
  # Train mode normalises with batch statistics, so there example 0 does see the others.
  (_, (ta, _, _)), _ = train(variables["params"], stats, images)
  (_, (tb, _, _)), _ = train(variables["params"], stats, others)
  assert rel_err(ta[0], tb[0]) > 1e-2


def test_sync_batchnorm_under_pmap_equals_full_batch(r18, images):
  model, variables, train, _ = r18
  (_, (full_out, _, full_stats)), _ = train(variables["params"], variables["batch_stats"], images)
  synced = ResNet(**R18, bn_axis_name="batch")
  n = jax.device_count()
  assert n == 8
  shards = images.reshape((n, -1) + images.shape[1:])
  step = jax.pmap(lambda v, x: synced.apply(v, x, train=True, mutable=["batch_stats"]),
                  axis_name="batch", in_axes=(None, 0))
  (out, _), new = step.lower(variables, shards).compile(FAST_COMPILE)(variables, shards)
  np.testing.assert_allclose(out.reshape(full_out.shape), full_out, rtol=1e-4, atol=1e-5)
  for dev, full in zip(jax.tree.leaves(new["batch_stats"]), jax.tree.leaves(full_stats)):
    np.testing.assert_allclose(dev, np.broadcast_to(full, dev.shape), rtol=1e-4, atol=1e-6)


def test_resnet_bfloat16_matches_float32(r18, images):
  model, variables, train, evaluate = r18
  (_, (_, _, stats)), _ = train(variables["params"], variables["batch_stats"], images)
  v = with_stats(variables, stats)
  (ref, ref_tokens), _ = evaluate(v, images)
  bf16 = ResNet(**R18, dtype=jnp.bfloat16)
  (pooled, tokens), state = jit(
      lambda v, x: bf16.apply(v, x, mutable=["batch_stats"]))(v, images)
  assert pooled.dtype == tokens.dtype == jnp.bfloat16
  assert all(s.dtype == jnp.float32 for s in jax.tree.leaves(state))
  assert rel_err(pooled, ref) < 3e-2 and rel_err(tokens, ref_tokens) < 3e-2


def test_resnet_group_norm_has_no_state_and_no_batch_coupling(r18, images):
  model = ResNet(**R18, norm="group", norm_groups=2)
  shapes = jax.eval_shape(model.init, KEY, images)
  assert set(shapes) == {"params"}
  # GroupNorm's scale/bias have BatchNorm's names and shapes: reuse the BatchNorm model's init.
  params = r18[1]["params"]
  assert jax.tree.map(lambda a: a.shape, params) == jax.tree.map(lambda a: a.shape,
                                                                 shapes["params"])
  fwd = jit(lambda p, x: model.apply({"params": p}, x, train=True))
  a, _ = fwd(params, images)
  b, _ = fwd(params, images.at[1:].multiply(-2.0))
  np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
  assert np.isfinite(a).all() and rel_err(a[1], b[1]) > 1e-2


def test_convnet_gradients_batchnorm_and_bfloat16():
  cfg = dict(channels=(6, 12), kernel_size=(5, 3), norm="batch", head="flatten")
  x = jax.random.normal(jax.random.key(4), (4, 8, 8, 1))
  model, bf16 = ConvNet(**cfg), ConvNet(**cfg, dtype=jnp.bfloat16)
  variables = jit(model.init)(KEY, x)
  assert set(variables) == {"params", "batch_stats"}
  assert "bias" not in variables["params"]["block0_conv0"]  # BatchNorm supplies the shift

  def loss(params):
    (pooled, tokens), new = model.apply({**variables, "params": params}, x, train=True,
                                        mutable=["batch_stats"])
    return jnp.sum(pooled ** 2), (pooled, tokens, new)

  grads, (pooled, tokens, new) = jit(jax.grad(loss, has_aux=True))(variables["params"])
  assert tokens.shape == (4, 4, 12)
  np.testing.assert_array_equal(pooled, tokens.reshape(4, -1))  # the flatten head
  assert all(np.isfinite(g).all() and np.abs(g).max() > 0 for g in jax.tree.leaves(grads))
  assert not np.allclose(new["batch_stats"]["block0_norm0"]["mean"], 0)
  (p16, _), _ = jit(lambda v: bf16.apply(v, x, train=True, mutable=["batch_stats"]))(
      variables)
  assert p16.dtype == jnp.bfloat16 and rel_err(p16, pooled) < 3e-2


@pytest.mark.parametrize("model,message", [
    (ResNet(depth=20), "depth=20; valid: 10, 18, 34, 50"),
    (ResNet(stem="tiny"), "stem='tiny'; valid: imagenet, cifar"),
    (ResNet(norm="layer"), "norm='layer'; valid: batch, group"),
    (ConvNet(pool="min"), "pool='min'; valid: max, avg, none"),
    (ConvNet(head="cls"), "head='cls'; valid: avg, flatten"),
    (ConvNet(norm="group"), "norm='group'; valid: none, batch"),
    (ConvNet(channels=(8, 16), kernel_size=(5, 3, 3)), "one size per block"),
    (ConvNet(channels=(8, 16, 32, 64, 128)), "too small for 5 2x2 poolings"),
])
def test_bad_config_raises_clear_value_error(model, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(")):
    jax.eval_shape(model.init, KEY, jnp.zeros((1, 28, 28, 3)))


def test_registry_builds_and_rejects_unknown_options():
  assert {"vit", "cnn", "resnet"} <= set(IMAGE_ENCODERS.names())
  assert isinstance(IMAGE_ENCODERS.build("resnet", depth=18, stem="cifar"), ResNet)
  with pytest.raises(ConfigError, match="has no option 'layers'"):
    IMAGE_ENCODERS.build("cnn", layers=3)
