r"""Modality translation on the built-in synthetic scene world (data.source shapes), or on your
own labelled image-caption files, judged by attribute classifiers.

mode=text_to_image (the default preset): a text-conditioned diffusion model generates images of
test captions; an image classifier trained on real images names the shape, colour and size of
each generated object, and its agreement with the caption is the score, beside the same
classifier on the real test images (the upper bound) and chance (a generator that ignores the
text scores chance exactly: the attributes are uniform and independent).
mode=caption_route (preset `caption_route`): image -> caption -> text classifier. A captioner
describes each test image, a text classifier trained on real captions reads the first object's
attributes from that caption; beside it, the text classifier on the real caption and the image
classifier on the image itself. mode=both runs every stage.

  python experiments/translation.py --config configs/translation.py --workdir runs/t2i
  python experiments/translation.py --config configs/translation.py:caption_route \
      --workdir runs/caption_route

On your files (manifests with image, text and label fields; python -m mmjax.data.prepare writes
them), the judged attribute is the label and chance is 1 / its number of classes; any preset:
  --config.data.source.name=manifest --config.data.source.manifest.dir=DIR

Presets, chosen after the colon: tiny (seconds-long smoke run of every stage, CI),
caption_route. Each stage (stages.<name>: its model and trainer keys, see mmjax/train/stages.py)
trains in its own sub-workdir and resumes; --config.eval_only=True re-scores. A stage's key is
set where it lives, e.g. --config.stages.generator.total_steps=3000; the trainer keys at the top
level (seed, compute_dtype, parallelism, ...) apply to every stage. A captioner trained by
experiments/captioning.py (same data, same encoder and decoder) can be scored instead of
training one here: --config.captioner_workdir=runs/captioning
"""

import ml_collections

from mmjax.train import smoke, stages

STAGES = ("image_classifier", "generator", "text_classifier", "captioner")


def get_config(arg: str = ""):
  c = stages.base()
  c.mode = "text_to_image"  # "caption_route", or "both" (every stage)
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=16,
      text_len=16,  # caption tokens incl. <eos>; the longest 2-object caption needs 14.
      source=dict(name="shapes", shapes=dict(max_objects=1, noise=0.05),
                  # Your own files: train/val/test.jsonl in `dir` (image, text, label).
                  manifest=dict(dir="", train="train.jsonl", val="val.jsonl",
                                test="test.jsonl", on_bad_example="error",
                                validation_cache=True, cache=False))))
  c.stages = ml_collections.ConfigDict(dict(
      # The judge of generated images: a CNN and one head per attribute of the first object.
      image_classifier=stages.stage(
          dict(encoder=dict(name="cnn", cnn=dict(channels=(16, 32), head="flatten")),
               head=dict(hidden=(64,))),
          batch_size=64, total_steps=300, checkpoint=dict(every_steps=300),
          optimizer=dict(lr=2e-3), schedule=dict(warmup_steps=20)),
      # Text -> image: a bag-of-words text encoder trained jointly with the diffusion U-Net.
      generator=stages.stage(
          dict(text=dict(name="bag_of_words", bag_of_words=dict(width=64)),
               # One resolution level: at 16 px, 5 ResBlocks already see the whole image.
               generator=dict(name="diffusion", diffusion=dict(
                   base_channels=32, channel_mults=(1,), num_res_blocks=1, num_groups=8,
                   num_heads=4, cond_drop_prob=0.1)),
               condition="pooled",  # "tokens": also cross-attention to the caption's words
               noise_schedule="cosine", timesteps=1000),
          batch_size=64, total_steps=600, checkpoint=dict(every_steps=200),
          optimizer=dict(lr=2e-3, weight_decay=0.0), schedule=dict(warmup_steps=50),
          ema_decay=0.99),
      # Caption route: text -> attributes, and image -> caption (keys as configs/captioning.py).
      text_classifier=stages.stage(
          dict(encoder=dict(name="gru", gru=dict(width=64, hidden=64)), head=dict(hidden=(64,))),
          batch_size=64, total_steps=300, checkpoint=dict(every_steps=300),
          optimizer=dict(lr=3e-3), schedule=dict(warmup_steps=20)),
      captioner=stages.stage(
          dict(image=dict(name="vit", vit=dict(patch_size=8, width=96, depth=2, num_heads=4,
                                               mlp_dim=384, pool="cls", posemb="learned")),
               decoder=dict(name="transformer",
                            transformer=dict(width=96, depth=2, num_heads=4, mlp_dim=384)),
               features="tokens", label_smoothing=0.0),
          batch_size=64, total_steps=500, checkpoint=dict(every_steps=250),
          optimizer=dict(lr=1e-3, weight_decay=0.01), schedule=dict(warmup_steps=50)),
  ))
  c.captioner_workdir = ""  # a captioning run's workdir to score instead of training a captioner
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=500, batch_size=100,  # real test images / captions
      # Generated images: DDIM steps and classifier-free guidance.
      sample_examples=200, sample_steps=50, guidance_scale=6.0, eta=0.0,
      grid_examples=24))  # generated images saved with their captions to generated.png

  arg = arg or ""
  if arg == "tiny":
    c.mode = "both"
    for name in STAGES:
      c.stages[name].update(smoke(ema_decay=0.0))
    s = c.stages
    s.image_classifier.model.encoder.cnn.channels = (4,)
    s.image_classifier.model.head.hidden = ()
    s.generator.model.text.bag_of_words.width = 8
    s.generator.model.generator.diffusion.update(base_channels=8, num_groups=4, num_heads=2)
    s.text_classifier.model.encoder.update(name="bag_of_words", bag_of_words=dict(width=8))
    s.text_classifier.model.head.hidden = ()
    # Show and Tell: the cheapest captioner to compile.
    s.captioner.model.image.update(name="cnn", cnn=dict(channels=(4,)))
    s.captioner.model.decoder.update(name="lstm", lstm=dict(embed_dim=8, hidden=16))
    s.captioner.model.features = "pooled"
    c.eval.update(num_examples=16, batch_size=16, sample_examples=16, sample_steps=2,
                  grid_examples=4)
  elif arg == "caption_route":
    c.mode = "caption_route"
    c.data.image_size = 32  # two objects: "first" needs the layout
    c.data.source.shapes.max_objects = 2
    c.stages.image_classifier.model.encoder.cnn.channels = (16, 32, 64)
  elif arg:
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), tiny, caption_route.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
