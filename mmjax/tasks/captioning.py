"""Image captioning from config sections: the Captioner a model section describes, image-caption
batches from a data source, the teacher-forced loss, and captions decoded (greedy or beam
search) and scored (BLEU-1..4, CIDEr-D, exact match). experiments/captioning.py and
experiments/translation.py's captioner stage both use it.

The model section (the components chosen by name, see `Registry.choose`):

  model = dict(image=dict(name="vit", vit=dict(patch_size=8, width=96, ...)),
               decoder=dict(name="transformer", transformer=dict(width=96, ...),
                            lstm=dict(embed_dim=96, hidden=256)),
               features="tokens",  # what the decoder sees: "tokens" (attention) or "pooled"
               label_smoothing=0.0)

Batches hold pixels in [0, 1] as the source gives them; the functions here normalise them for
the model (`sources.normalize`).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import models
from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.bleu import corpus_bleu
from mmjax.evaluate.cider import cider_d
from mmjax.losses.captioning import caption_loss, shift_right
from mmjax.models.captioner import FEATURES, Captioner, decode, max_caption_len
from mmjax.registry import ConfigError

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D", "exact_match")


def check_eval(e):
  """Eval section e's sizes and decoding options fail here, not after training."""
  for key in ("num_examples", "batch_size", "beam_size"):  # compositional_examples: sources
    if not isinstance(e[key], int) or e[key] < 1:
      raise ConfigError(f"eval.{key}={e[key]!r}; it must be an integer >= 1.")
  if e.alpha < 0:
    raise ConfigError(f"eval.alpha={e.alpha}; the length penalty exponent must be >= 0.")


def model_choices(m, key: str = "model") -> dict:
  """What a captioner of config section `m` is made of: {"image": (name, options), "decoder":
  (name, options), "features": ...} (the chosen components' options only; the data's vocab_size
  and max_len not filled in)."""
  return {"image": models.IMAGE_ENCODERS.choose(m.image, f"{key}.image"),
          "decoder": models.CAPTION_DECODERS.choose(m.decoder, f"{key}.decoder"),
          "features": m.features}


def build_captioner(m, vocab_size: int, text_len: int, dtype=jnp.float32, key: str = "model",
                    visual: str = "image") -> Captioner:
  """The Captioner that config section `m` (at config key `key`) describes, for a tokenizer of
  `vocab_size` words and captions of `text_len` tokens (which fill the decoder's vocab_size and
  max_len unless its options set them). A bad name or option fails here naming its key.
  visual="video": m.video chooses a video encoder instead of m.image (video captioning)."""
  image, image_options = models.visual_encoders(visual).choose(m[visual], f"{key}.{visual}")
  decoder, options = models.CAPTION_DECODERS.choose(m.decoder, f"{key}.decoder",
                                                    vocab_size=vocab_size, max_len=text_len)
  if m.features not in FEATURES:
    raise ConfigError(f"{key}.features={m.features!r}; valid choices: {', '.join(FEATURES)}.")
  if options["vocab_size"] < vocab_size:
    raise ConfigError(f"{key}.decoder.{decoder}.vocab_size={options['vocab_size']} is smaller "
                      f"than the tokenizer's vocabulary ({vocab_size}).")
  limit = max_caption_len(decoder, options)
  if limit is not None and limit < text_len:
    raise ConfigError(f"{key}.decoder.{decoder}.max_len={limit} < data.text_len={text_len}.")
  return Captioner(visual=visual, image_encoder=image, image=image_options, caption_decoder=decoder,
                   decoder=options, features=m.features, dtype=dtype)


def init_fn(model: Captioner, image_size: int, text_len: int):
  """init_fn(rng) -> (params, model_state) of a Captioner for the trainer, initialised on one
  blank image and caption; model_state holds the rest (BatchNorm statistics)."""
  def init(rng):
    variables = dict(model.init(rng, jnp.zeros((1, image_size, image_size, 3)),
                                jnp.zeros((1, text_len), jnp.int32)))
    return variables.pop("params"), variables
  return init


def apply_train(model, params, model_state, *args, rng, **kw):
  """model.apply in training mode (dropout from `rng`) -> (outputs, new model_state): mutable
  collections such as BatchNorm statistics are updated when the model has any."""
  variables = {"params": params, **model_state}
  if model_state:
    return model.apply(variables, *args, train=True, rngs={"dropout": rng},
                       mutable=list(model_state), **kw)
  return model.apply(variables, *args, train=True, rngs={"dropout": rng}, **kw), model_state


def caption_encoder(tokenizer, text_len: int):
  """encode(captions) -> int32 [n, text_len] (words, <eos>, <pad>); a caption that does not fit
  fails naming data.text_len (truncating would teach captions that stop mid-sentence)."""
  def encode(captions):
    for c in captions:
      if len(tokenizer.words(c)) + 1 > text_len:
        raise ConfigError(f"data.text_len={text_len} cannot hold {c!r} "
                          f"({len(tokenizer.words(c))} words + <eos>); raise data.text_len.")
    return tokenizer.encode_batch(captions, text_len)
  return encode


def image_captions(source, split: str, indices, field: str = "image"
                   ) -> tuple[np.ndarray, list]:
  """Examples `indices` of `split`: (images float32 [n, s, s, 3] in [0, 1], their captions). A
  scene has several paraphrases; each example's is the source's choice. field="video" (the
  clips source): clips [n, frames, s, s, 3] instead of images."""
  ex = [source.example(split, int(i), (field, "caption")) for i in indices]
  return np.stack([e[field] for e in ex]), [e["caption"] for e in ex]


def train_batches(source, encode, batch_size: int, seed: int, field: str = "image") -> Batches:
  """Resumable batches of train-split images and their captions: {"images": float32
  [b, s, s, 3] in [0, 1], "captions": encode(the b captions) int32 [b, text_len]}; a source of
  files is read in seeded epochs, a streamed source (coco_captions) in its own seeded order
  (each image with one of its captions, a new one each epoch). field="video": "images" holds
  the clips [b, frames, s, s, 3]."""
  if sources.streamed(source):
    return source.train_batches(batch_size, lambda b: {"images": b["images"],
                                                       "captions": encode(list(b["texts"]))})

  def make(indices):
    images, captions = image_captions(source, "train", indices, field)
    return {"images": images, "captions": encode(captions)}
  return Batches(make, batch_size, seed=seed, num_examples=sources.size(source, "train"))


def references(source, split: str, n: int) -> list:
  """Every paraphrase of each of the first `n` scenes of `split` (the synthetic world's)."""
  return [source.scene(split, i).captions() for i in range(n)]


def test_set(source, split: str, n: int) -> tuple[np.ndarray, list]:
  """The first n images of `split` and their reference captions: (images float32 [n, s, s, 3]
  in [0, 1], [n] lists of str). The synthetic world's references are each scene's paraphrases;
  a source of files lists an image once per caption, and its references are the image's rows;
  a streamed source's (coco_captions) are each image's captions."""
  if sources.streamed(source):
    read = source.images_with_captions(split, n)
    return read["images"], read["captions"]
  if sources.size(source, split) is None:
    return image_captions(source, split, range(n))[0], references(source, split, n)
  refs = list(file_references(source, split).values())[:n]
  images = [source.example(split, first, ("image",))["image"] for first, _ in refs]
  return np.stack(images), [captions for _, captions in refs]


def file_references(source, split: str) -> dict:
  """{image key: (its first row, its captions)} of a source of files, which lists an image once
  per caption, in the order the manifest lists the images (reads no image)."""
  refs = {}
  for i in range(sources.size(source, split)):
    row = source.example(split, i, ("key", "caption"))
    refs.setdefault(row["key"], (i, []))[1].append(row["caption"])
  return refs


def caption_loss_fn(model: Captioner, tokenizer, label_smoothing: float = 0.0):
  """The trainer's loss_fn: teacher forcing on batches {"images": [b, s, s, 3] in [0, 1],
  "captions": int [b, text_len]} -> (token cross-entropy over real tokens, ({"token_accuracy"},
  new model_state))."""
  def loss_fn(params, model_state, batch, rng, axis_name):
    captions = batch["captions"]
    logits, model_state = apply_train(model, params, model_state,
                                      sources.normalize(batch["images"]),
                                      shift_right(captions, tokenizer.bos_id), rng=rng)
    mask = captions != tokenizer.pad_id
    loss = caption_loss(logits, captions, mask, label_smoothing)
    correct = (jnp.argmax(logits, -1) == captions) & mask
    return loss, ({"token_accuracy": correct.sum() / jnp.maximum(mask.sum(), 1)}, model_state)
  return loss_fn


def captioner_fn(model: Captioner, tokenizer, text_len: int, method: str = "greedy",
                 beam_size: int = 3, alpha: float = 0.0):
  """Jitted (variables, images [n, s, s, 3] in [0, 1]) -> tokens int32 [n, text_len] (words,
  <eos>, <pad>) by greedy or beam search (`models.captioner.decode`)."""
  generate = functools.partial(decode, model, max_len=text_len, bos_id=tokenizer.bos_id,
                               eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, method=method,
                               beam_size=beam_size, alpha=alpha)
  return jax.jit(lambda variables, images: generate(variables, sources.normalize(images))[0])


def caption_images(fn, variables, images, batch_size: int) -> np.ndarray:
  """`captioner_fn`'s tokens [n, text_len] of images [n, s, s, 3], `batch_size` at a time."""
  return apply_in_batches(lambda x, _: fn(variables, x), images, batch_size)


def exact_match(hypotheses, references) -> float:
  """Fraction of hypotheses equal to one of their references."""
  return float(np.mean([h in r for h, r in zip(hypotheses, references)]))


def score(hypotheses, references) -> dict:
  """{BLEU-1..4, CIDEr-D, exact_match} of captions against lists of references."""
  bleu = corpus_bleu(hypotheses, references)
  return {**{k: bleu[k] for k in METRICS[:4]}, "CIDEr-D": cider_d(hypotheses, references)[0],
          "exact_match": exact_match(hypotheses, references)}
