"""Matrix products for mixed precision: low-precision inputs, float32 accumulation, both passes.

On CPUs (and TPUs) a bfloat16 x bfloat16 -> float32 product is much faster than a float32 one,
but a bfloat16 -> bfloat16 product and the float32 cotangents that autodiff feeds the backward
pass are not. `einsum` keeps every product of the forward *and* backward pass in
`compute_dtype` with float32 accumulation, through a custom VJP:
for C = einsum("A,B->C", a, b):  dA = einsum("C,B->A", dC, b),  dB = einsum("A,C->B", a, dC).
`dense` is the same for a layer, with its activation fused in and, on CPU, its weight gradient
in a form XLA:CPU runs in bfloat16 (`transposed_copy`); `attention` is attention's products so
for XLA:CPU.
"""

import functools

import jax
import jax.numpy as jnp


def on_cpu() -> bool:
  """Whether the code being traced will run on XLA:CPU, where some forms are measured faster."""
  return jax.default_backend() == "cpu"


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
# product with a [1, n] matrix of ones computes the same sum at memory speed (and faster than the
# einsum "n,nd->d": float32 [8320, 1024] alone, 1.0 against 3.3 ms), so the layers below sum that
# way. In low precision it takes 2 rows of ones, since YNNPACK runs no single-row bfloat16
# product and XLA would widen t to a float32 copy for Eigen instead (bf16 [8320, 1024]: 1.2
# against 2.6 ms; 2026-12-05).
def sum_rows(t):
  """[n, d] -> [d] float32: the sum over rows, as a matrix product."""
  rows = 2 if t.dtype != jnp.float32 and on_cpu() else 1
  return jnp.dot(jnp.ones((rows, t.shape[0]), t.dtype), t, preferred_element_type=jnp.float32)[0]


# XLA:CPU runs a bfloat16 product in YNNPACK only when the left operand's contracted axis is its
# minor one. A weight gradient (x [n, in] and g [n, out] contracted over n) never is: XLA folds a
# plain x.T into the product's dimensions, finds the form unsupported, and runs it in float32
# through Eigen at ~3.5x the time (clip_tiny's [8320, 256] x [8320, 768]: 16.6 against 4.2 ms with
# the copy below, 2026-12-05, benchmarks/train_throughput.py's machine). A transpose that goes
# through a 3-D reshape is not folded, so XLA writes the [in, n] copy (~2 ms) and YNNPACK runs.
def transposed_copy(t):
  """[n, d] -> [d, n], materialised in memory rather than folded into the consuming product."""
  n, d = t.shape
  if n % 2 == 0:
    return t.reshape(2, n // 2, d).transpose(2, 0, 1).reshape(d, n)
  if d % 2 == 0:
    return t.reshape(n, 2, d // 2).transpose(1, 2, 0).reshape(d, n)
  return t.T  # odd by odd: a small layer, left to XLA


def row_major_copy(t):
  """t materialised in its own (row-major) layout, so a consuming product gets a plain operand
  rather than a transpose XLA can fold into the product."""
  return jax.lax.optimization_barrier(t.reshape(-1, t.shape[-1])).reshape(t.shape)


def swap_minor_copy(t):
  """[..., m, n] -> [..., n, m], materialised in memory rather than folded into the consuming
  product (attention's [batch, heads, q, k], whose sizes may both be odd)."""
  return row_major_copy(jnp.swapaxes(t, -1, -2))


def dense(x, kernel, bias, compute_dtype, activation=None):
  """activation(x [n, in] @ kernel [in, out] + bias [out] (or None)) -> [n, out] in
  `compute_dtype`.

  Products in `compute_dtype` with float32 accumulation in both passes; the bias gradient is
  `sum_rows`. activation: an elementwise function, or None. In a low-precision compute dtype it
  is applied in float32, before the one cast down, and its derivative is taken in float32 and kept
  in `compute_dtype` for the backward pass: XLA:CPU has no bfloat16 arithmetic and rounds every
  elementwise op of a bfloat16 expression back to bfloat16, so an exact GELU on a bfloat16 input
  costs 5 round trips forward and more backward (fused here: clip_tiny bf16 +6 % examples/s,
  benchmarks/train_throughput.py, 2026-12-05).
  """
  compute_dtype = jnp.dtype(compute_dtype)
  if activation is not None and compute_dtype == jnp.float32:
    # Nothing to round in float32; the unfused form was as fast there (~4 % either way).
    return activation(_dense(x, kernel, bias, compute_dtype, None))
  return _dense(x, kernel, bias, compute_dtype, activation)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _dense(x, kernel, bias, compute_dtype, activation):
  return _dense_fwd(x, kernel, bias, compute_dtype, activation)[0]


def _dense_fwd(x, kernel, bias, compute_dtype, activation):
  y = _product("ni,io->no", x, kernel, compute_dtype, jnp.float32)
  if bias is not None:
    y = y + bias.astype(jnp.float32)
  if activation is None:
    return y.astype(compute_dtype), (x, kernel, bias, None)
  # The activation's derivative is kept rather than its input: forward already computes what
  # it needs (erf for GELU), and the backward pass is then one product; recomputing it from
  # the input there made clip_tiny bf16's backward fusions the slower ones in its profile.
  h, activation_vjp = jax.vjp(activation, y)
  slope = activation_vjp(jnp.ones_like(y))[0]
  return h.astype(compute_dtype), (x, kernel, bias, slope.astype(compute_dtype))


def _dense_bwd(compute_dtype, activation, res, g):
  x, kernel, bias, slope = res
  if activation is not None:
    g = (g.astype(jnp.float32) * slope.astype(jnp.float32)).astype(compute_dtype)
  dx = _product("no,io->ni", g, kernel, compute_dtype, x.dtype)
  if compute_dtype != jnp.float32 and on_cpu():
    dk = _product("in,no->io", transposed_copy(x), g, compute_dtype, kernel.dtype)
  else:
    dk = _product("ni,no->io", x, g, compute_dtype, kernel.dtype)
  db = None if bias is None else sum_rows(g).astype(bias.dtype)
  return dx, dk, db


_dense.defvjp(_dense_fwd, _dense_bwd)


def attention(q, k, v, bias, compute_dtype):
  """softmax(q k^T / sqrt(head_dim) + bias) v for XLA:CPU in low precision: q, k, v head-major
  [batch, heads, tokens, head_dim], bias broadcastable to [batch, heads, q_len, k_len] (or None).
  Returns [batch, heads, q_len, head_dim] in `compute_dtype`; logits and softmax in float32.

  transformer.dot_product_attention's einsum path with its backward written out. Autodiff's key
  and value gradients contract [batch, heads, q, k] over q, not its minor axis, so XLA:CPU runs
  them in float32 through Eigen (as the weight gradients, see `transposed_copy`); here those two
  products take a transposed copy and YNNPACK runs them in bfloat16: clip_tiny bf16 ~5 % faster,
  attention's op time 425 -> 326 ms a step (A/B and per-op profile, 2026-12-05). The same values
  as autodiff's gradient up to bfloat16 rounding (tested).
  """
  return _attention(q, k, v, bias, jnp.dtype(compute_dtype))


def attention_probabilities(q, k, bias, compute_dtype):
  """softmax(q k^T / sqrt(head_dim) + bias), float32 [batch, heads, q_len, k_len], the logits'
  product through `einsum` (q, k head-major as `attention` takes them)."""
  return _scaled_probabilities(q, k, bias, compute_dtype)[1]


def _scaled_probabilities(q, k, bias, compute_dtype):
  q = q * jnp.asarray(q.shape[-1] ** -0.5, q.dtype)
  logits = einsum("bhqd,bhkd->bhqk", q, k, compute_dtype, out_dtype=jnp.float32)
  return q, jax.nn.softmax(logits if bias is None else logits + bias, axis=-1)


def _attention_fwd(q, k, v, bias, compute_dtype):
  q, p = _scaled_probabilities(q, k, bias, compute_dtype)
  return _product("bhqk,bhkd->bhqd", p, v, compute_dtype, compute_dtype), (q, k, v, p, bias)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _attention(q, k, v, bias, compute_dtype):
  return _attention_fwd(q, k, v, bias, compute_dtype)[0]


def _attention_bwd(compute_dtype, res, g):
  q, k, v, p, bias = res
  f32 = jnp.float32
  # g reaches here as a transpose (MultiHeadAttention's output is token-major). Folded into the
  # value-gradient and dp products, it made XLA:CPU widen both to float32: attention's op time in
  # the clip_tiny bf16 step ~375 -> ~300 ms (per-op profile, 2026-12-05).
  g = row_major_copy(g)
  dv = _product("bhkq,bhqd->bhkd", swap_minor_copy(p.astype(compute_dtype)), g, compute_dtype, f32)
  dp = _product("bhqd,bhkd->bhqk", g, v, compute_dtype, f32)
  ds = p * (dp - jnp.sum(dp * p, axis=-1, keepdims=True))
  dq = _product("bhqk,bhkd->bhqd", ds, k, compute_dtype, f32) * q.shape[-1] ** -0.5
  dk = _product("bhkq,bhqd->bhkd", swap_minor_copy(ds.astype(compute_dtype)), q, compute_dtype,
                f32)
  dbias = None if bias is None else _sum_to(ds, bias.shape).astype(bias.dtype)
  return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype), dbias


def _sum_to(t, shape):
  """t summed down to `shape`, which broadcasts to t's shape (the gradient of a broadcast)."""
  t = jnp.sum(t, axis=tuple(range(t.ndim - len(shape))))
  return jnp.sum(t, axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


_attention.defvjp(_attention_fwd, _attention_bwd)


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
