"""CLIP softmax and SigLIP sigmoid losses: right values, and distributed-correct under pmap and
jit on 8 devices (loss and gradients equal the full-batch computation)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from mmjax.losses.contrastive import clip_softmax_loss, siglip_loss
from mmjax.models.two_tower import l2_normalize
from mmjax.train import parallel

B, DIM, IN = 16, 8, 6


def data():
  kx, ky, kw = jax.random.split(jax.random.key(0), 3)
  params = {"w_img": jax.random.normal(kw, (IN, DIM)),
            "w_txt": jax.random.normal(kw, (IN, DIM)) + 1,
            "scale": jnp.array(math.log(10.0)), "bias": jnp.array(-2.0)}
  return params, jax.random.normal(kx, (B, IN)), jax.random.normal(ky, (B, IN))


def loss_of(loss):
  def f(params, x, y, axis_name=None):
    zi, zt = l2_normalize(x @ params["w_img"]), l2_normalize(y @ params["w_txt"])
    return loss(zi, zt, params["scale"], params["bias"], axis_name=axis_name)
  return f


def test_softmax_matches_naive_formula():
  params, x, y = data()
  zi, zt = l2_normalize(x @ params["w_img"]), l2_normalize(y @ params["w_txt"])
  logits = np.exp(float(params["scale"])) * np.asarray(zi) @ np.asarray(zt).T
  ce = lambda l: -np.mean(np.diag(l) - np.log(np.exp(l).sum(1)))
  expected = (ce(logits) + ce(logits.T)) / 2
  np.testing.assert_allclose(clip_softmax_loss(zi, zt, params["scale"]), expected, rtol=1e-5)


def test_softmax_temperature_is_clamped_at_100():
  params, x, y = data()
  zi, zt = l2_normalize(x @ params["w_img"]), l2_normalize(y @ params["w_txt"])
  at_100 = clip_softmax_loss(zi, zt, jnp.array(math.log(100.0)))
  assert clip_softmax_loss(zi, zt, jnp.array(10.0)) == pytest.approx(float(at_100), rel=1e-6)
  g = jax.grad(lambda s: clip_softmax_loss(zi, zt, s))(jnp.array(10.0))
  assert g == 0.0  # clamped: no gradient pushes it further.


def test_sigmoid_matches_naive_formula():
  params, x, y = data()
  zi, zt = l2_normalize(x @ params["w_img"]), l2_normalize(y @ params["w_txt"])
  scale, bias = np.exp(float(params["scale"])), float(params["bias"])
  logits = scale * np.asarray(zi) @ np.asarray(zt).T + bias
  z = 2 * np.eye(B) - 1
  expected = -np.sum(np.log(1 / (1 + np.exp(-z * logits)))) / B
  np.testing.assert_allclose(siglip_loss(zi, zt, params["scale"], params["bias"]), expected,
                             rtol=1e-5)


@pytest.mark.parametrize("loss", [clip_softmax_loss, siglip_loss], ids=["softmax", "sigmoid"])
def test_pmap_equals_full_batch(loss):
  f = loss_of(loss)
  params, x, y = data()
  full_loss, full_grad = jax.value_and_grad(f)(params, x, y)
  n = jax.device_count()

  def per_device(params, x, y):  # what the trainer does: local loss, pmean of loss and grads.
    l, g = jax.value_and_grad(f)(params, x, y, "batch")
    return jax.lax.pmean((l, g), "batch")

  shard = lambda a: a.reshape((n, B // n) + a.shape[1:])
  l, g = jax.pmap(per_device, axis_name="batch", in_axes=(None, 0, 0))(params, shard(x), shard(y))
  np.testing.assert_allclose(l[0], full_loss, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(full_grad)):
    np.testing.assert_allclose(a[0], b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", [clip_softmax_loss, siglip_loss], ids=["softmax", "sigmoid"])
def test_jit_on_sharded_batch_equals_full_batch(loss):
  f = jax.value_and_grad(loss_of(loss))
  params, x, y = data()
  mesh = parallel.make_mesh()
  xs, ys = (jax.device_put(a, NamedSharding(mesh, P("data"))) for a in (x, y))
  l, g = jax.jit(f)(params, xs, ys)
  l0, g0 = f(params, x, y)
  np.testing.assert_allclose(l, l0, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g0)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
