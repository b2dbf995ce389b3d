r"""CTC speech recognition of the synthetic world's spoken captions (data.source shapes), scored
by WER and CER.

  python experiments/speech_recognition.py --config configs/speech_recognition.py \
      --workdir runs/speech_recognition

Presets, chosen after the colon:
  (default)  an audio spectrogram transformer whose tokens are the CTC frames.
  tiny       seconds-long smoke run (CI).
  manifest   your own recordings and transcripts (audio and text fields; python -m
             mmjax.data.prepare writes manifests): --config.data.source.manifest.dir=DIR.
             Clips are resampled to data.sample_rate and padded or cut to data.audio_seconds.
Any key can be overridden, e.g. a CNN on raw waves, or three-object scenes (longer sentences,
so longer clips):
  --config.model.encoder.name=wave_cnn
  --config.data.source.shapes.max_objects=3 --config.data.audio_seconds=3.5 \
      --config.data.text_len=20

Targets are words (the tokenizer's ids; the CTC blank reuses the <pad> id 0): each word of the
tonal language is one sound whose spelling plays no part in it, so letters have no acoustics of
their own to align to, and a 100 ms word would need a frame per letter at character level.
"""

import ml_collections

from mmjax.train import defaults, smoke


def get_config(arg: str = ""):
  c = defaults(batch_size=32, total_steps=300, log_every_steps=50,
               checkpoint=dict(every_steps=300), optimizer=dict(lr=3e-3),
               schedule=dict(warmup_steps=50))
  c.model = ml_collections.ConfigDict(dict(
      # Any AUDIO_ENCODERS name, with each one's options, so switching encoder is one override;
      # their sample_rate is data.sample_rate. All give a frame every 30-40 ms, 2-6 per word
      # (80-200 ms long), and look at the band where the tonal language has energy
      # (fundamentals 120-360 Hz +-7 semitones, up to the 3rd harmonic).
      encoder=dict(
          name="ast",
          # Patches spanning all 40 mel bins and 4 frames of the 10 ms hop.
          ast=dict(patch_size=(4, 40), width=128, depth=4, num_heads=4, mlp_dim=256,
                   num_mel_bins=40, fmin=50.0, fmax=2000.0),
          # Two 2x2-pooling blocks over the 10 ms hop (XLA:CPU's conv gradients make it slower
          # per step than ast).
          spec_cnn=dict(channels=(16, 32), convs_per_block=(1, 1), num_mel_bins=40, fmin=50.0,
                        fmax=2000.0),
          # Stride 4, then three 4x poolings: 256 samples (32 ms at 8 kHz) per frame.
          wave_cnn=dict(channels=(32, 64, 64), kernel_sizes=(80, 3, 3), strides=(4, 1, 1),
                        pool_size=4)),
  ))
  c.data = ml_collections.ConfigDict(dict(
      seed=0, sample_rate=8000,
      audio_seconds=2.5,  # fixed-length clips; a longer sentence is spoken faster to fit.
      text_len=16,        # words per transcript (two-object captions have at most 13).
      source=dict(name="shapes", shapes=dict(max_objects=2, snr_db=20.0),
                  manifest=dict(dir="", train="train.jsonl", val="val.jsonl",
                                test="test.jsonl", on_bad_example="error",
                                validation_cache=True, cache=False))))
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=512, batch_size=128, beam_size=4, num_printed=5))
  c.eval_only = False

  arg = arg or ""
  if arg == "tiny":
    c.update(smoke())
    c.model.encoder.ast.update(patch_size=(4, 16), width=32, depth=1, num_heads=2, mlp_dim=64,
                               num_mel_bins=16)
    c.data.audio_seconds = 1.0
    c.eval.update(num_examples=16, batch_size=16, beam_size=2, num_printed=2)
  elif arg == "manifest":  # your files: add --config.data.source.manifest.dir=DIR
    c.data.source.name = "manifest"
  elif arg:
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), tiny, manifest.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
