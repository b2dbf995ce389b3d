r"""Train-step throughput of mmjax workloads: one JSON line per workload.

  python benchmarks/train_throughput.py                                # clip_tiny, f32 and bf16
  python benchmarks/train_throughput.py --workloads clip_tiny --host_devices 8 --parallelism pmap

For each workload it reports examples/s and the median step time of a bare jitted train step
(`make_train_step` + `jax.jit`, donated state, batches already on device), the compile time, the
FLOPs per step (analytic matmul count, as ../shared/reference/openclip_bench.py counts them, and
XLA's cost analysis), achieved GFLOP/s, peak RSS, where the step's time goes (matmuls,
attention, elementwise/norms, optimizer; from a jax.profiler trace), and, with --trainer, the
overhead of the full trainer (`mmjax.train.fit`: data feeding, logging, metrics, NaN checks)
over the bare step.

clip_tiny is open_clip's workload of the same name: image 64x64, ViT patch 8, width 256, 6 pre-LN
layers, 4 heads, MLP 1024, exact GELU, LayerNorm eps 1e-5; text context 32, vocab 8192, width 256,
6 layers, 4 heads, causal, last-token pooling; embedding 256; batch 128; AdamW (lr 1e-4, weight
decay 0.01 on all parameters, no clipping or schedule); CLIP softmax loss.
"""

import argparse
import os
import sys


def parse():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--workloads", default="clip_tiny,clip_tiny_bf16")
  p.add_argument("--steps", type=int, default=20, help="timed steps")
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--host_devices", type=int, default=1, help="simulated CPU devices")
  p.add_argument("--parallelism", default="jit", choices=["jit", "pmap"])
  p.add_argument("--trainer", action="store_true", help="also time mmjax.train.fit")
  p.add_argument("--no_breakdown", action="store_true")
  return p.parse_args()


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.host_devices > 1:  # must be set before jax initialises.
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             f" --xla_force_host_platform_device_count={ARGS.host_devices}")

import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmjax import train  # noqa: E402
from mmjax.data.pipeline import Batches  # noqa: E402
from mmjax.losses.contrastive import clip_softmax_loss  # noqa: E402
from mmjax.models import TwoTower  # noqa: E402
from mmjax.train import parallel  # noqa: E402
from mmjax.train.optimizer import make_optimizer  # noqa: E402
from mmjax.train.state import TrainState  # noqa: E402
from mmjax.train.step import make_train_step  # noqa: E402

CLIP_TINY = dict(image=64, patch=8, width=256, depth=6, heads=4, mlp=1024, ctx=32, vocab=8192,
                 embed=256, batch=128)
WORKLOADS = {"clip_tiny": ("float32", CLIP_TINY), "clip_tiny_bf16": ("bfloat16", CLIP_TINY)}


def clip_workload(dtype, w):
  model = TwoTower(
      image=dict(patch_size=w["patch"], width=w["width"], depth=w["depth"], num_heads=w["heads"],
                 mlp_dim=w["mlp"], pool="cls"),
      text=dict(vocab_size=w["vocab"], max_len=w["ctx"], width=w["width"], depth=w["depth"],
                num_heads=w["heads"], mlp_dim=w["mlp"], causal=True, pool="last"),
      embed_dim=w["embed"], dtype=jnp.dtype(dtype))

  def init_fn(rng):
    x, t = jnp.zeros((1, w["image"], w["image"], 3)), jnp.zeros((1, w["ctx"]), jnp.int32)
    return model.init(rng, x, t)["params"], {}

  def loss_fn(params, model_state, batch, rng, axis_name):
    zimg, ztxt, out = model.apply({"params": params}, batch["images"], batch["tokens"])
    return clip_softmax_loss(zimg, ztxt, out["logit_scale"], axis_name=axis_name), ({}, model_state)

  rng = np.random.default_rng(0)  # as the open_clip peer: 4 batches, used round-robin.
  batches = []
  for _ in range(4):
    tokens = rng.integers(1, w["vocab"] - 1, (w["batch"], w["ctx"])).astype(np.int32)
    tokens[:, -1] = w["vocab"] - 1  # EOT last: last-token pooling reads it.
    batches.append({"images": rng.normal(size=(w["batch"], w["image"], w["image"], 3))
                    .astype(np.float32), "tokens": tokens})
  return init_fn, loss_fn, batches


def analytic_flops(w):
  """Matmul FLOPs of one training step (forward x3, patch embedding x2), as the peer counts."""
  b, d, e = w["batch"], w["width"], w["embed"]
  tower = lambda length: w["depth"] * (2 * length * d * 3 * d + 2 * length * d * d +
                                       4 * length * d * w["mlp"] + 4 * length * length * d)
  n_patch = (w["image"] // w["patch"]) ** 2
  vis = b * (tower(n_patch + 1) + 2 * d * e)
  patch = b * 2 * n_patch * 3 * w["patch"] ** 2 * d
  txt = b * (tower(w["ctx"]) + 2 * d * e)
  logits = 4 * b * b * e
  return 3 * (vis + txt + logits) + 2 * patch


def config_for(dtype, w, parallelism):
  c = train.defaults()
  c.batch_size, c.compute_dtype, c.parallelism = w["batch"], dtype, parallelism
  c.optimizer.update(name="adamw", lr=1e-4, weight_decay=0.01, grad_clip_norm=0.0,
                     decay_mask="all")
  c.schedule.update(name="constant", warmup_steps=0)
  c.progress_bar = False
  return c


def bare_step(c, init_fn, loss_fn, batches, args):
  """The model's train step alone: jit (or pmap) with donation, batches pre-placed."""
  optimizer, schedule = make_optimizer(c, 10 ** 6)
  pmap = c.parallelism == "pmap"
  step = make_train_step(loss_fn, optimizer, schedule,
                         axis_name=parallel.PMAP_AXIS if pmap else None)
  rng = jax.random.key(0)
  state = jax.jit(lambda r: TrainState.create(*init_fn(r), optimizer, r))(rng)
  if pmap:
    state, placed = parallel.replicate(state), [parallel.split_for_pmap(b) for b in batches]
    fn = jax.pmap(step, axis_name=parallel.PMAP_AXIS, donate_argnums=0)
  else:
    mesh = parallel.make_mesh()
    placed = [parallel.global_batch(b, mesh) for b in batches]
    fn = jax.jit(step, donate_argnums=0)
  t0 = time.perf_counter()
  compiled = fn.lower(state, placed[0]).compile(parallel.compiler_options())
  compile_s = time.perf_counter() - t0
  times = []
  for i in range(args.warmup + args.steps):
    t0 = time.perf_counter()
    state, metrics = compiled(state, placed[i % 4])
    float(np.asarray(metrics["loss"]).reshape(-1)[0])  # the peer syncs on loss.item() too.
    times.append(time.perf_counter() - t0)
  out = {"compile_s": compile_s, "step_times": times[args.warmup:], "compiled": compiled}
  if not args.no_breakdown and not pmap:
    from benchmarks.step_breakdown import step_breakdown
    out["breakdown"] = step_breakdown(compiled, (state, placed[0]), steps=3)
  try:
    out["xla_flops"] = float(compiled.cost_analysis()["flops"])
  except Exception:  # cost analysis is optional on some backends.
    out["xla_flops"] = None
  return out


def trainer_rate(c, init_fn, loss_fn, batches, args):
  """steps/s of the whole trainer, from its own logged windows after the first."""
  k = max(args.steps // 2, 2)
  c.total_steps, c.log_every_steps = 3 * k, k
  c.checkpoint.every_steps = 10 ** 6
  with tempfile.TemporaryDirectory() as workdir:
    data = Batches(lambda idx: batches[(idx[0] // c.batch_size) % 4], c.batch_size)
    train.fit(c, workdir, init_fn=init_fn, loss_fn=loss_fn, train_data=data)
    data.close()
    rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  rates = [r["train/steps_per_s"] for r in rows if "train/steps_per_s" in r][1:]
  return statistics.median(rates)


def main():
  args = ARGS
  for name in args.workloads.split(","):
    if name not in WORKLOADS:
      raise SystemExit(f"unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
    dtype, w = WORKLOADS[name]
    c = config_for(dtype, w, args.parallelism)
    init_fn, loss_fn, batches = clip_workload(dtype, w)
    bare = bare_step(c, init_fn, loss_fn, batches, args)
    med = statistics.median(bare["step_times"])
    flops = analytic_flops(w)
    row = {"workload": name, "parallelism": args.parallelism, "devices": jax.device_count(),
           "batch": w["batch"], "compute_dtype": dtype,
           "examples_per_s": round(w["batch"] / med, 2), "median_step_s": round(med, 4),
           "min_step_s": round(min(bare["step_times"]), 4),
           "compile_s": round(bare["compile_s"], 2), "flops_per_step": flops,
           "xla_flops_per_step": bare["xla_flops"],
           "achieved_gflop_s": round(flops / med / 1e9, 1)}
    if "breakdown" in bare:
      row["breakdown"] = bare["breakdown"]
    if args.trainer:
      rate = trainer_rate(c, init_fn, loss_fn, batches, args)
      row["trainer_examples_per_s"] = round(rate * w["batch"], 2)
      row["trainer_overhead"] = round((1.0 / rate) / med - 1.0, 4)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
