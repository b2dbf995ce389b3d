"""step_breakdown attributes a profiled train step's op time to matmul / attention /
elementwise / optimizer work; this checks it finds per-op events on XLA:CPU at all and that the
shares it returns are a partition of the attributed time."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from benchmarks.step_breakdown import CATEGORIES, step_breakdown


class _Attention(nn.Module):
  @nn.compact
  def __call__(self, x):
    q, k, v = jnp.split(nn.Dense(3 * x.shape[-1], name="qkv")(x), 3, axis=-1)
    probs = jax.nn.softmax(jnp.einsum("bqd,bkd->bqk", q, k))
    return nn.Dense(x.shape[-1], name="out")(jnp.einsum("bqk,bkd->bqd", probs, v))


class _Model(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = x + _Attention(name="attn")(nn.LayerNorm()(x))
    return nn.Dense(1)(nn.gelu(nn.Dense(32)(x)))


def test_step_breakdown_partitions_op_time(tmp_path):
  model, tx = _Model(), optax.adamw(1e-3)
  x = jax.random.normal(jax.random.key(0), (2, 8, 16))
  params = model.init(jax.random.key(1), x)

  def step(state, x):
    params, opt_state = state
    loss, grads = jax.value_and_grad(lambda p: jnp.mean(model.apply(p, x) ** 2))(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), {"loss": loss}

  state = (params, tx.init(params))
  compiled = jax.jit(step, donate_argnums=0).lower(state, x).compile()
  result = step_breakdown(compiled, (state, x), steps=2, logdir=str(tmp_path))

  fractions = [result[c]["fraction"] for c in CATEGORIES]
  assert abs(sum(fractions) - 1.0) < 1e-6, result
  assert result["matmul"]["fraction"] > 0 and result["optimizer"]["fraction"] > 0, result
  assert result["attention"]["fraction"] > 0 and result["total_ms_per_step"] > 0, result
  assert result["unattributed_ms_per_step"] == 0.0, result  # every op event names an HLO op
  assert list(tmp_path.rglob("*.trace.json.gz")), "the trace is kept in logdir"
