"""The train-step workloads `train_throughput.py` times, and how one row of its table is measured.

Imports jax: `train_throughput.py` imports this only in the subprocess that runs one row, after
it has set XLA_FLAGS (the number of host devices is fixed when jax initialises).

clip_tiny is open_clip's workload of the same name: image 64x64, ViT patch 8, width 256, 6 pre-LN
layers, 4 heads, MLP 1024, exact GELU, LayerNorm eps 1e-5; text context 32, vocab 8192, width 256,
6 layers, 4 heads, causal, last-token pooling; embedding 256; batch 128; AdamW (lr 1e-4, weight
decay 0.01 on all parameters, no clipping or schedule); CLIP softmax loss.

fusion is configs/fusion.py's default model and optimizer on its default task (redundant): image
CNN (8, 16, 32 channels) + audio AST over 1.5 s at 8 kHz, concat_late, an MLP head; batch 64;
built, fed and trained by mmjax.tasks.classification, as experiments/fusion_classification.py is.
"""

import json
import os
import resource
import statistics
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmjax import experiment, train  # noqa: E402
from mmjax.data.pipeline import Batches  # noqa: E402
from mmjax.losses.contrastive import clip_softmax_loss  # noqa: E402
from mmjax.models import TwoTower  # noqa: E402
from mmjax.tasks import classification  # noqa: E402
from mmjax.train import parallel  # noqa: E402
from mmjax.train.optimizer import make_optimizer  # noqa: E402
from mmjax.train.state import TrainState  # noqa: E402
from mmjax.train.step import make_train_step  # noqa: E402

CLIP_TINY = dict(image=64, patch=8, width=256, depth=6, heads=4, mlp=1024, ctx=32, vocab=8192,
                 embed=256, batch=128)


def clip_config(dtype, parallelism):
  w = CLIP_TINY
  c = train.defaults()
  c.batch_size, c.compute_dtype, c.parallelism = w["batch"], dtype, parallelism
  c.optimizer.update(name="adamw", lr=1e-4, weight_decay=0.01, grad_clip_norm=0.0,
                     decay_mask="all")
  c.schedule.update(name="constant", warmup_steps=0)
  c.progress_bar = False
  return c


def clip_workload(dtype, parallelism):
  """(config, init_fn, loss_fn, 4 batches, analytic FLOPs per step) of clip_tiny."""
  w = CLIP_TINY
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
  return clip_config(dtype, parallelism), init_fn, loss_fn, batches, analytic_flops(w)


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


def fusion_workload(dtype, parallelism):
  """(config, init_fn, loss_fn, 4 batches, None) of configs/fusion.py's default model: the
  experiment's own model, training batches and loss (mmjax.tasks.classification)."""
  config = experiment.get_config(os.path.join(ROOT, "configs/fusion.py"))
  config.compute_dtype, config.parallelism, config.progress_bar = dtype, parallelism, False
  with tempfile.TemporaryDirectory() as workdir:
    mods, world, _, _, tokenizer, model = classification.setup(
        config, os.path.join(workdir, "vocab.json"))
  make = classification.batch_maker(world, "train", mods, tokenizer, config.data.text_len)
  train_data = Batches(make, config.batch_size, seed=config.data.seed)
  batches = [next(train_data) for _ in range(4)]
  train_data.close()
  init_fn = classification.init_fn(model, {m: batches[0][m] for m in mods})
  return config, init_fn, classification.loss_fn(model, mods, config.model), batches, None


WORKLOADS = {"clip_tiny": (clip_workload, "float32"), "clip_tiny_bf16": (clip_workload, "bfloat16"),
             "fusion": (fusion_workload, "float32"), "fusion_bf16": (fusion_workload, "bfloat16")}


def bare_step(c, init_fn, loss_fn, batches, steps, warmup, breakdown):
  """The model's train step alone: jit (or pmap) with donation, batches pre-placed."""
  optimizer, schedule = make_optimizer(c, 10 ** 6)
  pmap = c.parallelism == "pmap"
  step = make_train_step(loss_fn, optimizer, schedule,
                         axis_name=parallel.PMAP_AXIS if pmap else None)
  rng = jax.random.key(0)
  create = lambda r: TrainState.create(*init_fn(r), optimizer, r)
  if pmap:
    state, placed = parallel.replicate(jax.jit(create)(rng)), [parallel.split_for_pmap(b)
                                                               for b in batches]
    fn = jax.pmap(step, axis_name=parallel.PMAP_AXIS, donate_argnums=0)
  else:  # state replicated over the mesh, batch sharded on it, as `train.fit` places them.
    mesh = parallel.make_mesh()
    shardings = parallel.state_shardings(jax.eval_shape(create, rng), mesh, c.fsdp)
    state = jax.jit(create, out_shardings=shardings)(rng)
    placed = [parallel.global_batch(b, mesh) for b in batches]
    fn = jax.jit(step, donate_argnums=0)
  t0 = time.perf_counter()
  compiled = fn.lower(state, placed[0]).compile(parallel.compiler_options(c.compute_dtype))
  compile_s = time.perf_counter() - t0
  times = []
  for i in range(warmup + steps):
    t0 = time.perf_counter()
    state, metrics = compiled(state, placed[i % 4])
    float(np.asarray(metrics["loss"]).reshape(-1)[0])  # the peer syncs on loss.item() too.
    times.append(time.perf_counter() - t0)
  out = {"compile_s": compile_s, "step_times": times[warmup:]}
  m = compiled.memory_analysis()
  if m is not None:  # what the step holds at once, counted as fit_workloads.measure counts it
    out["peak_bytes"] = (m.argument_size_in_bytes + m.output_size_in_bytes
                         - m.alias_size_in_bytes + m.temp_size_in_bytes
                         + m.generated_code_size_in_bytes)
  if breakdown and not pmap:
    from benchmarks.step_breakdown import step_breakdown  # pylint: disable=g-import-not-at-top
    out["breakdown"] = step_breakdown(compiled, (state, placed[0]), steps=3)
  try:
    out["xla_flops"] = float(compiled.cost_analysis()["flops"])
  except Exception:  # cost analysis is optional on some backends.
    out["xla_flops"] = None
  return out


def trainer_rate(c, init_fn, loss_fn, batches, steps):
  """steps/s of the whole trainer, from its own logged windows after the first."""
  k = max(steps // 2, 2)
  c.total_steps, c.log_every_steps = 3 * k, k
  c.checkpoint.every_steps = 10 ** 6
  # The learning-rate schedule's shape costs nothing per step, but validate wants warmup < total.
  c.schedule.warmup_steps = min(c.schedule.warmup_steps, c.total_steps - 1)
  with tempfile.TemporaryDirectory() as workdir:
    data = Batches(lambda idx: batches[(idx[0] // c.batch_size) % 4], c.batch_size)
    train.fit(c, workdir, init_fn=init_fn, loss_fn=loss_fn, train_data=data)
    data.close()
    rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  rates = [r["train/steps_per_s"] for r in rows if "train/steps_per_s" in r][1:]
  return statistics.median(rates)


# clip_tiny's products (128 x 64 image tokens by width 256 into the MLP's 1024 and back) and a
# square one: the machine's dot ceiling is the best of them.
CEILING_SHAPES = ((2048, 2048, 2048), (8192, 256, 1024), (8192, 1024, 256))


def dot_ceiling(dtype, repeats: int = 5) -> dict:
  """GFLOP/s of one jitted product [m, k] x [k, n] on one device, inputs in `dtype` with float32
  accumulation (as mmjax.models.matmul computes), compiled with the train step's options
  (parallel.compiler_options), best of `repeats`: {"m x k x n": GFLOP/s} for CEILING_SHAPES and
  "best", the ceiling a step's achieved GFLOP/s compares with."""
  out = {}
  product = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32))
  for m, k, n in CEILING_SHAPES:
    a, b = jnp.ones((m, k), dtype), jnp.ones((k, n), dtype)
    compiled = product.lower(a, b).compile(parallel.compiler_options(dtype))
    compiled(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      compiled(a, b).block_until_ready()
      times.append(time.perf_counter() - t0)
    out[f"{m} x {k} x {n}"] = round(2 * m * k * n / min(times) / 1e9, 1)
  out["best"] = max(out.values())
  return out


def measure(name, parallelism, *, steps, warmup, breakdown, trainer) -> dict:
  """One row: examples/s and step time of the bare step, compile time, FLOPs, peak RSS of this
  process (so run one row per process), and optionally the full trainer's rate."""
  if name not in WORKLOADS:
    raise ValueError(f"unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
  build, dtype = WORKLOADS[name]
  c, init_fn, loss_fn, batches, flops = build(dtype, parallelism)
  train.validate(c)  # e.g. a batch the device count does not divide fails here, named.
  bare = bare_step(c, init_fn, loss_fn, batches, steps, warmup, breakdown)
  med = statistics.median(bare["step_times"])
  row = {"workload": name, "parallelism": parallelism, "devices": jax.device_count(),
         "batch": c.batch_size, "compute_dtype": dtype,
         "examples_per_s": round(c.batch_size / med, 2), "median_step_s": round(med, 4),
         "min_step_s": round(min(bare["step_times"]), 4),
         "compile_s": round(bare["compile_s"], 2), "flops_per_step": flops,
         "xla_flops_per_device": bare["xla_flops"],  # one device's program, as XLA counts
         "achieved_gflop_s": round(flops / med / 1e9, 1) if flops else None}
  if "breakdown" in bare:
    row["breakdown"] = bare["breakdown"]
  if trainer:
    rate = trainer_rate(c, init_fn, loss_fn, batches, steps)
    row["trainer_examples_per_s"] = round(rate * c.batch_size, 2)
    row["trainer_overhead"] = round((1.0 / rate) / med - 1.0, 4)
  if flops:
    ceiling = dot_ceiling(dtype)
    row.update(dot_gflop_s=ceiling, dot_ceiling_gflop_s=ceiling["best"],
               ceiling_fraction=round(row["achieved_gflop_s"] / ceiling["best"], 3))
  row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
  row["load_avg_1min"] = round(os.getloadavg()[0], 1)  # other processes' share of the cores
  return row
