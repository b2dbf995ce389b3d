r"""LiT on COCO captions: big_vision's `lit_coco.py` recipe (Zhai et al. 2022, "LiT: Zero-Shot
Transfer with Locked-image text Tuning", CVPR), row `coco_B16B` of big_vision's
configs/proj/image_text/README_lit.md (config arg `txt=bert_base,img=B/16`).

Published figures for that row (big_vision, 5000 steps at batch 4096):
  MS-COCO retrieval R@1   I->T 47.2   T->I 32.1
  ImageNet 0-shot top-1   20.7        (not reproduced here: imagenet2012 is a manual download;
                                       experiments/lit_coco.py evaluates COCO retrieval only)

The recipe: coco_captions `train` (Karpathy split), batch 4096, 5000 steps, 224 px, 16 tokens.
Image tower: ViT-B/16 from the ImageNet-21k AugReg checkpoint, LOCKED (big_vision schedule
`('img/.*', None)`: here `optimizer.frozen`) and without a head (`out_dim=(None, 768)`: the
class token's 768-d output is the embedding; here a frozen identity `img_proj`). Text tower:
BERT-base from the BERT checkpoint, its [CLS] output through a trainable 768-d linear head.
Temperature init 10; Adam (b1 0.9, b2 0.999) lr 1e-3, decoupled weight decay 0.01, cosine with
max(3%, 100) = 150 warmup steps, gradient clip 1.0 (trainable params only), softmax loss over
the global batch. Evaluation: COCO retrieval on the `test` split (5000 images, every caption).

Checkpoints (not downloaded by mmjax; fetch them where the network allows):
  image: the npz big_vision's configs/proj/image_text/common.py `inits['B/16']` names,
    gsutil cp gs://vit_models/augreg/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz .
    (google-research/vision_transformer's AugReg release; 330 MB)
  text: HuggingFace `bert-base-uncased` (the same uncased_L-12_H-768_A-12 weights big_vision
    uses), a folder with config.json, model.safetensors, tokenizer.json (and vocab.txt):
    huggingface-cli download bert-base-uncased config.json model.safetensors tokenizer.json \
        vocab.txt --local-dir bert-base-uncased
  data: tfds build coco_captions --data_dir DIR   (~38 GB download, 2014 train+val images)

Run (GPU/TPU host):
  python experiments/lit_coco.py --config configs/lit_coco.py --workdir runs/lit_coco \
    --config.model.image_init=B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz \
    --config.model.text_init=bert-base-uncased --config.data.source.coco_captions.data_dir=DIR
  Add --config.compute_dtype=bfloat16 on GPUs (TPUs compute float32 matmuls in bfloat16 anyway).
Cost (estimated, not measured): 20.5M image-text pairs; a locked ViT-B/16 forward (17.6
GFLOPs/image) plus BERT-base forward and backward on 16 tokens (~10 GFLOPs/pair) is ~6e17 FLOPs,
under an hour of 8 A100s at 30% utilisation; the host pipeline decodes and resizes 20.5M JPEGs
(~4100 per step), which needs a many-core host to keep up. Memory: no activations are kept for
the locked tower (stop_gradient); per-device bytes on 8 and 64 devices are in README's "Will it
fit?" table (`python benchmarks/memory_fit.py`, compiled, not run). Deviations from
big_vision: no randaug(2,10) (mmjax has no RandAugment yet; train ops are resize, flip, [-1, 1]),
the text head has no bias, weight decay also covers embeddings (decay_mask "matrices" vs
big_vision's `.*/kernel$`), a 20k-image shuffle buffer of JPEG bytes (big_vision: 250k).

Presets, chosen after the colon:
  (default)  the paper recipe above; fails before loading or compiling anything when a
             checkpoint path is missing, naming what to download.
  tiny       the same code path at toy scale on `mmjax.data.tfds.mock.mock_coco_captions` (CI):
             random tiny towers, or tiny checkpoints given with model.image_init / text_init.
"""

import ml_collections

from mmjax import train

STEPS = 5000


def get_config(arg: str = ""):
  c = train.defaults(
      batch_size=4096, total_steps=STEPS, log_every_steps=50, eval_every_steps=0,
      checkpoint=dict(every_steps=1000),
      optimizer=dict(name="adamw", lr=1e-3, weight_decay=0.01, b1=0.9, b2=0.999, eps=1e-8,
                     grad_clip_norm=1.0, decay_mask="matrices",
                     # LiT's locked image tower, and the identity image head (no img head).
                     frozen=("img_tower/.*", "img_proj/.*")),
      schedule=dict(name="cosine", warmup_steps=max(int(0.03 * STEPS), 100), end_lr_fraction=0.0))

  c.model = ml_collections.ConfigDict(dict(
      pretrained=True,  # both towers must come from checkpoints (image_init, text_init).
      image_init="",    # ViT .npz (vision_transformer / big_vision naming).
      text_init="",     # HuggingFace BERT folder.
      # Random towers, used only when the matching *_init is "" and pretrained=False; a
      # checkpoint needs image.name vit and text.name transformer.
      image=dict(name="vit",
                 vit=dict(patch_size=16, width=768, depth=12, num_heads=12, mlp_dim=3072,
                          pool="cls", posemb="learned", patch_bias=True, ln_pre=False,
                          ln_eps=1e-6, gelu_approximate=True, **train.layer_options())),
      # vocab_size, max_len and pad_id come from the word tokenizer and data.text_len.
      text=dict(name="transformer",
                transformer=dict(width=768, depth=12, num_heads=12, mlp_dim=3072, causal=False,
                                 pool="first", norm_position="post", ln_eps=1e-12,
                                 type_vocab_size=2, embed_norm=True, **train.layer_options())),
      embed_dim=768,
      image_head=False,  # False: the locked tower's output is the embedding (frozen identity).
      temperature_init=10.0,  # big_vision's t = exp(t'): the initial logit scale.
      loss="softmax",    # big_vision's global-batch softmax; "sigmoid" for SigLIP.
  ))
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=224, text_len=16,  # text_len: tokens per caption ([CLS] ... [SEP]).
      source=dict(name="coco_captions",
                  coco_captions=dict(data_dir="", dataset="coco_captions", train_split="train",
                                     eval_split="test", shuffle_buffer=20_000,
                                     # train captions a word vocabulary is built from (no
                                     # text_init).
                                     vocab_examples=1000))))
  c.eval = ml_collections.ConfigDict(dict(batch_size=256, num_images=0))  # 0: the whole split.
  c.eval_only = False

  arg = arg or ""
  if arg == "tiny":
    c.update(train.smoke(16, 4))
    c.model.pretrained = False
    c.model.image.vit.update(patch_size=8, width=32, depth=1, num_heads=2, mlp_dim=64)
    c.model.text.transformer.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.model.embed_dim = 32
    c.data.update(image_size=16, text_len=8)
    c.data.source.coco_captions.update(shuffle_buffer=8, vocab_examples=16)
    c.eval.batch_size = 16
  elif arg:
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default, the paper recipe), tiny.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
