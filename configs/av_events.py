r"""Audio-visual event localisation on the synthetic clips (experiments/av_event_localisation.py).

  python experiments/av_event_localisation.py --config configs/av_events.py --workdir runs/ave

Presets, chosen after the colon:
  (default)    video (a CNN per frame) + sound (wave_cnn), pooled to the 7 segments of an
               8-frame clip, concatenated per segment (model.fusion.concat.depth > 0 adds a
               temporal Transformer over the segments; model.fusion.name=cross_attention:
               cross-attention between the modalities' segments instead).
  video_only   the same model without the sound: reaches the video_only limit.
  audio_only   the same model without the picture: reaches the audio_only limit.
  tiny         seconds-long smoke run (CI).
Either modality missing at test time (learned stand-ins, trained with modality dropout):
  --config.model.missing.placeholders=True --config.model.missing.modality_dropout=0.3
"""

import ml_collections

from mmjax.tasks.classification import encoder_choices
from mmjax.train import defaults, smoke

# pool_size 2 leaves 60 time steps in an 8000-sample clip, ~8 per segment (the default 4: 7).
WAVE_CNN = dict(channels=(16, 32, 32), kernel_sizes=(64, 3, 3), strides=(16, 1, 1), pool_size=2)


def get_config(arg: str = ""):
  c = defaults(batch_size=32, total_steps=800, log_every_steps=50, eval_every_steps=0,
               checkpoint=dict(every_steps=400), optimizer=dict(lr=2e-3, weight_decay=1e-4),
               schedule=dict(warmup_steps=50))
  c.model = ml_collections.ConfigDict(dict(
      modalities=("video", "audio"),
      encoders=dict(
          video=encoder_choices("video", "frames"),
          audio=encoder_choices("audio", "wave_cnn", wave_cnn=WAVE_CNN)),
      fusion=dict(name="concat", concat=dict(dim=128, depth=0, num_heads=4),
                  cross_attention=dict(dim=64, depth=1, num_heads=4)),
      head=dict(name="classification", classification=dict(hidden=(128,), dropout=0.1)),
      label_smoothing=0.0,
      # Learned stand-ins for a missing modality (results.json's missing_<modality>/exact
      # leaves each out), and the rate each training clip loses each modality.
      missing=dict(placeholders=False, modality_dropout=0.0),
  ))
  # Per-frame tokens: the segments keep their order. Temporal Transformers here and in the
  # fusion kept the model on the audio-only plateau (README, Video).
  c.model.encoders.video.frames.temporal = "mean"
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32, sample_rate=8000,
      source=dict(name="clips", clips=dict(frames=8, noise=0.05, frame_seconds=0.125,
                                           snr_db=20.0))))
  c.eval = ml_collections.ConfigDict(dict(num_examples=500, batch_size=100))
  c.eval_only = False

  arg = arg or "default"
  if arg == "video_only":
    c.model.modalities = ("video",)
  elif arg == "audio_only":
    c.model.modalities = ("audio",)
  elif arg == "tiny":
    c.update(smoke(8, 4))
    c.model.encoders.video.frames.image_options = dict(channels=(4,), head="flatten", hidden=16)
    c.model.encoders.video.frames.num_heads = 2
    c.model.encoders.audio.wave_cnn = dict(channels=(8, 8), kernel_sizes=(64, 3),
                                           strides=(16, 1), pool_size=4)
    c.model.fusion.concat = dict(dim=32, depth=0, num_heads=2)
    c.model.fusion.cross_attention = dict(dim=16, depth=1, num_heads=2)
    c.model.head.classification = dict(hidden=(32,), dropout=0.0)
    c.data.image_size = 16
    c.eval.update(num_examples=16, batch_size=8)
  elif arg != "default":
    raise ValueError(f"Unknown preset {arg!r}; valid: default, video_only, audio_only, tiny.")
  c.lock()
  return c
