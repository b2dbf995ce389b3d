"""Matrix products for mixed precision: low-precision inputs, float32 accumulation, both passes.

On CPUs (and TPUs) a bfloat16 x bfloat16 -> float32 product is much faster than a float32 one,
but a bfloat16 -> bfloat16 product and the float32 cotangents that autodiff feeds the backward
pass are not. `einsum` keeps every product of the forward *and* backward pass in
`compute_dtype` with float32 accumulation, through a custom VJP:
for C = einsum("A,B->C", a, b):  dA = einsum("C,B->A", dC, b),  dB = einsum("A,C->B", a, dC).
"""

import functools

import jax
import jax.numpy as jnp


def _product(eq, a, b, compute_dtype, out_dtype):
  return jnp.einsum(eq, a.astype(compute_dtype), b.astype(compute_dtype),
                    preferred_element_type=jnp.float32).astype(out_dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3, 4))
def _lowp_einsum(eq, a, b, compute_dtype, out_dtype):
  return _product(eq, a, b, compute_dtype, out_dtype)


def _fwd(eq, a, b, compute_dtype, out_dtype):
  return _product(eq, a, b, compute_dtype, out_dtype), (a, b)


def _bwd(eq, compute_dtype, out_dtype, res, g):
  a, b = res
  ins, out = eq.split("->")
  sa, sb = ins.split(",")
  da = _product(f"{out},{sb}->{sa}", g, b, compute_dtype, a.dtype)
  db = _product(f"{sa},{out}->{sb}", a, g, compute_dtype, b.dtype)
  return da, db


_lowp_einsum.defvjp(_fwd, _bwd)


def einsum(eq: str, a, b, compute_dtype=jnp.float32, out_dtype=None):
  """Two-operand einsum computed in `compute_dtype` with float32 accumulation.

  Every index of each operand must appear in the other operand or in the output (true for
  dense layers and attention). Returns `out_dtype` (default: `compute_dtype`).
  """
  compute_dtype = jnp.dtype(compute_dtype)
  out_dtype = compute_dtype if out_dtype is None else jnp.dtype(out_dtype)
  if compute_dtype == jnp.float32:
    return jnp.einsum(eq, a.astype(jnp.float32), b.astype(jnp.float32)).astype(out_dtype)
  return _lowp_einsum(eq, a, b, compute_dtype, out_dtype)


# XLA:CPU lowers a reduction over rows (the gradient of a broadcast bias or scale) to an
# unvectorised reduce-window: the fc1 bias gradient alone cost ~45 ms per layer in clip_tiny. A
# ones-vector product computes the same sum at memory speed, so the layers below sum that way.
def sum_rows(t):
  """[n, d] -> [d] float32: the sum over rows, as a vector-matrix product."""
  return jnp.einsum("n,nd->d", jnp.ones(t.shape[:1], t.dtype), t,
                    preferred_element_type=jnp.float32)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def dense(x, kernel, bias, compute_dtype):
  """x [n, in] @ kernel [in, out] + bias [out] (or None) -> [n, out] in `compute_dtype`.

  Products in `compute_dtype` with float32 accumulation in both passes; the bias is added in
  float32; the bias gradient is `sum_rows`.
  """
  return _dense_fwd(x, kernel, bias, compute_dtype)[0]


def _dense_fwd(x, kernel, bias, compute_dtype):
  y = _product("ni,io->no", x, kernel, compute_dtype, jnp.float32)
  if bias is not None:
    y = y + bias.astype(jnp.float32)
  return y.astype(compute_dtype), (x, kernel, bias)


def _dense_bwd(compute_dtype, res, g):
  x, kernel, bias = res
  dx = _product("no,io->ni", g, kernel, compute_dtype, x.dtype)
  dk = _product("ni,no->io", x, g, compute_dtype, kernel.dtype)
  db = None if bias is None else sum_rows(g).astype(bias.dtype)
  return dx, dk, db


dense.defvjp(_dense_fwd, _dense_bwd)


@jax.custom_vjp
def scale_shift(y, scale, shift):
  """y [n, d] * scale [d] + shift [d] in float32 (a normalisation layer's affine part)."""
  return y * scale + shift


def _scale_shift_fwd(y, scale, shift):
  return y * scale + shift, (y, scale)


def _scale_shift_bwd(res, g):
  y, scale = res
  return g * scale, sum_rows(g * y).astype(scale.dtype), sum_rows(g).astype(scale.dtype)


scale_shift.defvjp(_scale_shift_fwd, _scale_shift_bwd)
