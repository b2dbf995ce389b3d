"""The model of experiments/lit_coco.py (LiT on COCO captions, Zhai et al. 2022) from its config:
the towers from their checkpoints (a ViT .npz, a HuggingFace BERT folder) or random ones of the
config's sizes, their tokenizer, the TwoTower with its init_fn and loss_fn, and the eval split
as the experiment reads it. The experiment trains it; `python -m mmjax.interpret` rebuilds it to
map a run.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.data.image_ops import ImageOps
from mmjax.models import IMAGE_ENCODERS, TEXT_ENCODERS, TwoTower
from mmjax.models.from_checkpoint import graft
from mmjax.models.image.vit_checkpoint import load_vit_npz
from mmjax.models.text.pretrained import HFTokenizer, load_hf_bert
from mmjax.models.transformer import stack_blocks
from mmjax.registry import ConfigError
from mmjax.tasks import image_text


class _Encode:
  """The `encode_batch(texts, max_len)` interface CocoCaptions calls, over either tokenizer."""

  def __init__(self, fn):
    self.fn = fn

  def encode_batch(self, texts, max_len):
    return self.fn(list(texts), max_len)


def layer_options(tower: dict, params: dict, options) -> tuple[dict, dict]:
  """A loaded tower's kwargs and params with the config's attention / remat / scan (see
  transformer.Encoder): the checkpoint decides the architecture, the config how it runs."""
  tower = {**tower, **{k: options[k] for k in ("attention", "remat", "scan") if k in options}}
  if tower.get("scan") and params is not None:
    params = {**params, "encoder": stack_blocks(params["encoder"], tower["depth"])}
  return tower, params


def random_image_tower(config) -> dict:
  """The image tower's kwargs when no checkpoint is given: model.image's choice."""
  return IMAGE_ENCODERS.choose(config.model.image, "model.image")[1]


def random_text_tower(config, vocab_size: int, pad_id: int) -> dict:
  """The text tower's kwargs when no checkpoint is given: model.text's choice over a tokenizer
  of `vocab_size` tokens, data.text_len positions."""
  return TEXT_ENCODERS.choose(config.model.text, "model.text", vocab_size=vocab_size,
                              max_len=config.data.text_len, pad_id=pad_id)[1]


def load_towers(config, source, workdir, weights: bool = True):
  """-> (image tower kwargs, its params or None, text tower kwargs, its params or None,
  tokenizer): from the checkpoints, or random towers as model.image / model.text choose.
  weights=False reads only the checkpoints' shapes (params None): for a restored run."""
  m, d = config.model, config.data
  if m.image_init:
    image, image_params = load_vit_npz(m.image_init, image_size=d.image_size, weights=weights)
    image, image_params = layer_options(image, image_params, m.image.vit)
  else:
    image, image_params = random_image_tower(config), None
  if m.text_init:
    text, text_params = load_hf_bert(m.text_init, weights=weights)
    text, text_params = layer_options(text, text_params, m.text.transformer)
    if d.text_len > text["max_len"]:
      raise ConfigError(f"data.text_len={d.text_len} exceeds the checkpoint's "
                        f"{text['max_len']} positions.")
    # big_vision's BERT: the [CLS] output, positions cut to text_len.
    text.update(pool="first", max_len=d.text_len)
    if text_params is not None:
      text_params["pos_embedding"] = text_params["pos_embedding"][:d.text_len]
    hf = HFTokenizer(m.text_init, max_length=d.text_len)
    if hf.pad_id != text["pad_id"]:
      raise ValueError(f"{m.text_init}: tokenizer [PAD] id {hf.pad_id} differs from "
                       f"config.json pad_token_id {text['pad_id']}.")
    tokenizer = _Encode(lambda texts, n: hf(texts)[0])
  else:
    # A word vocabulary from the first training captions; <bos> leads, standing in for [CLS].
    words = image_text.word_tokenizer(source, workdir)
    text = random_text_tower(config, words.vocab_size, words.pad_id)
    text_params = None
    tokenizer = _Encode(lambda texts, n: words.encode_batch(texts, n, bos=True))
  return image, image_params, text, text_params, tokenizer


def image_ops(size, train_ops):
  # big_vision: resize(size) (to a square, aspect not kept)[|flip_lr]|value_range(-1, 1).
  ops = [{"op": "resize", "size": size}] + (["random_flip"] if train_ops else [])
  return ops + [{"op": "normalize", "mean": [0.5], "std": [0.5]}]


def load_eval(config, source, tokenizer):
  """The eval split, read once before training: images as uint8 [n, s, s, 3] (resized; 750 MB
  for COCO's 5000 test images at 224 px), every caption tokenized with its image's index."""
  d, e = config.data, config.eval
  coco = source.stream(source.eval_split, shuffle=False, process_index=0, process_count=1)
  resize = ImageOps([{"op": "resize", "size": d.image_size}])
  try:
    n = len(coco) if not e.num_images else min(e.num_images, len(coco))
    images, captions, owner, ids = [], [], [], []
    for start in range(0, n, 256):
      for ex in coco.read(start, min(256, n - start)):
        x = resize(ex["image"], 0)
        images.append(np.round(x * 255).astype(np.uint8))
        ids.append(int(ex["image_id"]))
        for c in ex["captions"]:
          captions.append(c.decode("utf-8"))
          owner.append(len(ids) - 1)
  finally:
    coco.close()
  return {"images": np.stack(images), "image_ids": np.array(ids), "captions": captions,
          "tokens": tokenizer.encode_batch(captions, d.text_len),
          "caption_image": np.array(owner)}


def model_pixels(images):
  """load_eval's uint8 images [..., s, s, 3] (numpy or jax) -> the model's inputs, float32 in
  [-1, 1] as image_ops normalizes the train images."""
  return (images.astype(np.float32) / 255.0 - 0.5) / 0.5


def from_host(tree):
  """A tree of numpy arrays, inside a traced function, fetched by a host callback when it runs
  rather than embedded in the program as constants (~0.8 GB for ViT-B/16 + BERT-base, which
  would make the init compile slow and memory-hungry)."""
  shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)
  return jax.pure_callback(lambda: tree, shapes)


def build(config, image: dict, text: dict, image_params=None, text_params=None):
  """-> (TwoTower, init_fn, loss_fn) the trainer takes, from the towers' kwargs (load_towers,
  or random_image_tower / random_text_tower) and their checkpoint params (None: random init).
  Batches: {"images": float [b, image_size, image_size, 3], "text": int32 [b, text_len]}."""
  m, s = config.model, config.data.image_size
  if not m.image_head and m.embed_dim != image.get("width"):
    raise ConfigError(f"model.image_head=False uses the image tower's output as the embedding: "
                      f"model.embed_dim={m.embed_dim} must equal its width {image.get('width')}.")
  model = TwoTower(image_encoder=m.image.name, image=image, text_encoder=m.text.name, text=text,
                   embed_dim=m.embed_dim, logit_scale_init=math.log(m.temperature_init),
                   dtype=jnp.dtype(config.compute_dtype))
  dummy = (jnp.zeros((1, s, s, 3)), jnp.zeros((1, config.data.text_len), jnp.int32))
  pretrained = {}
  if image_params is not None:
    pretrained["img_tower"] = image_params
  if text_params is not None:
    pretrained["txt_tower"] = text_params
  abstract = jax.eval_shape(model.init, jax.random.key(0), *dummy)["params"]
  for name, tree in pretrained.items():
    graft(abstract, name, tree)  # raises naming any leaf that does not fit the model.
  pretrained = jax.tree.map(np.asarray, pretrained)

  def init_fn(rng):
    params = dict(model.init(rng, *dummy)["params"])
    params.update(from_host(pretrained) if pretrained else {})
    if not m.image_head:  # LiT's out_dim=(None, .): the locked tower's output as it is.
      params["img_proj"] = {"kernel": jnp.eye(m.embed_dim, dtype=jnp.float32)}
    return params, {}

  # No gradients (nor backward pass) through the locked tower.
  loss_fn = image_text.contrastive_loss_fn(model, m.loss, frozen=config.optimizer.frozen)
  return model, init_fn, loss_fn
