r"""Multimodal classification on the synthetic world's labelled tasks: fusion vs unimodal.

Run (the default preset, `redundant`: 36 s-1.5 min on 2 idle CPU cores by CPU, 5.5 min busy):
  python experiments/fusion_classification.py --config configs/fusion.py --workdir runs/fusion
Presets, chosen after the colon (task_info gives each task's chance and Bayes-optimal accuracy):
  tiny       seconds-long smoke run (CI).
  redundant  (default) the first object's shape, drawn and spoken, each view erased on its own
             with p = 0.25. Image + audio, concat_late, 500 steps.
  unique     its material, spoken and never drawn (task unique_audio). Image + audio.
  synergy    does the caption describe the image? Image + caption tokens, 1500 steps.
Test accuracy (1000 examples, seed 0, 2 CPU cores; chance / Bayes-optimal in brackets):
  redundant  image+audio 0.926, image 0.802, audio 0.827  (0.25 / fused 0.953, one 0.8125)
  synergy    image+text 0.941 (low_rank_tensor 0.912), image 0.457, text 0.485  (0.5 / 1.0, 0.5)
  unique     image+audio 1.000  (0.25 / 1.0; image alone 0.25)
A run is bit-for-bit repeatable on one machine; another CPU (AVX2 vs AVX-512 code from XLA)
moves the third digit (e.g. redundant 0.927 on an AVX2 host, 0.925 and 0.926 on two others).
A unimodal baseline is the same run with one modality (the fusion is then skipped):
  --config.model.modalities=image            (or =audio, =text)
Any component is a config change, e.g.
  --config.model.fusion=low_rank_tensor --config.model.fusion_options.low_rank_tensor.rank=8
  --config.model.modalities='("image","text")'   (text = the caption's tokens, not its audio)
  --config.model.encoders.audio.name=spec_cnn --config.model.encoders.image.name=vit
Each encoder / fusion / task has its own option dict below; only the chosen one's is used.

Ablation sweep (get_sweep below): every fusion x {redundant, unique, synergy} x 3 seeds
(117 trials, 1.5 h on 2 CPU cores: 43 + 24 + 18 min; on SLURM, one array task each):
  python -m mmjax.sweep --config configs/fusion.py --workdir runs/fusion_ablation
  python -m mmjax.sweep --config configs/fusion.py:synergy --workdir runs/fusion_synergy
  python -m mmjax.sweep --config configs/fusion.py:tiny --workdir /tmp/sweep   (CI: 2 trials)
Measured (synergy, seed 0, --overrides total_steps=500, 1000 test examples; chance 0.5):
  concat_late 0.516, gated 0.519, low_rank_tensor 0.708.
notebooks/fusion_ablation.ipynb tabulates and plots a sweep's summary.csv.
"""

import ml_collections

from mmjax.train import defaults


def get_config(arg: str = ""):
  c = defaults()
  c.batch_size = 64
  c.total_steps = 500
  c.log_every_steps = 50
  c.eval_every_steps = 0
  c.checkpoint.every_steps = 500
  c.optimizer.lr = 2e-3
  c.optimizer.weight_decay = 1e-4
  c.schedule.warmup_steps = 50

  c.model = ml_collections.ConfigDict(dict(
      modalities=("image", "audio"),  # any of image, text, audio; one = unimodal baseline.
      encoders=dict(
          image=dict(name="cnn",
                     vit=dict(patch_size=8, width=64, depth=2, num_heads=4, mlp_dim=128,
                              pool="mean"),
                     cnn=dict(channels=(8, 16, 32)),
                     resnet=dict(depth=18, width=16, stem="cifar")),
          # vocab_size and (transformer) max_len come from the tokenizer and data.text_len.
          text=dict(name="bag_of_words",
                    bag_of_words=dict(width=64),
                    gru=dict(width=64, hidden=64),
                    lstm=dict(width=64, hidden=64),
                    transformer=dict(width=64, depth=2, num_heads=4, mlp_dim=128, pool="last")),
          # sample_rate comes from data.sample_rate. A transformer over time slices of the
          # spectrogram trains far faster on XLA:CPU than a spectrogram CNN.
          audio=dict(name="ast",
                     ast=dict(patch_size=(4, 32), patch_stride=(2, 32), width=64, depth=2,
                              num_heads=4, mlp_dim=128, pool="mean", num_mel_bins=32,
                              frame_step_ms=20.0, fmin=60.0, fmax=4000.0),
                     spec_cnn=dict(channels=(16, 32, 32), convs_per_block=(1, 1, 1),
                                   num_mel_bins=16, frame_step_ms=20.0, fmin=60.0, fmax=4000.0),
                     wave_cnn=dict(channels=(16, 32, 32), kernel_sizes=(64, 3, 3),
                                   strides=(16, 1, 1), pool_size=4)),
      ),
      fusion="concat_late",
      fusion_options=dict(
          concat_late=dict(dim=128),
          concat_early=dict(dim=64, depth=1, num_heads=4),
          sum=dict(dim=128),
          weighted_sum=dict(alpha=0.5, learned=True, project=True, dim=128),
          product=dict(dim=128),
          gated=dict(dim=128),
          film=dict(dim=128, condition_index=1),
          tensor=dict(dim=128, input_dim=16),
          low_rank_tensor=dict(dim=128, rank=4),
          cross_attention=dict(dim=64, depth=1, num_heads=4, bidirectional=True),
          bottleneck=dict(dim=64, depth=2, fusion_layer=1, num_bottlenecks=4, num_heads=4),
          adversarial=dict(dim=128, reversal_scale=0.1, combine="concat"),
      ),
      aux_loss_weight=1.0,  # weight of the fusion's own losses (adversarial's discriminator).
      head="classification",
      head_options=dict(hidden=(128,), dropout=0.1),
      label_smoothing=0.0,
  ))
  c.data = ml_collections.ConfigDict(dict(
      task="redundant",
      task_options=dict(redundant=dict(image_eps=0.25, audio_eps=0.25, corruption="erase"),
                        unique_audio={}, unique_image={}, synergy={}),
      seed=0, image_size=32, max_objects=1, noise=0.05, clutter=0, occlusion=0.0,
      sample_rate=8000, snr_db=20.0, audio_seconds=1.5, text_len=16,
      # (shape, colour) pairs kept out of train/val/test, seen only in test_compositional, for
      # experiments/evaluate.py: e.g. '(("circle","red"),("triangle","blue"))'.
      held_out=()))
  c.eval = ml_collections.ConfigDict(dict(num_examples=1000, batch_size=250))
  c.eval_only = False

  arg = arg or "redundant"
  if arg == "tiny":
    c.batch_size = 16
    c.total_steps = 6
    c.log_every_steps = 2
    c.checkpoint.every_steps = 3
    c.schedule.warmup_steps = 2
    c.model.encoders.image.cnn.channels = (4,)
    c.model.encoders.audio.name = "wave_cnn"  # the cheapest encoders to compile.
    c.model.encoders.audio.wave_cnn.update(channels=(8,), kernel_sizes=(64,), strides=(16,))
    c.model.fusion_options.concat_late.dim = 16
    c.model.head_options.hidden = (16,)
    c.eval.num_examples = 48
    c.eval.batch_size = 16
  elif arg == "unique":
    c.data.task = "unique_audio"
  elif arg == "synergy":
    # Matching the views is slow to learn (at 500 steps concat_late 0.52, low_rank_tensor 0.71).
    c.data.task = "synergy"
    c.model.modalities = ("image", "text")  # the audio encoder would triple the run time.
    c.total_steps = 1500
    c.log_every_steps = 250
    c.checkpoint.every_steps = 1500
  elif arg != "redundant":
    raise ValueError(f"Unknown preset {arg!r}; valid: redundant (default), tiny, unique, "
                     "synergy.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c


TASK_PRESETS = ("redundant", "unique", "synergy")


def get_sweep(arg: str = ""):
  """Every registered fusion x task preset x 3 seeds (python -m mmjax.sweep; format in
  mmjax/sweep/spec.py). arg: '' all three tasks; redundant, unique or synergy: that task only;
  tiny: 2 fusions on the tiny preset, one seed (CI, seconds)."""
  from mmjax.models import FUSIONS  # imported here: only a sweep needs the registry.
  sweep = dict(experiment="experiments/fusion_classification.py",
               grid={"preset": TASK_PRESETS, "model.fusion": tuple(FUSIONS.names())},
               seeds=(0, 1, 2),  # config.seed: initialisation and dropout; the data stay fixed.
               metrics=("accuracy", "macro_f1"), tables_by="preset")
  if arg == "tiny":
    sweep.update(grid={"preset": ("tiny",), "model.fusion": ("concat_late", "gated")},
                 seeds=(0,), tables_by=None,
                 # Image + caption tokens compile faster than image + audio.
                 overrides={"model.modalities": ("image", "text"), "total_steps": 3,
                            "eval.num_examples": 16})
  elif arg in TASK_PRESETS:
    sweep["grid"]["preset"] = (arg,)
  elif arg:
    raise ValueError(f"Unknown sweep {arg!r}; valid: '' (every task), "
                     f"{', '.join(TASK_PRESETS)}, tiny.")
  return sweep
