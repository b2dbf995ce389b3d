r"""Video classification on the synthetic clips, or on your own
(experiments/video_classification.py).

  python experiments/video_classification.py --config configs/video.py --workdir runs/video
  python -m mmjax.data.prepare kinetics_tiny --root kinetics400_tiny --out data/k400tiny
  python experiments/video_classification.py --config configs/video.py:kinetics_tiny \
      --workdir runs/k400tiny --config.data.source.manifest.dir=data/k400tiny

Presets, chosen after the colon:
  (default)  the mover's direction (needs frame order) from 8 frames: a CNN per frame and a
             temporal Transformer over the frames (video encoder `frames`).
  mean       the same with the frame features averaged: blind to order (the 0.5 baseline).
  vivit      a factorised ViViT (tubelets of 2 frames x 8 x 8 pixels) instead.
  sync       does the tone mark the appearance? Video + sound (wave_cnn), concat_late.
             Either one missing at test time: --config.model.missing.placeholders=True
             (and --config.model.missing.modality_dropout=0.3 to train for it).
  kinetics_tiny  mmaction2's two-class Kinetics-400 sample (real mp4, 64 px, 8 frames at
             2 per second) from manifests in data.source.manifest.dir; its empty clips are
             skipped and counted.
  tiny       seconds-long smoke run (CI); `kinetics_tiny,tiny` one on your files.
The label is data.label (direction, event, sync; "label" for files); results.json's
shuffled_frames/accuracy is the trained model on the test clips with their frames shuffled.
"""

import ml_collections

from mmjax.data.synthetic.scenes import DEFAULT_HELD_OUT
from mmjax.tasks.classification import encoder_choices
from mmjax.train import defaults, smoke


def get_config(arg: str = ""):
  c = defaults(batch_size=32, total_steps=800, log_every_steps=50, eval_every_steps=0,
               checkpoint=dict(every_steps=400), optimizer=dict(lr=2e-3, weight_decay=1e-4),
               schedule=dict(warmup_steps=50))
  c.model = ml_collections.ConfigDict(dict(
      modalities=("video",),  # video, audio; both need a fusion.
      encoders=dict(
          video=encoder_choices("video", "frames"),
          audio=encoder_choices("audio", "wave_cnn")),
      fusion=dict(name="concat_late", concat_late=dict(dim=128), gated=dict(dim=128),
                  cross_attention=dict(dim=64, depth=1, num_heads=4, bidirectional=True)),
      aux_loss_weight=1.0,
      head=dict(name="classification", classification=dict(hidden=(128,), dropout=0.1)),
      label_smoothing=0.0,
      # With video + audio: learned stand-ins for a missing modality (results.json's
      # missing_<modality>/accuracy), and the rate each training clip loses each modality.
      missing=dict(placeholders=False, modality_dropout=0.0),
  ))
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32, sample_rate=8000, label="direction",
      source=dict(name="clips", clips=dict(frames=8, noise=0.05, frame_seconds=0.125,
                                           snr_db=20.0, held_out=DEFAULT_HELD_OUT),
                  # Your clips (data.label="label"): frames spread over each clip, or every
                  # frame_stride-th / frame_fps a second from its start.
                  manifest=dict(dir="", frames=8, frame_stride=None, frame_fps=None,
                                on_bad_example="error", cache=False),
                  # UCF101 from tfds (`tfds build ucf101 --data_dir DIR`; data.label="label").
                  ucf101=dict(data_dir="", frames=8, frame_stride=None))))
  c.eval = ml_collections.ConfigDict(dict(num_examples=500, batch_size=100,
                                          compositional_examples=200))
  c.eval_only = False

  presets = (arg or "default").split(",")
  for preset in presets:
    _apply(c, preset)
  c.lock()
  return c


def _apply(c, arg: str):
  if arg == "mean":
    c.model.encoders.video.frames.temporal = "mean"
  elif arg == "vivit":
    c.model.encoders.video.name = "vivit"
  elif arg == "sync":
    c.data.label = "sync"
    c.model.modalities = ("video", "audio")
  elif arg == "kinetics_tiny":
    c.update(batch_size=8, total_steps=150, log_every_steps=25)
    c.checkpoint.every_steps = 150
    c.schedule.warmup_steps = 10
    c.data.update(image_size=64, label="label")
    c.data.source.name = "manifest"
    # 8 frames 0.5 s apart: decoding stops 4 s into the 10 s clip (a 720p clip costs ~3 s
    # to decode whole); decoded once (cache), then every epoch reads memory.
    c.data.source.manifest.update(frame_fps=2.0, on_bad_example="skip", cache=True)
    c.eval.update(num_examples=100, batch_size=16, compositional_examples=0)
  elif arg == "tiny":
    c.update(smoke(8, 4))
    c.model.encoders.video.frames.image_options = dict(channels=(4,), head="flatten", hidden=16)
    c.model.encoders.video.frames.num_heads = 2
    c.data.image_size = 16
    c.eval.update(num_examples=16, batch_size=8, compositional_examples=8)
  elif arg != "default":
    raise ValueError(f"Unknown preset {arg!r}; valid: default, mean, vivit, sync, "
                     "kinetics_tiny, tiny (several: kinetics_tiny,tiny).")
