r"""Image captioning on the built-in synthetic scene world (data.source shapes), scored with
BLEU-1..4 and CIDEr-D against every paraphrase of each test scene, and of
eval.compositional_examples test_compositional scenes (each has a (shape, colour) pair of
data.source.shapes.held_out, which training never sees: compositional/<decoding>/<metric>);
results.json also gives the share of test references that were training captions
([compositional/]test_captions_seen_in_training).

  python experiments/captioning.py --config configs/captioning.py --workdir runs/captioning

Presets, chosen after the colon:
  (default)  a ViT encoder and a transformer decoder attending to its tokens.
  tiny       seconds-long smoke run (CI).
  lstm       Show and Tell: the same ViT, its pooled feature fed to an LSTM decoder.
  tiny_lstm  lstm at tiny sizes (CI, the sweep's cheap variant).
  manifest   your own image-caption files (python -m mmjax.data.prepare writes them), 64 px:
             --config.data.source.manifest.dir=DIR; references are each image's captions.
  coco       COCO Captions from tfds (train+restval; Karpathy's 5000 test images against all
             their captions), 64 px: --config.data.source.coco_captions.data_dir=DIR (prepared
             once with `tfds build coco_captions --data_dir DIR`). Any preset reads it with
             --config.data.source.name=coco_captions.
Any key can be overridden, e.g. a wider beam with a length bonus, or bfloat16 compute:
  --config.eval.beam_size=5 --config.eval.alpha=0.6 --config.compute_dtype=bfloat16

Ablation sweep (get_sweep below): LSTM vs Transformer decoder x 3 seeds:
  python -m mmjax.sweep --config configs/captioning.py --workdir runs/captioning_ablation
  python -m mmjax.sweep --config configs/captioning.py:tiny --workdir /tmp/sweep   (CI)
"""

import ml_collections

from mmjax.data.synthetic.scenes import DEFAULT_HELD_OUT
from mmjax.train import defaults, smoke

PRESETS = ("", "tiny", "lstm", "tiny_lstm", "manifest", "coco")


def get_config(arg: str = ""):
  c = defaults(batch_size=64, total_steps=500, log_every_steps=100,
               checkpoint=dict(every_steps=250), optimizer=dict(lr=1e-3, weight_decay=0.01),
               schedule=dict(warmup_steps=50))
  c.model = ml_collections.ConfigDict(dict(
      image=dict(name="vit",  # any IMAGE_ENCODERS name, with its options
                 vit=dict(patch_size=8, width=96, depth=2, num_heads=4, mlp_dim=384, pool="cls",
                          posemb="learned")),
      # Any CAPTION_DECODERS name; vocab_size and max_len come from the tokenizer and text_len.
      decoder=dict(name="transformer",
                   transformer=dict(width=96, depth=2, num_heads=4, mlp_dim=384),
                   lstm=dict(embed_dim=96, hidden=256, image_as="input")),
      features="tokens",  # what the decoder sees: "tokens" (attention) or "pooled".
      label_smoothing=0.0,
  ))
  # Each training example is a fresh scene with one of its 4 paraphrases, drawn at random; the
  # test references are all 4 paraphrases of each test scene.
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32,
      text_len=16,  # caption tokens including <eos>; the longest 2-object caption needs 14.
      # held_out: (shape, colour) pairs training never sees, only test_compositional.
      source=dict(name="shapes", shapes=dict(max_objects=2, noise=0.05,
                                             held_out=DEFAULT_HELD_OUT),
                  # Your own image-caption files: train/val/test.jsonl in `dir` (image, text).
                  manifest=dict(dir="", train="train.jsonl", val="val.jsonl",
                                test="test.jsonl", on_bad_example="error",
                                validation_cache=True, cache=False),
                  # tfds COCO Captions (tfds build coco_captions --data_dir DIR), streamed; the
                  # shuffle buffer holds JPEG bytes (~160 KB each); the word vocabulary comes
                  # from the first vocab_examples train images' captions.
                  coco_captions=dict(data_dir="", dataset="coco_captions",
                                     train_split="train+restval", eval_split="test",
                                     shuffle_buffer=10_000, vocab_examples=5000))))
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=500, batch_size=250, beam_size=3, alpha=0.0, num_examples_saved=10,
      # test_compositional scenes captioned and scored too (0: none; the synthetic world with
      # held-out pairs only).
      compositional_examples=500))
  c.eval_only = False

  arg = arg or ""
  if arg not in PRESETS:
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), {', '.join(PRESETS[1:])}.")
  if arg in ("tiny", "tiny_lstm"):
    c.update(smoke(total_steps=6, schedule=dict(warmup_steps=2)))
    c.model.image.vit.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.model.decoder.transformer.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.model.decoder.lstm.update(embed_dim=16, hidden=32)
    c.eval.update(num_examples=16, batch_size=16, num_examples_saved=4,
                  compositional_examples=16)
  if arg == "manifest":  # your files: add --config.data.source.manifest.dir=DIR
    c.data.source.name = "manifest"
    c.data.update(image_size=64, text_len=40)  # Flickr8k's longest caption has 37 words
    c.eval.compositional_examples = 0  # a split of the synthetic world only
  if arg == "coco":  # add --config.data.source.coco_captions.data_dir=DIR
    c.data.source.name = "coco_captions"
    # A caption longer than text_len - 1 words fails naming data.text_len, in training too.
    c.data.update(image_size=64, text_len=64)
    c.eval.num_examples = 5000  # Karpathy's test images, each scored against all its captions
    c.eval.compositional_examples = 0
  if arg in ("lstm", "tiny_lstm"):
    c.model.decoder.name = "lstm"
    c.model.features = "pooled"
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c


def get_sweep(arg: str = ""):
  """LSTM (preset lstm) vs Transformer (the default preset) decoder x 3 seeds
  (python -m mmjax.sweep; format in mmjax/sweep/spec.py). arg tiny: both at tiny sizes, one
  seed (CI, seconds)."""
  sweep = dict(experiment="experiments/captioning.py", grid={"preset": ("", "lstm")},
               seeds=(0, 1, 2),
               metrics=("greedy/BLEU-4", "greedy/CIDEr-D", "beam3/BLEU-4", "beam3/CIDEr-D"))
  if arg == "tiny":
    sweep.update(grid={"preset": ("tiny", "tiny_lstm")}, seeds=(0,))
  elif arg:
    raise ValueError(f"Unknown sweep {arg!r}; valid: '' (default), tiny.")
  return sweep
