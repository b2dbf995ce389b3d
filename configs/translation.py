r"""Modality translation on the built-in synthetic scene world, judged by attribute classifiers.

mode=text_to_image (the default preset): a text-conditioned diffusion model generates images of
test captions; an image classifier trained on real images names the shape, colour and size of
each generated object, and its agreement with the caption is the score, beside the same
classifier on the real test images (the upper bound) and chance (a generator that ignores the
text scores chance exactly: the attributes are uniform and independent).
mode=caption_route (preset `caption_route`): image -> caption -> text classifier. A captioner
describes each test image, a text classifier trained on real captions reads the first object's
attributes from that caption; beside it, the text classifier on the real caption and the image
classifier on the image itself.

Run (each stage trains in its own sub-workdir and resumes; --config.eval_only=True re-scores):
  python experiments/translation.py --config configs/translation.py --workdir runs/t2i
  python experiments/translation.py --config configs/translation.py:caption_route \
      --workdir runs/caption_route
Presets, chosen after the colon: tiny (seconds-long smoke run, CI), caption_route.
A captioner trained by experiments/captioning.py (same data and model options) can be scored
instead of training one here: --config.captioner.workdir=runs/captioning
Any stage's trainer keys can be overridden, e.g. --config.generator.total_steps=3000; the
trainer keys at the top level (seed, compute_dtype, parallelism, ...) apply to every stage.

Measured (seed 0, 2 shared CPU cores; attribute accuracy of the first object):
                                          shape  colour  size   all
  text_to_image (default; 362 s CPU, 10.2 min wall at load ~6; 200 test captions, step 600)
    image classifier, real test images    0.89   1.00    1.00   0.89
    images generated from the captions    0.30   0.71    0.57   0.14  (shape 0.29 in a rerun)
  caption_route (223 s CPU, 21 min wall at load ~15; 500 test images of 1-2 objects)
    image classifier, real test images    0.91   0.99    1.00   0.91
    text classifier, real captions        1.00   1.00    1.00   1.00
    text classifier, generated captions   0.52   0.79    0.86   0.44  (exact match 0.37)
  chance                                  0.25   0.17    0.50   0.02
The generator draws the colour; size and shape of 16-px objects stay near chance at this
budget (its blobs often split in two, and small ones fade out). Tried: guidance 3 with 25 DDIM
steps (colour 0.59); a two-level U-Net of base width 16 for 1000 steps (colour 0.45).
"""

import ml_collections

from mmjax.train import defaults

# Trainer keys every stage shares; each stage section holds the rest of defaults().
SHARED = ("seed", "parallelism", "fsdp", "compute_dtype", "progress_bar", "distributed")


def stage(model: dict, **trainer) -> ml_collections.ConfigDict:
  """A stage's section: the trainer keys of defaults() not in SHARED with the `trainer`
  overrides (a nested key as section__key, e.g. optimizer__lr=1e-3), and its `model`."""
  s = defaults()
  for key in SHARED:
    del s[key]
  s.eval_every_steps = 0
  s.log_every_steps = 50
  for key, value in trainer.items():
    section, _, name = key.partition("__")
    if name:
      s[section][name] = value
    else:
      s[key] = value
  s.model = ml_collections.ConfigDict(model)
  return s


def get_config(arg: str = ""):
  c = ml_collections.ConfigDict()
  for key in SHARED:
    c[key] = defaults()[key]
  c.eval_only = False
  c.mode = "text_to_image"  # "caption_route", or "both" (every stage)
  c.data = ml_collections.ConfigDict(dict(
      source="shapes", seed=0, image_size=16, max_objects=1, noise=0.05,
      max_len=16))  # caption tokens incl. <eos>; the longest 2-object caption needs 14.
  # The judge of generated images: a CNN and one head per attribute of the first object.
  c.image_classifier = stage(
      dict(encoder="cnn", encoder_options=dict(channels=(16, 32), head="flatten"),
           head_options=dict(hidden=(64,))),
      batch_size=64, total_steps=300, checkpoint__every_steps=300, optimizer__lr=2e-3,
      schedule__warmup_steps=20)
  # Text -> image: a bag-of-words text encoder trained jointly with the diffusion U-Net.
  c.generator = stage(
      dict(text_encoder="bag_of_words", text=dict(width=64), generator="diffusion",
           # One resolution level: at 16 px, 5 ResBlocks already see the whole image.
           generator_options=dict(base_channels=32, channel_mults=(1,), num_res_blocks=1,
                                  num_groups=8, num_heads=4, cond_drop_prob=0.1),
           condition="pooled",  # "tokens": also cross-attention to the caption's words
           noise_schedule="cosine", timesteps=1000),
      batch_size=64, total_steps=600, checkpoint__every_steps=200, optimizer__lr=2e-3,
      optimizer__weight_decay=0.0, schedule__warmup_steps=50, ema_decay=0.99)
  # Caption route: text -> attributes, and image -> caption (keys as configs/captioning.py).
  c.text_classifier = stage(
      dict(encoder="gru", encoder_options=dict(width=64, hidden=64),
           head_options=dict(hidden=(64,))),
      batch_size=64, total_steps=300, checkpoint__every_steps=300, optimizer__lr=3e-3,
      schedule__warmup_steps=20)
  c.captioner = stage(
      dict(image_encoder="vit",
           image=dict(patch_size=8, width=96, depth=2, num_heads=4, mlp_dim=384, pool="cls",
                      posemb="learned"),
           caption_decoder="transformer", decoder=dict(width=96, depth=2, num_heads=4,
                                                       mlp_dim=384),
           features="tokens", label_smoothing=0.0),
      batch_size=64, total_steps=500, checkpoint__every_steps=250, optimizer__lr=1e-3,
      optimizer__weight_decay=0.01, schedule__warmup_steps=50)
  c.captioner.workdir = ""  # an experiments/captioning.py workdir to score instead of training
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=500, batch_size=100,  # real test images / captions
      # Generated images: DDIM steps and classifier-free guidance (at step 600, guidance 6 and
      # 50 steps gave colour accuracy 0.71 where guidance 3 and 25 steps gave 0.59).
      sample_examples=200, sample_steps=50, guidance_scale=6.0, eta=0.0,
      grid_examples=24))  # generated images saved with their captions to generated.png

  arg = arg or ""
  if arg == "tiny":
    c.mode = "both"
    for name in ("image_classifier", "generator", "text_classifier", "captioner"):
      c[name].update(batch_size=16, total_steps=4, log_every_steps=2, ema_decay=0.0)
      c[name].checkpoint.every_steps = 4
      c[name].schedule.warmup_steps = 1
    c.image_classifier.model.encoder_options.channels = (4,)
    c.image_classifier.model.head_options.hidden = ()
    c.generator.model.text.width = 8
    c.generator.model.generator_options.update(base_channels=8, num_groups=4, num_heads=2)
    c.text_classifier.model.encoder = "bag_of_words"
    c.text_classifier.model.encoder_options = ml_collections.ConfigDict(dict(width=8))
    c.text_classifier.model.head_options.hidden = ()
    # Show and Tell: the cheapest captioner to compile.
    c.captioner.model.update(image_encoder="cnn", caption_decoder="lstm", features="pooled")
    c.captioner.model.image = ml_collections.ConfigDict(dict(channels=(4,)))
    c.captioner.model.decoder = ml_collections.ConfigDict(dict(embed_dim=8, hidden=16))
    c.eval.update(num_examples=16, batch_size=16, sample_examples=16, sample_steps=2,
                  grid_examples=4)
  elif arg == "caption_route":
    c.mode = "caption_route"
    c.data.update(image_size=32, max_objects=2)  # two objects: "first" needs the layout
    c.image_classifier.model.encoder_options.channels = (16, 32, 64)
  elif arg:
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), tiny, caption_route.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
