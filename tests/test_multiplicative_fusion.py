"""Multiplicative-interaction fusion (MI-matrix / vector / scalar): each mode against its formula
computed by hand, MI-matrix = two-modality tensor fusion, MI-vector = the element-wise product
fusion, the context swap, gradients, dtypes, and bad options named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models import FUSIONS
from mmjax.registry import ConfigError

B, DZ, DX = 3, 4, 5  # batch, context width, other modality's width


def inputs(seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(B, DZ)).astype(np.float32), rng.normal(size=(B, DX)).astype(np.float32)


def random_params(model, pooled, seed=1):
  """numpy-drawn parameters of the shapes model.init makes (no PRNG compile)."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), pooled)["params"]
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: (rng.normal(size=s.shape) / 2).astype(np.float32), shapes)


def apply(model, params, pooled):
  return np.asarray(jax.jit(lambda p, a, b: model.apply({"params": p}, [a, b]))(params, *pooled))


def test_matrix_mode_is_the_bilinear_form_and_a_two_modality_tensor_fusion():
  z, x = inputs()
  model = FUSIONS.build("multiplicative", mode="matrix", dim=6)
  p = random_params(model, [z, x])
  assert p["W"].shape == (DZ, DX, 6) and p["U"].shape == (DZ, 6) and p["V"].shape == (DX, 6)
  out = apply(model, p, (z, x))
  # z^T W x + z^T U + V x + b, summed by hand.
  want = np.einsum("bz,zxo,bx->bo", z, p["W"], x) + z @ p["U"] + x @ p["V"] + p["b"]
  np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
  # TFN's Dense over flatten([z; 1] (x) [x; 1]) with the kernel laid out as (W, U; V, 0).
  kernel = np.zeros((DZ + 1, DX + 1, 6), np.float32)
  kernel[:DZ, :DX], kernel[:DZ, DX], kernel[DZ, :DX] = p["W"], p["U"], p["V"]
  tfn = {"out": {"kernel": kernel.reshape(-1, 6), "bias": p["b"]}}
  np.testing.assert_allclose(apply(FUSIONS.build("tensor", dim=6), tfn, (z, x)), out,
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode,dim", [("vector", None), ("vector", 7), ("scalar", None),
                                      ("scalar", 7)])
def test_vector_and_scalar_modes_gate_and_shift_x_as_their_formulas(mode, dim):
  z, x = inputs()
  model = FUSIONS.build("multiplicative", mode=mode, dim=dim)
  p = random_params(model, [z, x])
  h = x if dim is None else x @ p["proj"]["kernel"] + p["proj"]["bias"]
  if mode == "vector":  # a per-feature gate and shift: diag(W z + V) x + U z + b
    want = (z @ p["W"] + p["V"]) * h + z @ p["U"] + p["b"]
  else:  # one scale and one shift per example: (w.z + v) x + (u.z + c)
    want = (z @ p["W"] + p["V"])[:, None] * h + (z @ p["U"] + p["b"])[:, None]
  out = apply(model, p, (z, x))
  assert out.shape == (B, dim or DX)
  np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_product_fusion_is_the_vector_mode_without_the_additive_terms():
  """product.py's (W_0 z + b_0) * (W_1 x + b_1) = MI-vector with gate W z + V, U = 0, b = 0."""
  z, x = inputs()
  product = FUSIONS.build("product", dim=6)
  p = random_params(product, [z, x])
  mi = {"W": p["proj0"]["kernel"], "V": p["proj0"]["bias"], "U": np.zeros((DZ, 6), np.float32),
        "b": np.zeros(6, np.float32), "proj": p["proj1"]}
  np.testing.assert_allclose(apply(FUSIONS.build("multiplicative", mode="vector", dim=6), mi,
                                   (z, x)), apply(product, p, (z, x)), rtol=1e-5, atol=1e-6)


def test_context_index_chooses_which_modality_generates_the_weights():
  z, x = inputs()
  model = FUSIONS.build("multiplicative", dim=6)
  p = random_params(model, [z, x])
  flipped = apply(FUSIONS.build("multiplicative", dim=6, context_index=1), p, (x, z))
  np.testing.assert_allclose(flipped, apply(model, p, (z, x)), rtol=1e-6)


def test_fresh_gates_start_at_one_and_every_parameter_and_input_gets_a_gradient():
  z, x = inputs()
  models = {m: FUSIONS.build("multiplicative", mode=m, dim=6) for m in ("matrix", "vector",
                                                                        "scalar")}

  def init_and_grads(key):
    out = {}
    for mode, model in models.items():
      params = model.init(key, [z, x])["params"]
      loss = lambda p, a, b, model=model: jnp.sum(jnp.sin(model.apply({"params": p}, [a, b])))
      out[mode] = params, jax.grad(loss, argnums=(0, 1, 2))(params, z, x)
    return out

  for mode, (params, grads) in jax.jit(init_and_grads)(jax.random.key(0)).items():
    if mode != "matrix":  # the gate W'(z) = W z + V starts near 1, not near 0.
      np.testing.assert_array_equal(params["V"], np.ones_like(params["V"]))
    np.testing.assert_array_equal(params["b"], np.zeros_like(params["b"]))
    for name, g in jax.tree_util.tree_leaves_with_path(grads):
      g = np.asarray(g)
      assert np.isfinite(g).all() and np.abs(g).sum() > 0, (mode, jax.tree_util.keystr(name))


def test_bfloat16_compute_agrees_with_float32():
  z, x = inputs()
  model = FUSIONS.build("multiplicative", dim=6)
  p = random_params(model, [z, x])
  f32 = apply(model, p, (z, x))
  bf16 = apply(FUSIONS.build("multiplicative", dim=6, dtype=jnp.bfloat16), p, (z, x))
  assert bf16.dtype == jnp.bfloat16
  scale = np.abs(f32).max()
  np.testing.assert_allclose(bf16.astype(np.float32), f32, atol=0.03 * scale)
  assert not np.array_equal(bf16.astype(np.float32), f32)  # really computed in bfloat16


@pytest.mark.parametrize("kw,n,error,match", [
    (dict(mode="diagonal"), 2, ValueError, "mode='diagonal'; valid: matrix, vector, scalar"),
    (dict(context_index=2), 2, ValueError, "context_index=2; valid: 0, 1"),
    (dict(dim=0), 2, ValueError, "dim=0 must be >= 1"),
    ({}, 3, ValueError, "fuses exactly 2 modalities"),
    (dict(modes="matrix"), 2, ConfigError, 'no option \'modes\'.*Did you mean "mode"'),
])
def test_bad_options_and_inputs_are_named(kw, n, error, match):
  pooled = [jnp.zeros((B, DZ))] * n
  with pytest.raises(error, match=match):
    jax.eval_shape(FUSIONS.build("multiplicative", **kw).init, jax.random.key(0), pooled)
