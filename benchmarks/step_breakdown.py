"""Where the time of a compiled train step goes: matmuls, attention, elementwise/norms, optimizer.

XLA:CPU's thunk executor records one profiler event per executed HLO instruction (on the
`tf_XLAPjRtCpuClient/...` threads; name and `args.hlo_op` are the instruction's name in
`compiled.as_text()`, `args.hlo_module` the module's). The HLO text then says what each one is:
its opcode, whether a fusion wraps a dot, and its `op_name`, the jax/flax scope path that tells
forward (`jvp(`), backward (`transpose(`), attention (`/attn/`) and optimizer (neither) apart.
"""

import collections
import glob
import gzip
import json
import os
import re
import tempfile
import time

import jax

CATEGORIES = ("matmul", "attention", "elementwise_norms", "optimizer")
# Dense layers inside an attention block are ordinary matmuls, not attention proper.
_PROJECTIONS = ("attn/qkv", "attn/q/", "attn/kv", "attn/out")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_INSTRUCTION = re.compile(r"^\s+(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*.*?\s([\w\-]+)\(")
_OP_NAME = re.compile(r'op_name="((?:[^"\\]|\\.)*)"')
_CALLS = re.compile(r"\bcalls=(\{[^}]*\}|%?[\w.\-]+)")


def _parse_hlo(text):
  """{instruction: (op_name, is a matmul, fused computations)}, {computation: [instructions]}."""
  instrs, comps, body = {}, {}, []
  for line in text.splitlines():
    if m := _COMPUTATION.match(line):
      body = comps.setdefault(m[1], [])
    elif m := _INSTRUCTION.match(line):
      op_name, calls = _OP_NAME.search(line), _CALLS.search(line)
      calls = re.findall(r"[\w.\-]+", calls[1]) if calls else []
      instrs[m[1]] = (op_name[1] if op_name else "", m[2] in ("dot", "convolution"), calls)
      body.append(m[1])
  return instrs, comps


def _resolve(name, instrs, comps, memo):
  """(op_name, is_matmul) of an instruction; a fusion lacking either looks inside its body."""
  if name not in memo:
    op_name, matmul, calls = instrs[name]
    # Traced ops' scope paths start with a transform ("jit(step)/..."); parameters carry their
    # pytree path instead ("state[0]['params']..."), which says nothing about where they are used.
    op_name = op_name if re.match(r"\w+\(", op_name) else ""
    for inner in (i for c in calls for i in reversed(comps.get(c, []))):  # root first
      inner_name, inner_matmul = _resolve(inner, instrs, comps, memo)
      op_name, matmul = op_name or inner_name, matmul or inner_matmul
    memo[name] = (op_name, matmul)
  return memo[name]


def _category(op_name, matmul):
  if "/attn/" in op_name and not any(p in op_name for p in _PROJECTIONS):
    return "attention"  # QK^T, softmax, PV, and their gradients
  if matmul:
    return "matmul"
  if op_name and "jvp(" not in op_name and "transpose(" not in op_name:
    return "optimizer"  # outside forward and backward: the update (and gradient bookkeeping)
  return "elementwise_norms"  # also instructions XLA added without a scope, e.g. layout copies


def _self_times(events):
  """(hlo_op, exclusive µs) per event. A while/conditional thunk's event encloses the events
  of its body on the same thread, so nested time is only counted once, for the innermost op."""
  out, by_thread = [], collections.defaultdict(list)
  for e in events:
    by_thread[e["pid"], e["tid"]].append(e)
  for evs in by_thread.values():
    stack = []  # (end time, index in out) of the enclosing events
    for e in sorted(evs, key=lambda e: (e["ts"], -e["dur"])):
      while stack and e["ts"] >= stack[-1][0]:
        stack.pop()
      if stack:
        out[stack[-1][1]][1] -= e["dur"]
      stack.append((e["ts"] + e["dur"], len(out)))
      out.append([e["args"]["hlo_op"], e["dur"]])
  return out


def step_breakdown(compiled, args, steps: int = 3, logdir: str | None = None, *,
                   warmup: int = 1) -> dict:
  """Profiles `steps` calls of `compiled(*args)` and splits its op time by category.

  `compiled` takes the state first (donated: `args[0]` is consumed) and returns (state,
  metrics). `warmup` untraced steps run first, since a first run pays one-off costs (a tiny
  step took 64 ms the first time, 0.5 ms afterwards). Returns, for each of CATEGORIES,
  {"ms_per_step", "fraction"} of the op time attributed to an HLO instruction, plus
  "unattributed_ms_per_step" (op events not found in the HLO) and "total_ms_per_step" (wall
  clock, profiler overhead included). Ops may run concurrently on several threads, so the
  categories' ms can add up to more than the wall time. The trace stays in `logdir` if given.
  """
  if logdir is None:
    with tempfile.TemporaryDirectory() as tmp:
      return step_breakdown(compiled, args, steps, tmp, warmup=warmup)
  state, rest = args[0], tuple(args[1:])
  jax.block_until_ready(args)  # so that no earlier work lands in the trace
  for _ in range(warmup):
    state, _ = compiled(state, *rest)
  jax.block_until_ready(state)
  options = jax.profiler.ProfileOptions()
  options.python_tracer_level = 0  # Python function events: not needed, large and slow
  with jax.profiler.trace(logdir, create_perfetto_trace=True, profiler_options=options):
    start = time.perf_counter()
    for _ in range(steps):
      state, _ = compiled(state, *rest)
    jax.block_until_ready(state)  # one execution's outputs are all ready together
    wall = time.perf_counter() - start

  text = compiled.as_text()
  module = re.match(r"HloModule\s+([\w.\-]+)", text)[1]
  instrs, comps = _parse_hlo(text)
  paths = glob.glob(os.path.join(logdir, "**", "*.trace.json.gz"), recursive=True)
  if not paths:
    raise RuntimeError(f"the profiler wrote no *.trace.json.gz under {logdir}")
  with gzip.open(max(paths, key=os.path.getmtime)) as f:  # the newest: logdir may be reused
    trace = json.load(f)
  events = [e for e in trace["traceEvents"] if e.get("ph") == "X" and "hlo_op" in
            e.get("args", {}) and e["args"].get("hlo_module", module) == module]
  ms, unattributed, memo = dict.fromkeys(CATEGORIES, 0.0), 0.0, {}
  for name, us in _self_times(events):
    if name in instrs:
      ms[_category(*_resolve(name, instrs, comps, memo))] += us / 1e3 / steps
    else:
      unattributed += us / 1e3 / steps
  attributed = sum(ms.values())
  result = {c: {"ms_per_step": ms[c], "fraction": ms[c] / attributed if attributed else 0.0}
            for c in CATEGORIES}
  return dict(result, total_ms_per_step=wall * 1e3 / steps, unattributed_ms_per_step=unattributed)


if __name__ == "__main__":
  import flax.linen as nn
  import jax.numpy as jnp
  import optax

  class Attention(nn.Module):  # fused QKV projection, softmax(QK^T)V, output projection
    @nn.compact
    def __call__(self, x):
      q, k, v = jnp.split(nn.Dense(3 * x.shape[-1], name="qkv")(x), 3, axis=-1)
      probs = jax.nn.softmax(jnp.einsum("bqd,bkd->bqk", q, k) / jnp.sqrt(x.shape[-1]))
      return nn.Dense(x.shape[-1], name="out")(jnp.einsum("bqk,bkd->bqd", probs, v))

  class Model(nn.Module):  # a pre-LN attention block, then a 2-layer MLP
    @nn.compact
    def __call__(self, x):
      x = x + Attention(name="attn")(nn.LayerNorm()(x))
      return nn.Dense(1)(nn.gelu(nn.Dense(256)(nn.LayerNorm()(x))))

  model, tx = Model(), optax.adamw(1e-3)

  def train_step(state, x):
    params, opt_state = state
    loss, grads = jax.value_and_grad(lambda p: jnp.mean(model.apply(p, x) ** 2))(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), {"loss": loss}

  x = jax.random.normal(jax.random.key(0), (16, 64, 128))
  params = model.init(jax.random.key(1), x)
  state = (params, tx.init(params))
  compiled = jax.jit(train_step, donate_argnums=0).lower(state, x).compile()
  print(json.dumps(step_breakdown(compiled, (state, x), steps=5), indent=2))
