r"""CTC speech recognition of the synthetic world's spoken captions, scored by WER and CER.

Run (the default preset: 300 steps, ~4.5 min wall on 2 shared CPU cores; on 512 test clips
WER 2.6% greedy / 2.4% beam search, CER 2.5% / 2.3%, against 69% WER for always answering the
commonest training caption):
  python experiments/speech_recognition.py --config configs/speech_recognition.py \
      --workdir runs/speech_recognition
Presets, chosen after the colon:
  tiny  seconds-long smoke run (CI).
Any key can be overridden, e.g. a CNN on raw waves, or three-object scenes (longer
sentences, so longer clips):
  --config.model.encoder=wave_cnn
  --config.data.max_objects=3 --config.data.audio_seconds=3.5 --config.data.max_labels=20

Targets are words (the tokenizer's ids; the CTC blank reuses the <pad> id 0): each word of the
tonal language is one sound whose spelling plays no part in it, so letters have no acoustics of
their own to align to, and a 100 ms word would need a frame per letter at character level.
"""

import ml_collections

from mmjax.train import defaults


def get_config(arg: str = ""):
  c = defaults()
  c.batch_size = 32
  c.total_steps = 300
  c.log_every_steps = 50
  c.checkpoint.every_steps = 300
  c.optimizer.lr = 3e-3
  c.schedule.warmup_steps = 50

  c.model = ml_collections.ConfigDict(dict(
      encoder="ast",  # any AUDIO_ENCODERS name; its tokens are the CTC frames.
      # Each encoder's options, so switching encoder is one override. All give a frame every
      # 30-40 ms, 2-6 per word (80-200 ms long), and look at the band where the tonal language
      # has energy (fundamentals 120-360 Hz +-7 semitones, up to the 3rd harmonic).
      encoders=dict(
          # Patches spanning all 40 mel bins and 4 frames of the 10 ms hop.
          ast=dict(patch_size=(4, 40), width=128, depth=4, num_heads=4, mlp_dim=256,
                   sample_rate=8000.0, num_mel_bins=40, fmin=50.0, fmax=2000.0),
          # Two 2x2-pooling blocks over the 10 ms hop (XLA:CPU's conv gradients make it ~4x
          # slower per step than ast).
          spec_cnn=dict(channels=(16, 32), convs_per_block=(1, 1), sample_rate=8000.0,
                        num_mel_bins=40, fmin=50.0, fmax=2000.0),
          # Stride 4, then three 4x poolings: 256 samples (32 ms at 8 kHz) per frame.
          wave_cnn=dict(channels=(32, 64, 64), kernel_sizes=(80, 3, 3), strides=(4, 1, 1),
                        pool_size=4)),
  ))
  c.data = ml_collections.ConfigDict(dict(
      source="spoken_captions", seed=0, max_objects=2, sample_rate=8000, snr_db=20.0,
      audio_seconds=2.5,  # fixed-length clips; a longer sentence is spoken faster to fit.
      max_labels=16))     # words per transcript (two-object captions have at most 13).
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=512, batch_size=128, beam_size=4, num_printed=5))
  c.eval_only = False

  arg = arg or ""
  if arg == "tiny":
    c.batch_size = 16
    c.total_steps = 4
    c.log_every_steps = 2
    c.checkpoint.every_steps = 4
    c.schedule.warmup_steps = 1
    c.model.encoders.ast.update(patch_size=(4, 16), width=32, depth=1, num_heads=2,
                                mlp_dim=64, num_mel_bins=16)
    c.data.audio_seconds = 1.0
    c.eval.update(num_examples=16, batch_size=16, beam_size=2, num_printed=2)
  elif arg:
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), tiny.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
