"""bf16 products with f32 accumulation: right values, right gradients, and they compile on
XLA:CPU for every shape the models produce (some layouts of bf16 x bf16 -> f32 dots are not
implemented there, which is why attention is laid out head-major)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models import matmul
from mmjax.models.transformer import (MultiHeadAttention, attention_bias, dot_product_attention,
                                      gelu, gelu_tanh, split_heads)


@pytest.mark.parametrize("eq,sa,sb", [("...i,io->...o", (3, 5, 16), (16, 8)),
                                      ("bhqd,bhkd->bhqk", (2, 3, 5, 8), (2, 3, 7, 8)),
                                      ("bhqk,bhkd->bhqd", (2, 3, 5, 7), (2, 3, 7, 8))])
def test_bf16_einsum_value_and_grad_match_float32(eq, sa, sb):
  ka, kb, kg = jax.random.split(jax.random.key(0), 3)
  a, b = jax.random.normal(ka, sa), jax.random.normal(kb, sb)
  w = jax.random.normal(kg, jnp.einsum(eq, a, b).shape)
  f = lambda dt: lambda a, b: jnp.sum(w * matmul.einsum(eq, a, b, dt).astype(jnp.float32))
  v32, g32 = jax.value_and_grad(f(jnp.float32), argnums=(0, 1))(a, b)
  v16, g16 = jax.jit(jax.value_and_grad(f(jnp.bfloat16), argnums=(0, 1)))(a, b)
  np.testing.assert_allclose(v16, v32, rtol=3e-2, atol=0.3)
  for x, y, inp in zip(g16, g32, (a, b)):
    assert x.dtype == inp.dtype  # gradients come back in the input's (parameter's) dtype.
    np.testing.assert_allclose(x, y, rtol=5e-2, atol=0.15)


def test_bf16_einsum_backward_uses_bf16_products():
  a, b = jnp.ones((4, 8)), jnp.ones((8, 3))
  grad = jax.grad(lambda a, b: matmul.einsum("...i,io->...o", a, b, jnp.bfloat16)
                  .astype(jnp.float32).sum(), argnums=(0, 1))
  hlo = jax.jit(grad).lower(a, b).as_text()
  dots = [l for l in hlo.splitlines() if "dot_general" in l]
  # Two backward products (the forward one is dead code here), both with bf16 operands.
  assert len(dots) == 2 and all("xbf16>, tensor" in l for l in dots), dots


@pytest.mark.parametrize("batch", [1, 2, 3, 8])
@pytest.mark.parametrize("length", [5, 17])
@pytest.mark.parametrize("causal", [False, True])
def test_bf16_attention_compiles_and_differentiates(batch, length, causal):
  x = jax.random.normal(jax.random.key(batch), (batch, length, 32))
  mask = jnp.arange(length)[None, :] < jnp.array([length - i % 3 for i in range(batch)])[:, None]
  mha = MultiHeadAttention(num_heads=4, dtype=jnp.bfloat16)
  params = mha.init(jax.random.key(0), x)
  bias = attention_bias(mask, causal, length)
  loss = lambda p, x: jnp.sum(mha.apply(p, x, bias=bias).astype(jnp.float32) ** 2)
  grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
  assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("shape", [(6, 4), (5, 4), (6, 3), (5, 3)])
def test_transposed_copy_is_the_transpose(shape):
  t = jnp.arange(np.prod(shape), dtype=jnp.float32).reshape(shape)
  np.testing.assert_array_equal(jax.jit(matmul.transposed_copy)(t), t.T)


def _dense_reference(x, kernel, bias, activation):
  """The same layer as plain float32 jnp, differentiated by jax."""
  y = x @ kernel + bias
  return y if activation is None else activation(y)


@pytest.mark.parametrize("dtype,tol", [(jnp.float32, 1e-6), (jnp.bfloat16, 3e-2)])
@pytest.mark.parametrize("activation", [None, gelu, gelu_tanh, jax.nn.relu])
@pytest.mark.parametrize("rows", [12, 7])  # even and odd: both weight-gradient forms
@pytest.mark.parametrize("cpu_form", [True, False])  # False: the form GPUs and TPUs get
def test_dense_value_and_grads_match_the_plain_layer(dtype, tol, activation, rows, cpu_form,
                                                     monkeypatch):
  monkeypatch.setattr(matmul, "on_cpu", lambda: cpu_form)
  kx, kk, kb, kw = jax.random.split(jax.random.key(rows), 4)
  x, kernel = jax.random.normal(kx, (rows, 16)), 0.3 * jax.random.normal(kk, (16, 24))
  bias, w = jax.random.normal(kb, (24,)), jax.random.normal(kw, (rows, 24))
  loss = lambda f: lambda x, k, b: jnp.sum(w * f(x, k, b).astype(jnp.float32))
  ours = jax.jit(jax.value_and_grad(
      loss(lambda x, k, b: matmul.dense(x, k, b, dtype, activation)), argnums=(0, 1, 2)))
  ref = jax.value_and_grad(
      loss(lambda x, k, b: _dense_reference(x, k, b, activation)), argnums=(0, 1, 2))
  (_, grads), (_, grads_ref) = ours(x, kernel, bias), ref(x, kernel, bias)
  scale = lambda t: float(jnp.abs(t).max())
  y = matmul.dense(x, kernel, bias, dtype, activation)
  y_ref = _dense_reference(x, kernel, bias, activation)
  assert y.dtype == dtype
  np.testing.assert_allclose(y.astype(jnp.float32), y_ref, atol=tol * scale(y_ref), rtol=tol)
  for g, g_ref, inp in zip(grads, grads_ref, (x, kernel, bias)):
    assert g.dtype == inp.dtype and g.shape == inp.shape
    np.testing.assert_allclose(g, g_ref, atol=tol * scale(g_ref), rtol=tol)


def test_bf16_weight_gradient_keeps_bf16_operands_on_cpu():
  """The weight gradient's product takes its bfloat16 inputs as they are: XLA:CPU would
  otherwise fold the transpose into the product and widen both inputs to float32 (see
  matmul.transposed_copy). No float32 copy of the [rows, in] input may appear."""
  if jax.default_backend() != "cpu":
    pytest.skip("an XLA:CPU form")
  from mmjax.train import parallel
  x, kernel, bias = jnp.ones((512, 64)), jnp.ones((64, 96)), jnp.zeros((96,))
  grad = jax.grad(lambda x, k, b: matmul.dense(x, k, b, jnp.bfloat16, gelu)
                  .astype(jnp.float32).sum(), argnums=1)
  hlo = jax.jit(grad).lower(x, kernel, bias).compile(
      parallel.compiler_options("bfloat16")).as_text()
  widened = [l for l in hlo.splitlines()
             if re.search(r"= f32\[(512,64|64,512)\]\{[0-9,]*\} (convert|fusion)\(", l)
             and "convert" in l]
  assert not widened, widened


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_split_heads_equals_reshape_and_transpose_in_both_passes(n, dtype):
  """split_heads' custom backward (a stack) gives exactly autodiff's gradient of the split."""
  t = jax.random.normal(jax.random.key(n), (2, 5, n * 4 * 8)).astype(dtype)
  w = jax.random.normal(jax.random.key(9), (n, 2, 4, 5, 8))

  def plain(t):
    parts = t.reshape(2, 5, n, 4, 8).transpose(2, 0, 3, 1, 4)
    return tuple(parts[i] for i in range(n))
  loss = lambda f: lambda t: sum(jnp.sum(w[i] * p.astype(jnp.float32))
                                 for i, p in enumerate(f(t)))
  for ours, ref in zip(split_heads(t, n, 4), plain(t)):
    np.testing.assert_array_equal(ours, ref)
  g, g_ref = jax.jit(jax.grad(loss(lambda t: split_heads(t, n, 4))))(t), jax.grad(loss(plain))(t)
  assert g.dtype == dtype
  np.testing.assert_array_equal(g, g_ref)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 5, 7), (2, 4, 6)])
def test_swap_minor_copy_swaps_the_last_two_axes(shape):
  t = jnp.arange(np.prod(shape), dtype=jnp.float32).reshape(shape)
  np.testing.assert_array_equal(jax.jit(matmul.swap_minor_copy)(t), jnp.swapaxes(t, -1, -2))


def _attention_grads(q, k, v, bias, dtype):
  w = jax.random.normal(jax.random.key(7), q.shape)
  loss = lambda q, k, v, b: jnp.sum(w * dot_product_attention(q, k, v, b, dtype, "einsum")
                                    .astype(jnp.float32))
  return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))(q, k, v, bias)


@pytest.mark.parametrize("bias_shape", [None, (2, 1, 1, 7), (1, 1, 5, 7)])
def test_cpu_bf16_attention_backward_matches_autodiff(bias_shape, monkeypatch):
  """The written-out backward of the CPU low-precision path against autodiff of the generic
  einsum path (what other backends run) and of float32: equal up to bfloat16 rounding."""
  kq, kk, kv, kb = jax.random.split(jax.random.key(3), 4)
  q, k, v = (jax.random.normal(key, (2, 3, n, 8)) for key, n in ((kq, 5), (kk, 7), (kv, 7)))
  bias = None if bias_shape is None else jax.random.normal(kb, bias_shape)
  to16 = lambda t: t.astype(jnp.bfloat16)
  ours = _attention_grads(to16(q), to16(k), to16(v), bias, jnp.bfloat16)
  monkeypatch.setattr(matmul, "on_cpu", lambda: False)
  generic = _attention_grads(to16(q), to16(k), to16(v), bias, jnp.bfloat16)
  exact = _attention_grads(q, k, v, bias, jnp.float32)
  scale = lambda t: float(jnp.abs(t).max())
  (v16, g16), (v_gen, g_gen), (v32, g32) = ours, generic, exact
  np.testing.assert_allclose(v16, v_gen, rtol=1e-3)
  np.testing.assert_allclose(v16, v32, rtol=3e-2)
  for g, g_ref, g_exact in zip(g16, g_gen, g32):
    if g_exact is None:
      continue
    assert g.dtype == g_ref.dtype and g.shape == g_ref.shape
    np.testing.assert_allclose(g, g_ref, atol=2e-2 * scale(g_ref))
    np.testing.assert_allclose(g, g_exact, atol=4e-2 * scale(g_exact))


def test_cpu_bf16_attention_products_contract_the_left_operands_minor_axis():
  """Every attention product of the bf16 backward contracts its left operand's minor axis, the
  form YNNPACK runs in bfloat16 (autodiff's key and value gradients contract the query axis,
  and XLA:CPU widens those to float32 for Eigen)."""
  if jax.default_backend() != "cpu":
    pytest.skip("an XLA:CPU form")
  from mmjax.train import parallel
  q = jnp.ones((2, 3, 5, 8), jnp.bfloat16)
  grad = jax.grad(lambda q, k, v: dot_product_attention(q, k, v, None, jnp.bfloat16, "einsum")
                  .astype(jnp.float32).sum(), argnums=(0, 1, 2))
  hlo = jax.jit(grad).lower(q, q, q).compile(parallel.compiler_options("bfloat16")).as_text()
  dims = re.findall(r" dot\(.*lhs_batch_dims=\{0,1\}, lhs_contracting_dims=\{(\d)\}", hlo)
  assert len(dims) >= 4 and set(dims) == {"3"}, dims


def _batched_dot_operand_dtypes(hlo):
  """The operand dtypes of every batched (attention) product in compiled HLO text."""
  dtypes, types = [], {}
  for line in hlo.splitlines():
    if line and not line.startswith(" "):  # a new computation: its parameters are named anew
      types = dict(re.findall(r"(\w[\w.]*): (\w+)\[", line))
    d = re.match(r"\s+(?:ROOT )?%([\w.\-]+) = (\w+)\[", line)
    if d:
      types[d[1]] = d[2]
    if " dot(" in line and "lhs_batch_dims={0,1}" in line:
      operands = re.search(r" dot\(%([\w.\-]+), %([\w.\-]+)\)", line).groups()
      dtypes.append(tuple(types[o] for o in operands))
  return dtypes


def test_cpu_bf16_attention_layer_runs_every_product_in_bf16():
  """In a bf16 MultiHeadAttention's backward, the output gradient reaches matmul.attention as a
  transpose; folded into the value-gradient and dp products, XLA:CPU widened those two to
  float32. Every attention product of the compiled gradient takes bfloat16 operands."""
  if jax.default_backend() != "cpu":
    pytest.skip("an XLA:CPU form")
  from mmjax.train import parallel
  if not parallel.cpu_has_bf16():
    pytest.skip("without bf16 instructions XLA:CPU runs every bf16 product in float32 (Eigen)")
  mha = MultiHeadAttention(num_heads=4, dtype=jnp.bfloat16)
  x = jnp.ones((2, 5, 32), jnp.bfloat16)
  params = mha.init(jax.random.key(0), x)
  grad = jax.grad(lambda p, x: mha.apply(p, x).astype(jnp.float32).sum(), argnums=(0, 1))
  hlo = jax.jit(grad).lower(params, x).compile(parallel.compiler_options("bfloat16")).as_text()
  dtypes = _batched_dot_operand_dtypes(hlo)
  assert len(dtypes) == 6 and set(dtypes) == {("bf16", "bf16")}, dtypes
