r"""Video-text retrieval on the synthetic clips (experiments/video_retrieval.py): a video tower
and a text tower trained with a contrastive loss (CLIP softmax or SigLIP sigmoid, model.loss),
scored by R@1/5/10 both ways, by how often a clip prefers its caption to its time-reversed one,
and the same with each test clip's frames shuffled.

  python experiments/video_retrieval.py --config configs/video_retrieval.py --workdir runs/vret

Presets, chosen after the colon:
  (default)  a CNN per frame and a temporal Transformer over the 8 frames (video tower `frames`).
  mean       the same with the frame features averaged: blind to order (time_reversed at 0.5).
  vivit      a factorised ViViT (tubelets of 2 frames x 8 x 8 pixels) instead.
  tiny       seconds-long smoke run (CI).
The video tower is chosen like configs/video.py's (model.video.name: frames, vivit); any key
can be overridden, e.g. --config.model.loss=sigmoid.
"""

import ml_collections

from mmjax.data.synthetic.scenes import DEFAULT_HELD_OUT
from mmjax.tasks.classification import encoder_choices
from mmjax.train import defaults, smoke

PRESETS = ("default", "mean", "vivit", "tiny")


def get_config(arg: str = ""):
  c = defaults(batch_size=32, total_steps=600, log_every_steps=50, eval_every_steps=0,
               checkpoint=dict(every_steps=300), optimizer=dict(lr=2e-3, weight_decay=1e-4),
               schedule=dict(warmup_steps=50))
  c.model = ml_collections.ConfigDict(dict(
      video=encoder_choices("video", "frames"),
      # vocab_size and (transformer) max_len come from the tokenizer and data.text_len.
      text=dict(name="transformer",
                transformer=dict(width=64, depth=2, num_heads=4, mlp_dim=256, causal=True,
                                 pool="last"),
                bag_of_words=dict(width=64)),
      embed_dim=64,
      loss="softmax",  # "softmax" (CLIP InfoNCE) or "sigmoid" (SigLIP).
  ))
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32,
      text_len=16,  # the longest clip caption has 15 words
      # held_out: (shape, colour) pairs training never sees, only test_compositional.
      source=dict(name="clips", clips=dict(frames=8, noise=0.05, frame_seconds=0.125,
                                           snr_db=20.0, held_out=DEFAULT_HELD_OUT))))
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=500, batch_size=100,
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
    c.model.text.name = "bag_of_words"  # compiles in a fraction and learns in tens of steps
    c.model.text.bag_of_words.width = 16
    c.model.embed_dim = 16
    c.data.image_size = 16
    c.eval.update(num_examples=16, batch_size=16, compositional_examples=8)
  c.lock()
  return c
