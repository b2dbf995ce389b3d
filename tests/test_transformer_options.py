"""The accelerator-path options of transformer.Encoder compute the same maths as the default:
attention through jax.nn.dot_product_attention, remat policies and nn.scan over layers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models import matmul, transformer
from mmjax.models.image.vit import ViT
from mmjax.models.text.transformer import TextTransformer
from mmjax.models.transformer import Encoder, attention_bias, stack_blocks

X = jax.random.normal(jax.random.key(0), (2, 6, 16))
MASK = jnp.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)


def loss_and_grads(model, params, bias, train=False):
  def loss(p):
    out = model.apply(p, X, bias, train, rngs={"dropout": jax.random.key(2)})
    return (out ** 2).mean() + out[:, 0].sum()
  return jax.value_and_grad(loss)(params)


def max_diff(a, b):
  """The largest difference of two trees' leaves, relative to the largest magnitude (>= 1)."""
  scale = max(1.0, *(float(jnp.abs(x).max()) for x in jax.tree.leaves(a)))
  return max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
             ) / scale


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype,tol", [(jnp.float32, 1e-5), (jnp.bfloat16, 3e-2)])
def test_jax_attention_equals_einsum(causal, dtype, tol):
  bias = attention_bias(MASK, causal, X.shape[1])
  ref = Encoder(2, 4, 32, dtype=dtype, attention="einsum")
  params = ref.init(jax.random.key(1), X, bias)
  loss0, grads0 = loss_and_grads(ref, params, bias)
  loss1, grads1 = loss_and_grads(Encoder(2, 4, 32, dtype=dtype, attention="xla"), params, bias)
  assert abs(float(loss1 - loss0)) <= tol * max(1.0, abs(float(loss0)))
  assert max_diff(grads0, grads1) <= tol


def test_attention_auto_is_einsum_on_cpu():
  q = jax.random.normal(jax.random.key(3), (2, 4, 5, 8))
  auto = transformer.dot_product_attention(q, q, q, None, jnp.float32, "auto")
  einsum = transformer.dot_product_attention(q, q, q, None, jnp.float32, "einsum")
  np.testing.assert_array_equal(auto, einsum)


def test_unknown_attention_and_remat_name_the_valid_ones():
  with pytest.raises(ValueError, match="valid: auto, einsum, xla, cudnn"):
    Encoder(1, 4, 32, attention="flash").init(jax.random.key(0), X)
  with pytest.raises(ValueError, match="valid: none, full, dots"):
    Encoder(1, 4, 32, remat="everything").init(jax.random.key(0), X)


@functools.cache
def no_remat_reference(scan: bool):
  """(params, bias, loss, grads) of the Encoder without remat, shared by the remat cases."""
  bias = attention_bias(MASK, False, X.shape[1])
  ref = Encoder(3, 4, 32, dropout=0.2, scan=scan)
  params = ref.init(jax.random.key(1), X, bias)
  return (params, bias, *loss_and_grads(ref, params, bias, train=True))


@pytest.mark.parametrize("remat,scan", [(n, False) for n in sorted(transformer.REMAT_POLICIES)]
                         + [("full", True)])
def test_remat_gives_the_same_loss_and_gradients(remat, scan):
  """With dropout on: recomputation must redraw the same masks."""
  params, bias, loss0, grads0 = no_remat_reference(scan)
  loss1, grads1 = loss_and_grads(Encoder(3, 4, 32, dropout=0.2, scan=scan, remat=remat),
                                 params, bias, train=True)
  # float32 rounding (a few ulps): XLA fuses the recomputation anew. Masks drawn differently
  # would move the loss by percents.
  assert float(loss1) == pytest.approx(float(loss0), rel=1e-6)
  assert max_diff(grads0, grads1) < 2e-6


@pytest.mark.parametrize("scan", [False, True])
def test_bf16_remat_gives_the_same_loss_and_gradients(scan):
  """bfloat16 on CPU runs custom backward passes (dense layers, attention, split_heads): under
  remat they are recomputed from the same saved inputs, so nothing moves beyond rounding."""
  bias = attention_bias(MASK, False, X.shape[1])
  plain = Encoder(3, 4, 32, scan=scan, dtype=jnp.bfloat16)
  params = plain.init(jax.random.key(1), X, bias)
  loss0, grads0 = loss_and_grads(plain, params, bias)
  loss1, grads1 = loss_and_grads(Encoder(3, 4, 32, scan=scan, remat="full", dtype=jnp.bfloat16),
                                 params, bias)
  assert float(loss1) == pytest.approx(float(loss0), rel=1e-6)
  assert max_diff(grads0, grads1) < 1e-5


def test_scan_equals_the_unrolled_layers():
  bias = attention_bias(MASK, True, X.shape[1])
  unrolled = Encoder(3, 4, 32)
  params = unrolled.init(jax.random.key(1), X, bias)
  scanned = Encoder(3, 4, 32, scan=True)
  stacked = {"params": stack_blocks(params["params"], 3)}
  assert jax.tree.structure(stacked) == jax.tree.structure(
      scanned.init(jax.random.key(1), X, bias))
  loss0, grads0 = loss_and_grads(unrolled, params, bias)
  loss1, grads1 = loss_and_grads(scanned, stacked, bias)
  assert float(loss1) == pytest.approx(float(loss0), abs=1e-5)
  assert max_diff(stack_blocks(grads0["params"], 3), grads1["params"]) < 1e-5


def test_encoders_take_the_options():
  """ViT and the text transformer pass attention / remat / scan through to their Encoder."""
  images = jax.random.normal(jax.random.key(4), (2, 16, 16, 3))
  vit = dict(patch_size=8, width=16, depth=2, num_heads=2, mlp_dim=32)
  params = ViT(**vit).init(jax.random.key(5), images)
  ref = ViT(**vit).apply(params, images)[0]
  stacked = {"params": {**params["params"],
                        "encoder": stack_blocks(params["params"]["encoder"], 2)}}
  out = ViT(**vit, attention="xla", remat="full", scan=True).apply(stacked, images)[0]
  np.testing.assert_allclose(out, ref, atol=1e-5)
  tokens = jnp.array([[1, 2, 3, 0], [4, 5, 6, 7]])
  text = dict(vocab_size=8, max_len=4, width=16, depth=2, num_heads=2, mlp_dim=32)
  params = TextTransformer(**text).init(jax.random.key(6), tokens)
  out = TextTransformer(**text, attention="xla", remat="dots").apply(params, tokens)[0]
  np.testing.assert_allclose(out, TextTransformer(**text).apply(params, tokens)[0], atol=1e-5)


def test_layer_norm_off_cpu_form_equals_the_cpu_one(monkeypatch):
  """LayerNorm's means are matrix-vector products only on CPU; the plain form GPUs and TPUs get
  computes the same values and gradients."""
  x = jax.random.normal(jax.random.key(7), (3, 5, 16)) * 3 + 1
  norm = transformer.LayerNorm()
  params = norm.init(jax.random.key(8), x)
  f = lambda p, x: (norm.apply(p, x) ** 3).sum()
  cpu = jax.value_and_grad(f, argnums=(0, 1))(params, x)
  monkeypatch.setattr(matmul, "on_cpu", lambda: False)
  other = jax.value_and_grad(f, argnums=(0, 1))(params, x)
  assert float(other[0]) == pytest.approx(float(cpu[0]), rel=1e-5)
  assert max_diff(cpu[1], other[1]) < 1e-5
