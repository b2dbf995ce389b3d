r"""Image captioning on the built-in synthetic scene world, scored with BLEU-1..4 and CIDEr-D.

Run (the default preset, a ViT encoder and a transformer decoder: a few minutes on 2 CPU cores):
  python experiments/captioning.py --config configs/captioning.py --workdir runs/captioning
Presets, chosen after the colon:
  tiny       seconds-long smoke run (CI).
  lstm       Show and Tell: the same ViT, its pooled feature fed to an LSTM decoder.
  tiny_lstm  lstm at tiny sizes (CI, the sweep's cheap variant).

Measured (500 test scenes, 500 steps; 2 shared CPU cores, 3.3 and 2.7 min wall):
                        BLEU-1  BLEU-4  CIDEr-D  exact match
  default  greedy        0.922   0.792    6.23     0.466
           beam 3        0.934   0.826    6.35     0.454
  lstm     greedy        0.717   0.462    3.34     0.120
           beam 3        0.792   0.609    3.50     0.138
  the true caption of another image (shuffled):
                         0.594   0.294    0.80     0.002

Any key can be overridden, e.g. a wider beam with a length bonus, or bfloat16 compute:
  --config.eval.beam_size=5 --config.eval.alpha=0.6 --config.compute_dtype=bfloat16

Ablation sweep (get_sweep below): LSTM vs Transformer decoder x 3 seeds (6 trials, about
20 min on 2 CPU cores):
  python -m mmjax.sweep --config configs/captioning.py --workdir runs/captioning_ablation
  python -m mmjax.sweep --config configs/captioning.py:tiny --workdir /tmp/sweep   (CI)
"""

import ml_collections

from mmjax.train import defaults

PRESETS = ("", "tiny", "lstm", "tiny_lstm")


def get_config(arg: str = ""):
  c = defaults()
  c.batch_size = 64
  c.total_steps = 500
  c.log_every_steps = 100
  c.eval_every_steps = 0
  c.checkpoint.every_steps = 250
  c.optimizer.lr = 1e-3
  c.optimizer.weight_decay = 0.01
  c.schedule.warmup_steps = 50

  c.model = ml_collections.ConfigDict(dict(
      image_encoder="vit",  # any IMAGE_ENCODERS name: vit, cnn, resnet.
      image=dict(patch_size=8, width=96, depth=2, num_heads=4, mlp_dim=384, pool="cls",
                 posemb="learned"),
      caption_decoder="transformer",  # any CAPTION_DECODERS name: lstm, transformer.
      decoder=dict(width=96, depth=2, num_heads=4, mlp_dim=384),  # vocab and max_len: from data.
      features="tokens",  # what the decoder sees: "tokens" (attention) or "pooled".
      label_smoothing=0.0,
  ))
  # Each training example is a fresh scene with one of its 4 paraphrases, drawn at random; the
  # test references are all 4 paraphrases of each test scene.
  c.data = ml_collections.ConfigDict(dict(
      source="shapes", image_size=32, max_objects=2, noise=0.05, seed=0,
      max_len=16))  # caption tokens including <eos>; the longest 2-object caption needs 14.
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=500, batch_size=250, beam_size=3, alpha=0.0, num_examples_saved=10))
  c.eval_only = False

  arg = arg or ""
  if arg not in PRESETS:
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), {', '.join(PRESETS[1:])}.")
  if arg in ("tiny", "tiny_lstm"):
    c.batch_size = 16
    c.total_steps = 6
    c.log_every_steps = 2
    c.checkpoint.every_steps = 6  # one save, at the end
    c.schedule.warmup_steps = 2
    c.model.image.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.model.decoder.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.eval.num_examples = 16
    c.eval.batch_size = 16
    c.eval.num_examples_saved = 4
  if arg in ("lstm", "tiny_lstm"):
    c.model.caption_decoder = "lstm"
    c.model.decoder = ml_collections.ConfigDict(dict(embed_dim=96, hidden=256, image_as="input"))
    c.model.features = "pooled"
    if arg == "tiny_lstm":
      c.model.decoder.update(embed_dim=16, hidden=32)
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
