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
