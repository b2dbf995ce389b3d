r"""CLIP / SigLIP contrastive pretraining on the built-in synthetic scene world.

Evaluation: image<->text retrieval R@1/5/10; zero-shot shape / colour classification of the
single-object test images from prompt-ensembled class names, with the caption templates
(zero_shot/...) and with wordings no caption uses (eval.novel_templates: zero_shot_novel/...),
and of the multi-object ones (.../multi_object/top1_any: any object's class counts); a linear
probe (logistic regression, L2 weight chosen on a validation split) on the image tower's pooled
features of train-split images, predicting the first object's shape / colour on the test
images. Training never sees the (shape, colour) pairs of data.source.shapes.held_out; retrieval
on eval.compositional_examples scenes that have one is compositional/...; results.json also
gives the share of test captions whose exact string was a training caption
([compositional/]test_captions_seen_in_training).

  python experiments/contrastive.py --config configs/contrastive.py --workdir runs/contrastive
Presets, chosen after the colon:
  (default)  a few minutes on a CPU.
  tiny       seconds-long smoke run (CI).
  manifest   your own image-text files (python -m mmjax.data.prepare writes them), 64 px:
             --config.data.source.manifest.dir=DIR; retrieval only (no scene attributes).
  coco       COCO Captions from tfds (train+restval; Karpathy's 5000 test images, every
             caption), 64 px: --config.data.source.coco_captions.data_dir=DIR (prepared once
             with `tfds build coco_captions --data_dir DIR`); retrieval only. Any preset reads
             it with --config.data.source.name=coco_captions (clear eval.zero_shot_tasks and
             eval.probe_tasks, which need the synthetic scenes' attributes).
  clip_tiny  the benchmark model (ViT 64px/8, width 256, 6 layers; text ctx 32, vocab 8192).
Any key can be overridden, e.g. the SigLIP loss on 8 pmap devices in bfloat16, or another tower:
  --config.model.loss=sigmoid --config.parallelism=pmap --config.compute_dtype=bfloat16
  --config.model.image.name=resnet --config.model.image.vit.depth=6
Each tower has one option dict per choice; only the chosen one's is read.

Ablation sweep (get_sweep below): SigLIP vs softmax (CLIP) loss x batch size x 3 seeds:
  python -m mmjax.sweep --config configs/contrastive.py --workdir runs/contrastive_ablation
  python -m mmjax.sweep --config configs/contrastive.py:tiny --workdir /tmp/sweep   (CI)
"""

import ml_collections

from mmjax import train
from mmjax.data.synthetic.scenes import DEFAULT_HELD_OUT


# data.source.coco_captions: the shuffle buffer holds JPEG bytes (~160 KB each).
COCO = dict(data_dir="", dataset="coco_captions", train_split="train+restval", eval_split="test",
            shuffle_buffer=10_000, vocab_examples=5000)


def get_config(arg: str = ""):
  c = train.defaults(batch_size=128, total_steps=1000, log_every_steps=100, eval_every_steps=250,
                     checkpoint=dict(every_steps=500),
                     optimizer=dict(lr=1e-3, weight_decay=0.05), schedule=dict(warmup_steps=100))
  c.model = ml_collections.ConfigDict(dict(
      image=dict(name="vit",
                 vit=dict(patch_size=8, width=128, depth=3, num_heads=4, mlp_dim=512, pool="cls",
                          posemb="learned", **train.layer_options()),
                 cnn=dict(channels=(32, 64, 128)),
                 resnet=dict(depth=18, width=32, stem="cifar")),
      # vocab_size and (transformer) max_len come from the tokenizer and data.text_len.
      text=dict(name="transformer",
                transformer=dict(width=128, depth=2, num_heads=4, mlp_dim=512, causal=True,
                                 pool="last", **train.layer_options()),
                bag_of_words=dict(width=128)),
      embed_dim=128,
      loss="softmax",  # "softmax" (CLIP InfoNCE) or "sigmoid" (SigLIP).
  ))
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32, text_len=16,
      # held_out: (shape, colour) pairs training never sees, only test_compositional.
      source=dict(name="shapes", shapes=dict(max_objects=2, noise=0.05,
                                             held_out=DEFAULT_HELD_OUT),
                  # Your own image-text files: train/val/test.jsonl in `dir` (image, text).
                  manifest=dict(dir="", train="train.jsonl", val="val.jsonl",
                                test="test.jsonl", on_bad_example="error",
                                validation_cache=True, cache=False),
                  # tfds COCO Captions (tfds build coco_captions --data_dir DIR), streamed; the
                  # word vocabulary comes from the first vocab_examples train images' captions.
                  coco_captions=dict(COCO))))
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=1000, batch_size=250,
      zero_shot_tasks=("shape", "colour"),  # class names from mmjax/data/synthetic/scenes.py
      zero_shot_templates=("a {c}", "there is a {c}", "a picture of a {c}",
                           "an image with a {c}"),  # words must be caption words
      # Wordings no caption uses around an object (checked); unknown words are <unk> tokens.
      novel_templates=("a photo of a {c}", "this is a {c}", "a drawing of a {c}",
                       "a {c} is shown"),
      # test_compositional scenes scored by retrieval (0: none; the synthetic world with
      # held-out pairs only).
      compositional_examples=1000,
      # tfds test sets classified zero-shot with zero_shot_templates, e.g. ("cifar10",
      # "mnist"), prepared in zero_shot_data_dir (tfds build cifar10 --data_dir DIR); the first
      # zero_shot_examples images of each (0: all). Results count the class names the
      # caption vocabulary lacks (zero_shot/<name>/oov_classes).
      zero_shot_datasets=(), zero_shot_data_dir="", zero_shot_examples=0,
      probe_tasks=("shape", "colour"),
      probe_examples=1000))  # train-split images the probe fits on (a fifth validates)
  c.eval_only = False

  arg = arg or ""
  if arg == "tiny":
    c.update(train.smoke(32, 6, eval_every_steps=0, checkpoint=dict(every_steps=3),
                         schedule=dict(warmup_steps=2)))
    c.model.image.vit.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.model.text.transformer.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.model.embed_dim = 32
    c.eval.update(num_examples=64, batch_size=32, probe_examples=64, compositional_examples=32)
  elif arg == "manifest":  # your files: add --config.data.source.manifest.dir=DIR
    c.data.source.name = "manifest"
    c.data.update(image_size=64, text_len=24)
    # The scene attributes are synthetic; num_examples counts test rows (captions): Flickr8k's
    # 1,000 test images x 5.
    c.eval.update(zero_shot_tasks=(), probe_tasks=(), num_examples=5000,
                  compositional_examples=0)
  elif arg == "coco":  # add --config.data.source.coco_captions.data_dir=DIR
    c.data.source.name = "coco_captions"
    c.data.update(image_size=64, text_len=24)
    # No scene attributes; num_examples counts test images, each with all its ~5 captions
    # (Karpathy's 5000-image test split).
    c.eval.update(zero_shot_tasks=(), probe_tasks=(), num_examples=5000,
                  compositional_examples=0)
  elif arg == "clip_tiny":
    c.data.update(image_size=64, text_len=32)
    c.model.image.vit.update(patch_size=8, width=256, depth=6, num_heads=4, mlp_dim=1024)
    c.model.text.transformer.update(vocab_size=8192, width=256, depth=6, num_heads=4,
                                    mlp_dim=1024)
    c.model.embed_dim = 256
  elif arg:
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), tiny, manifest, coco, "
                     "clip_tiny.")
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
