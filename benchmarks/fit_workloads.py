"""The paper-scale workloads `memory_fit.py` compiles, and how one row of its table is measured.

Imports jax: `memory_fit.py` imports this only in the subprocess of one row, after setting
XLA_FLAGS (the number of host devices is fixed when jax initialises).

lit_coco_B16B is configs/lit_coco.py's default preset (big_vision's coco_B16B): ViT-B/16 at 224 px,
locked (`optimizer.frozen`: no gradient, no optimizer state), BERT-base text tower over 16
tokens with BERT's uncased vocabulary (30,522 tokens), embedding 768, batch 4096, AdamW. Its
towers are random (`model.pretrained=False`): a checkpoint changes the values, not the shapes,
and the model is built by experiments/lit_coco.py's own `build`.

clip_B32 is CLIP ViT-B/32 (Radford et al. 2021) on configs/contrastive.py's model and loss:
image 224 px, patch 32, width 768, 12 layers, 12 heads, MLP 3072; causal text transformer, width
512, 12 layers, 8 heads, MLP 2048, context 77, vocabulary 49,408; embedding 512; batch 32,768;
both towers trained with AdamW; softmax loss over the global batch.

tiny is a few-second stand-in for the tests (ViT 64 px / 8, text context 16, width 128, two
layers each; batch 64), large enough that FSDP shards nearly all of its parameters.
"""

import os
import resource
import sys
import time

import jax
import jax.numpy as jnp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmjax import experiment, train  # noqa: E402
from mmjax.tasks import image_text  # noqa: E402
from mmjax.tasks import lit_coco as lit  # noqa: E402
from mmjax.train import parallel  # noqa: E402

BERT_BASE_VOCAB = 30522  # bert-base-uncased's vocab.txt; [PAD] is id 0.
CLIP_B32 = dict(image=224, patch=32, width=768, depth=12, heads=12, mlp=3072, text_width=512,
                text_depth=12, text_heads=8, text_mlp=2048, ctx=77, vocab=49408, embed=512,
                batch=32768)
TINY = dict(image=64, patch=8, width=128, depth=2, heads=4, mlp=512, text_width=128,
            text_depth=2, text_heads=4, text_mlp=512, ctx=16, vocab=1024, embed=128, batch=64)


def settings(c, sharding: str, remat: str, dtype: str, scan: bool):
  """Sets the row's sharding ("dp": replicated state, "fsdp"), both towers' activation remat
  ("none", "full"), nn.scan over their layers, and compute dtype on config `c`."""
  c.fsdp = sharding == "fsdp"
  c.compute_dtype = dtype
  for tower in (c.model.image.vit, c.model.text.transformer):
    tower.update(remat=remat, scan=scan)
  c.progress_bar = False


def image_text_batch(batch: int, image: int, text_len: int) -> dict:
  """The abstract global batch of a two-tower step: images float32 [batch, image, image, 3],
  tokens int32 [batch, text_len] (what the input pipelines feed)."""
  return {"images": jax.ShapeDtypeStruct((batch, image, image, 3), jnp.float32),
          "text": jax.ShapeDtypeStruct((batch, text_len), jnp.int32)}


def lit_coco(sharding, remat, dtype, scan):
  """(config, init_fn, loss_fn, abstract batch) of configs/lit_coco.py's paper preset."""
  from experiments.lit_coco import check_config  # pylint: disable=g-import-not-at-top
  c = experiment.get_config(os.path.join(ROOT, "configs/lit_coco.py"))
  c.model.pretrained = False  # random towers of the checkpoints' shapes.
  settings(c, sharding, remat, dtype, scan)
  check_config(c)
  image = lit.random_image_tower(c)
  text = lit.random_text_tower(c, BERT_BASE_VOCAB, pad_id=0)
  _, init_fn, loss_fn = lit.build(c, image, text)
  return c, init_fn, loss_fn, image_text_batch(c.batch_size, c.data.image_size, c.data.text_len)


def clip(w):
  """The builder of a CLIP-style workload of dimensions `w` on configs/contrastive.py."""
  def build(sharding, remat, dtype, scan):
    c = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py"))
    c.batch_size = w["batch"]
    # CLIP's AdamW (Radford et al. 2021, B/32); the values change no memory or FLOPs.
    c.optimizer.update(name="adamw", lr=5e-4, b2=0.98, eps=1e-6, weight_decay=0.2)
    c.data.update(image_size=w["image"], text_len=w["ctx"])
    c.model.image.vit.update(patch_size=w["patch"], width=w["width"], depth=w["depth"],
                             num_heads=w["heads"], mlp_dim=w["mlp"])
    c.model.text.transformer.update(width=w["text_width"], depth=w["text_depth"],
                                    num_heads=w["text_heads"], mlp_dim=w["text_mlp"])
    c.model.embed_dim = w["embed"]
    settings(c, sharding, remat, dtype, scan)
    model = image_text.two_tower(c.model, w["vocab"], w["ctx"], c.compute_dtype)
    init_fn = image_text.init_fn(model, jnp.zeros((1, w["image"], w["image"], 3)),
                                 jnp.zeros((1, w["ctx"]), jnp.int32))
    loss_fn = image_text.contrastive_loss_fn(model, c.model.loss)
    return c, init_fn, loss_fn, image_text_batch(c.batch_size, w["image"], w["ctx"])
  return build


WORKLOADS = {"lit_coco_B16B": lit_coco, "clip_B32": clip(CLIP_B32), "tiny": clip(TINY)}


def compiler_options() -> dict:
  """The trainer's options, with LLVM's optimisations off: buffers are assigned before code is
  generated, so the memory analysis is the same (checked on the tiny workload) and compiles are
  30-40 % faster."""
  return dict(parallel.compiler_options(), xla_backend_optimization_level=0,
              xla_llvm_disable_expensive_passes=True)


def measure(name: str, sharding: str, remat: str, dtype: str) -> dict:
  """One row: the train step `fit` would run, compiled for this process's devices on abstract
  inputs (nothing allocated), with XLA's per-device memory analysis and FLOPs.

  The towers' layers run under nn.scan: unrolled, XLA:CPU's scheduler recomputes remat'd
  activations early and keeps them, so remat saved nothing there (measured), while a scanned
  backward pass can only recompute one layer at a time. XLA's cost analysis counts a loop's body
  once, so FLOPs come from the step with unrolled layers, lowered (not compiled): its global
  count over the devices."""
  if name not in WORKLOADS:
    raise ValueError(f"unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
  c, init_fn, loss_fn, batch = WORKLOADS[name](sharding, remat, dtype, True)
  n = jax.device_count()
  t0 = time.perf_counter()
  lowered = train.lower_step(c, init_fn, loss_fn, batch)  # validates: batch % devices first.
  compiled = lowered.compile(compiler_options())
  compile_s = time.perf_counter() - t0
  m = compiled.memory_analysis()
  batch_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(batch)) // n
  # What the step holds at once: its inputs, its outputs not written over donated inputs, its
  # scratch buffers and code (XLA's own peak_memory_in_bytes leaves the temporaries out on CPU).
  peak = (m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
          + m.temp_size_in_bytes + m.generated_code_size_in_bytes)
  unrolled = train.lower_step(*WORKLOADS[name](sharding, remat, dtype, False))
  return {"workload": name, "devices": n, "batch": c.batch_size,
          "batch_per_device": c.batch_size // n, "sharding": sharding, "remat": remat,
          "compute_dtype": dtype,
          "state_bytes": m.argument_size_in_bytes - batch_bytes,  # params + optimizer + step
          "batch_bytes": batch_bytes, "argument_bytes": m.argument_size_in_bytes,
          "output_bytes": m.output_size_in_bytes, "alias_bytes": m.alias_size_in_bytes,
          "temp_bytes": m.temp_size_in_bytes, "code_bytes": m.generated_code_size_in_bytes,
          "peak_bytes": peak, "flops_per_device": _flops(unrolled) / n,
          "compile_s": round(compile_s, 1),
          "host_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def _flops(lowered) -> float:
  cost = lowered.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost  # a list in older jax
  return float(cost["flops"])
