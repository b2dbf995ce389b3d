r"""Video captioning on the synthetic clips (experiments/video_captioning.py): a video encoder
and a caption decoder trained with teacher forcing; the test clips captioned by greedy and beam
search, scored with BLEU-1..4 and CIDEr-D against each clip's paraphrases, and by whether the
captions' motion words (direction, appears / disappears) are right, also with the frames
shuffled.

  python experiments/video_captioning.py --config configs/video_captioning.py --workdir runs/vcap

Presets, chosen after the colon:
  (default)  a CNN per frame and a temporal Transformer over the 8 frames (video encoder
             `frames`); the transformer decoder attends to the frame tokens.
  mean       temporal mean: the frame tokens the decoder attends to carry no position, so it
             reads a bag of frames, blind to order (motion/accuracy at most 0.5).
  vivit      a factorised ViViT (tubelets of 2 frames x 8 x 8 pixels) instead.
  tiny       seconds-long smoke run (CI).
The encoder is chosen like configs/video.py's (model.video.name: frames, vivit); any key can be
overridden, e.g. --config.eval.beam_size=5.
"""

import ml_collections

from mmjax.data.synthetic.scenes import DEFAULT_HELD_OUT
from mmjax.tasks.classification import encoder_choices
from mmjax.train import defaults, smoke

PRESETS = ("default", "mean", "vivit", "tiny")


def get_config(arg: str = ""):
  c = defaults(batch_size=32, total_steps=600, log_every_steps=50, eval_every_steps=0,
               checkpoint=dict(every_steps=300), optimizer=dict(lr=1e-3, weight_decay=0.01),
               schedule=dict(warmup_steps=50))
  c.model = ml_collections.ConfigDict(dict(
      video=encoder_choices("video", "frames"),
      # Any CAPTION_DECODERS name; vocab_size and max_len come from the tokenizer and text_len.
      decoder=dict(name="transformer",
                   transformer=dict(width=96, depth=2, num_heads=4, mlp_dim=384),
                   lstm=dict(embed_dim=96, hidden=256, image_as="input")),
      features="tokens",  # what the decoder sees: "tokens" (attention) or "pooled".
      label_smoothing=0.0,
  ))
  # Frame tokens and tubelets as wide as the decoder (96).
  c.model.video.frames.image_options.hidden = 96
  c.model.video.vivit.update(width=96, mlp_dim=192)
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32,
      text_len=16,  # caption tokens including <eos>; the longest clip caption needs 16.
      # held_out: (shape, colour) pairs training never sees, only test_compositional.
      source=dict(name="clips", clips=dict(frames=8, noise=0.05, frame_seconds=0.125,
                                           snr_db=20.0, held_out=DEFAULT_HELD_OUT))))
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=500, batch_size=100, beam_size=3, alpha=0.0, num_examples_saved=10,
      compositional_examples=200))  # test_compositional clips (0: none)
  c.eval_only = False

  arg = arg or "default"
  if arg not in PRESETS:
    raise ValueError(f"Unknown preset {arg!r}; valid: {', '.join(PRESETS)}.")
  if arg == "mean":
    c.model.video.frames.temporal = "mean"
  elif arg == "vivit":
    c.model.video.name = "vivit"
  elif arg == "tiny":
    c.update(smoke(16, 4))
    c.model.video.frames.update(image_options=dict(channels=(4,), head="flatten", hidden=16),
                                num_heads=2)
    c.model.decoder.transformer.update(width=16, depth=1, num_heads=2, mlp_dim=32)
    c.data.image_size = 16
    c.eval.update(num_examples=16, batch_size=16, num_examples_saved=4,
                  compositional_examples=8)
  c.lock()
  return c
