r"""Multimodal classification on the synthetic world's labelled tasks: fusion vs unimodal.

  python experiments/fusion_classification.py --config configs/fusion.py --workdir runs/fusion

Presets, chosen after the colon (README has each one's measured accuracy):
  tiny       seconds-long smoke run (CI).
  redundant  (default) the first object's shape, drawn and spoken, each view erased on its own
             with p = 0.25. Image + audio, concat_late, 500 steps.
  unique     its material, spoken and never drawn (task unique_audio). Image + audio.
  synergy    does the caption describe the image? Image + caption tokens, 1500 steps.
  agreement  three modalities at once: do the image, the caption's text and its speech (here
             separate views) all show the same scene? One alone is at chance, two reach 5/6,
             all three decide it. Image + text + audio, 1500 steps.
Training never sees the (shape, colour) pairs of data.source.shapes.held_out; results.json's
compositional/accuracy and compositional/macro_f1 score eval.compositional_examples
test_compositional examples, each scene with one of them. The task's Bayes-optimal numbers in
results.json account for them (a visible colour narrows the shape to its allowed ones).
Your own labelled files (a label field beside image / text / audio) are a source change:
  --config.data.source.name=manifest --config.data.source.manifest.dir=DIR
A unimodal baseline is the same run with one modality (the fusion is then skipped):
  --config.model.modalities=image            (or =audio, =text)
Any component is a config change; each encoder / fusion / head / task has its own option dict
below, and only the chosen one's is read:
  --config.model.fusion.name=low_rank_tensor --config.model.fusion.low_rank_tensor.rank=8
  --config.model.modalities='("image","text")'   (text = the caption's tokens, not its audio)
  --config.model.encoders.audio.name=spec_cnn --config.model.encoders.image.name=vit
  --config.data.source.shapes.task.name=synergy

Ablation sweep (get_sweep below): every fusion x {redundant, unique, synergy} x 3 seeds:
  python -m mmjax.sweep --config configs/fusion.py --workdir runs/fusion_ablation
  python -m mmjax.sweep --config configs/fusion.py:synergy --workdir runs/fusion_synergy
  python -m mmjax.sweep --config configs/fusion.py:agreement --workdir runs/fusion_agreement
  python -m mmjax.sweep --config configs/fusion.py:tiny --workdir /tmp/sweep   (CI: 2 trials)
notebooks/fusion_ablation.ipynb tabulates and plots a sweep's summary.csv.
"""

import ml_collections

from mmjax.data.synthetic.scenes import DEFAULT_HELD_OUT
from mmjax.tasks.classification import encoder_choices
from mmjax.train import defaults


def get_config(arg: str = ""):
  c = defaults(batch_size=64, total_steps=500, log_every_steps=50, eval_every_steps=0,
               checkpoint=dict(every_steps=500), optimizer=dict(lr=2e-3, weight_decay=1e-4),
               schedule=dict(warmup_steps=50))

  c.model = ml_collections.ConfigDict(dict(
      modalities=("image", "audio"),  # any of image, text, audio; one = unimodal baseline.
      # Each modality's encoder alternatives with small options (SMALL_ENCODERS in
      # mmjax/tasks/classification.py); vocab_size, (transformer) max_len and sample_rate come
      # from the tokenizer, data.text_len and data.sample_rate. A transformer over time slices
      # of the spectrogram (ast) trains far faster on XLA:CPU than a spectrogram CNN.
      encoders=dict(image=encoder_choices("image", "cnn"),
                    text=encoder_choices("text", "bag_of_words"),
                    audio=encoder_choices("audio", "ast")),
      fusion=dict(
          name="concat_late",
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
      # Learned stand-ins for a missing modality (any subset at test time: results.json's
      # missing_<modality>/accuracy), and the rate each training example loses each modality.
      missing=dict(placeholders=False, modality_dropout=0.0),
      aux_loss_weight=1.0,  # weight of the fusion's own losses (adversarial's discriminator).
      head=dict(name="classification", classification=dict(hidden=(128,), dropout=0.1)),
      label_smoothing=0.0,
  ))
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32, sample_rate=8000, audio_seconds=1.5, text_len=16,
      source=dict(name="shapes", shapes=dict(
          max_objects=1, noise=0.05, clutter=0, occlusion=0.0, snr_db=20.0,
          # (shape, colour) pairs kept out of train/val/test, seen only in test_compositional
          # (compositional/... results, and experiments/evaluate.py's); () holds none out.
          held_out=DEFAULT_HELD_OUT,
          task=dict(name="redundant",
                    redundant=dict(image_eps=0.25, audio_eps=0.25, corruption="erase"),
                    unique_audio={}, unique_image={}, synergy={}, agreement={})),
          # Your own files: train/val/test.jsonl in `dir` with a label and the modalities'
          # fields (image, text, audio).
          manifest=dict(dir="", train="train.jsonl", val="val.jsonl", test="test.jsonl",
                        on_bad_example="error", validation_cache=True, cache=False))))
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=1000, batch_size=250,
      # test_compositional examples scored too (0: none; the synthetic world with held-out
      # pairs only).
      compositional_examples=500))
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
    c.model.fusion.concat_late.dim = 16
    c.model.head.classification.hidden = (16,)
    c.eval.num_examples = 48
    c.eval.batch_size = 16
    c.eval.compositional_examples = 16
  elif arg == "unique":
    c.data.source.shapes.task.name = "unique_audio"
  elif arg == "synergy":
    c.data.source.shapes.task.name = "synergy"  # matching the views is slow to learn.
    c.model.modalities = ("image", "text")  # the audio encoder would triple the run time.
    c.total_steps = 1500
    c.log_every_steps = 250
    c.checkpoint.every_steps = 1500
  elif arg == "agreement":
    c.data.source.shapes.task.name = "agreement"  # image, text and speech at once.
    c.model.modalities = ("image", "text", "audio")
    c.total_steps = 1500
    c.log_every_steps = 250
    c.checkpoint.every_steps = 1500
  elif arg != "redundant":
    raise ValueError(f"Unknown preset {arg!r}; valid: redundant (default), tiny, unique, "
                     "synergy, agreement.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c


TASK_PRESETS = ("redundant", "unique", "synergy")
# The fusions that take three inputs (film and multiplicative fuse exactly two: one conditions
# the other; weighted_sum only with learned weights, this config's default).
THREE_INPUT_FUSIONS = ("adversarial", "bottleneck", "concat_early", "concat_late",
                       "cross_attention", "gated", "low_rank_tensor", "product", "sum", "tensor",
                       "weighted_sum")


def get_sweep(arg: str = ""):
  """Every registered fusion x task preset x 3 seeds (python -m mmjax.sweep; format in
  mmjax/sweep/spec.py). arg: '' all three tasks; redundant, unique or synergy: that task only;
  agreement: the three-input fusions on the three-modality task; tiny: 2 fusions on the tiny
  preset, one seed (CI, seconds)."""
  from mmjax.models import FUSIONS  # imported here: only a sweep needs the registry.
  sweep = dict(experiment="experiments/fusion_classification.py",
               grid={"preset": TASK_PRESETS, "model.fusion.name": tuple(FUSIONS.names())},
               seeds=(0, 1, 2),  # config.seed: initialisation and dropout; the data stay fixed.
               metrics=("accuracy", "macro_f1"), tables_by="preset")
  if arg == "tiny":
    sweep.update(grid={"preset": ("tiny",), "model.fusion.name": ("concat_late", "gated")},
                 seeds=(0,), tables_by=None,
                 # Image + caption tokens compile faster than image + audio.
                 overrides={"model.modalities": ("image", "text"), "total_steps": 3,
                            "eval.num_examples": 16})
  elif arg in TASK_PRESETS:
    sweep["grid"]["preset"] = (arg,)
  elif arg == "agreement":
    sweep["grid"] = {"preset": (arg,), "model.fusion.name": THREE_INPUT_FUSIONS}
  elif arg:
    raise ValueError(f"Unknown sweep {arg!r}; valid: '' (every task), "
                     f"{', '.join(TASK_PRESETS)}, agreement, tiny.")
  return sweep
