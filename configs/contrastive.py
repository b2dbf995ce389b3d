r"""CLIP / SigLIP contrastive pretraining on the built-in synthetic scene world.

Evaluation: image<->text retrieval R@1/5/10; zero-shot shape / colour classification of the
single-object test images from prompt-ensembled class names; a linear probe (logistic regression,
L2 weight chosen on a validation split) on the image tower's pooled features of train-split
images, predicting the first object's shape / colour on the test images.

Run (the default preset: a few minutes on 2 CPU cores, retrieval far above chance):
  python experiments/contrastive.py --config configs/contrastive.py --workdir runs/contrastive
Presets, chosen after the colon:
  tiny       seconds-long smoke run (CI).
  clip_tiny  the benchmark model (ViT 64px/8, width 256, 6 layers; text ctx 32, vocab 8192).
Any key can be overridden, e.g. the SigLIP loss on 8 pmap devices in bfloat16:
  --config.model.loss=sigmoid --config.parallelism=pmap --config.compute_dtype=bfloat16

Ablation sweep (get_sweep below): SigLIP vs softmax (CLIP) loss x batch size x 3 seeds
(18 trials, 1 h 32 min on 2 busy CPU cores; the table in README.md):
  python -m mmjax.sweep --config configs/contrastive.py --workdir runs/contrastive_ablation
  python -m mmjax.sweep --config configs/contrastive.py:tiny --workdir /tmp/sweep   (CI)
Measured (mean of 3 seeds, R@1 image->text): softmax 0.523 / 0.659 / 0.761 at batch
32 / 64 / 128, sigmoid 0.472 / 0.603 / 0.708.
"""

import math

import ml_collections

from mmjax.train import defaults


def get_config(arg: str = ""):
  c = defaults()
  c.batch_size = 128
  c.total_steps = 1000
  c.log_every_steps = 100
  c.eval_every_steps = 250
  c.checkpoint.every_steps = 500
  c.optimizer.lr = 1e-3
  c.optimizer.weight_decay = 0.05
  c.schedule.warmup_steps = 100

  c.model = ml_collections.ConfigDict(dict(
      image_encoder="vit",
      image=dict(patch_size=8, width=128, depth=3, num_heads=4, mlp_dim=512, pool="cls",
                 posemb="learned"),
      text_encoder="transformer",
      text=dict(max_len=16, width=128, depth=2, num_heads=4, mlp_dim=512, causal=True,
                pool="last"),
      embed_dim=128,
      loss="softmax",  # "softmax" (CLIP InfoNCE) or "sigmoid" (SigLIP).
  ))
  c.data = ml_collections.ConfigDict(dict(
      source="shapes", image_size=32, max_objects=2, noise=0.05, seed=0))
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=1000, batch_size=250,
      zero_shot_tasks=("shape", "colour"),  # class names from mmjax/data/synthetic/scenes.py
      zero_shot_templates=("a {c}", "there is a {c}", "a picture of a {c}",
                           "an image with a {c}"),  # words must be caption words
      probe_tasks=("shape", "colour"),
      probe_examples=1000))  # train-split images the probe fits on (a fifth validates)
  c.eval_only = False

  arg = arg or ""
  if arg == "tiny":
    c.batch_size = 32
    c.total_steps = 6
    c.log_every_steps = 2
    c.eval_every_steps = 0
    c.checkpoint.every_steps = 3
    c.schedule.warmup_steps = 2
    c.model.image.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.model.text.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.model.embed_dim = 32
    c.eval.num_examples = 64
    c.eval.batch_size = 32
    c.eval.probe_examples = 64
  elif arg == "clip_tiny":
    c.data.image_size = 64
    c.model.image.update(patch_size=8, width=256, depth=6, num_heads=4, mlp_dim=1024)
    c.model.text.update(max_len=32, vocab_size=8192, width=256, depth=6, num_heads=4,
                        mlp_dim=1024)
    c.model.embed_dim = 256
  elif arg:
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), tiny, clip_tiny.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c


def get_sweep(arg: str = ""):
  """softmax (CLIP) vs sigmoid (SigLIP) loss x batch size 32, 64, 128 x 3 seeds, all for the
  default 1000 steps, so larger batches also see more pairs (python -m mmjax.sweep; format in
  mmjax/sweep/spec.py). arg tiny: the tiny preset, batch 16 and 32, one seed (CI)."""
  sweep = dict(experiment="experiments/contrastive.py",
               grid={"model.loss": ("softmax", "sigmoid"), "batch_size": (32, 64, 128)},
               seeds=(0, 1, 2),
               metrics=("i2t/R@1", "t2i/R@1", "zero_shot/shape/top1",
                        "linear_probe/shape/accuracy"))
  if arg == "tiny":
    sweep.update(grid={"preset": ("tiny",), "model.loss": ("softmax", "sigmoid"),
                       "batch_size": (16, 32)}, seeds=(0,))
  elif arg:
    raise ValueError(f"Unknown sweep {arg!r}; valid: '' (default), tiny.")
  return sweep
