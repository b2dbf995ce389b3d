"""Image-text tasks: what experiments/contrastive.py, pretrain_finetune.py and lit_coco.py share.

- the two-tower model a config's model section describes (`two_tower`): its towers chosen as
  components, {"name": "vit", "vit": {...}}, the text tower's vocab_size and max_len coming from
  the tokenizer and data.text_len;
- the contrastive loss function (CLIP softmax or SigLIP sigmoid) of any two-tower model;
- image-caption pairs of a data source: train batches, and labelled evaluation scenes;
- the embedding evaluation: retrieval both ways, zero-shot classification from prompt
  templates (of the synthetic scenes' attributes, and of tfds image classification sets such as
  cifar10), and a linear probe on the image tower's pooled features.

The towers' text side is anything `text_input(captions)` makes of a list of strings: token ids
for a trained text tower, or a locked encoder's features (LockedTextTwoTower).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.data.synthetic.scenes import template_in_captions
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.linear_probe import linear_probe
from mmjax.evaluate.retrieval import retrieval_metrics
from mmjax.evaluate.zero_shot import class_embeddings, zero_shot_accuracy
from mmjax.losses.contrastive import CONTRASTIVE_LOSSES
from mmjax import models
from mmjax.models import TEXT_ENCODERS
from mmjax.models.two_tower import TwoTower
from mmjax.registry import ConfigError
from mmjax.train.optimizer import stop_frozen_gradients

# ----------------------------------------------------------------------------------- config --


def check_tasks(eval_config, keys, classes) -> None:
  """Each task named in eval_config[key] for `keys` must be one of `classes` ({task: names})."""
  for key in keys:
    for task in eval_config[key]:
      if task not in classes:
        raise ConfigError(f"eval.{key} has {task!r}; valid choices: {', '.join(classes)}.")


def check_templates(eval_config, key: str, tokenizer=None, hint: str = "") -> None:
  """Each template of eval_config[key] needs a '{c}' slot for the class name; given a
  tokenizer, only words it knows (a text tower trained on captions knows no others)."""
  for t in eval_config[key]:
    if "{c}" not in t:
      raise ConfigError(f"eval.{key} has {t!r} without a '{{c}}' slot; "
                        "e.g. 'a picture of a {c}'.")
    unknown = [w for w in tokenizer.words(t.replace("{c}", "")) if w not in tokenizer.stoi] \
        if tokenizer is not None else []
    if unknown:
      raise ConfigError(f"eval.{key} has {t!r} with non-caption words {unknown}; its prompts "
                        f"use caption words only.{hint}")


def check_novel_templates(eval_config, key: str = "novel_templates") -> None:
  """Each template of eval_config[key] must be a wording no caption of the synthetic world
  uses around an object (scenes.template_in_captions): those prompts score zero-shot
  classification on text never seen in training."""
  seen = [t for t in eval_config[key] if template_in_captions(t)]
  if seen:
    raise ConfigError(f"eval.{key} has {seen}, wordings the training captions use around an "
                      "object; give ones they never use, e.g. 'a photo of a {c}'.")


# ------------------------------------------------------------------------------------ model --

def locked_text_model(config) -> tuple:
  """(LockedTextTwoTower, CachedTextEmbedder: captions -> its text input) of a
  pretrain_finetune.py `lit` config: the pretraining stage's image tower against locked
  all-MiniLM-L6-v2 sentence embeddings (config.lit)."""
  from mmjax.models.locked_text_two_tower import LockedTextTwoTower  # pylint: disable=g-import-not-at-top
  from mmjax.models.text.cached_embeddings import CachedTextEmbedder  # pylint: disable=g-import-not-at-top
  pre = config.stages.pretrain.model
  image_name, image = models.IMAGE_ENCODERS.choose(pre.image, "stages.pretrain.model.image")
  model = LockedTextTwoTower(image_encoder=image_name, image=image, embed_dim=pre.embed_dim,
                             project_text=config.lit.project_text,
                             dtype=jnp.dtype(config.compute_dtype),
                             **logit_inits(pre.loss, "stages.pretrain.model.loss"))
  return model, CachedTextEmbedder.minilm(config.lit.text_max_len)


def logit_inits(loss: str, key: str = "model.loss") -> dict:
  """The contrastive scalars' init for `loss`: SigLIP's t' = log 10, b = -10 (Zhai et al.
  2023); CLIP's log(1/0.07), b = 0."""
  CONTRASTIVE_LOSSES.get(loss, key)
  sigmoid = loss == "sigmoid"
  return dict(logit_scale_init=float(np.log(10.0) if sigmoid else np.log(1 / 0.07)),
              logit_bias_init=-10.0 if sigmoid else 0.0)


def two_tower(m, vocab_size: int, text_len: int, dtype: str = "float32",
              key: str = "model", visual: str = "image") -> TwoTower:
  """The TwoTower that model section `m` (at config key `key`) describes: m.image and m.text
  choose the towers ({"name": ..., <name>: {options}}), the text tower's vocab_size and max_len
  being the tokenizer's and data.text_len unless m.text sets them; m.embed_dim; the logit scale
  and bias initialised for m.loss. visual="video": m.video chooses a video tower instead of
  m.image (video-text retrieval)."""
  image_name, image = models.visual_encoders(visual).choose(m[visual], f"{key}.{visual}")
  text_name, text = TEXT_ENCODERS.choose(m.text, f"{key}.text", vocab_size=vocab_size,
                                         max_len=text_len)
  if text.get("vocab_size", vocab_size) < vocab_size:
    raise ConfigError(f"{key}.text.{text_name}.vocab_size={text['vocab_size']} is smaller than "
                      f"the tokenizer's vocabulary ({vocab_size}).")
  return TwoTower(visual=visual, image_encoder=image_name, image=image, text_encoder=text_name,
                  text=text, embed_dim=m.embed_dim, dtype=jnp.dtype(dtype),
                  **logit_inits(m.loss, f"{key}.loss"))


def init_fn(model, images, text):
  """init_fn(rng) -> (params, {}) of a two-tower model, from example inputs [1, ...]."""
  return lambda rng: (model.init(rng, images, text)["params"], {})


def contrastive_loss_fn(model, loss: str, frozen=()):
  """The trainer's loss_fn for a two-tower model on batches {"images", "text"}: the
  contrastive loss `loss` over the global batch. frozen: optimizer.frozen's patterns, whose
  params get no gradient (nor backward pass: LiT's locked tower). Logs the temperature
  1 / exp(logit_scale)."""
  loss_impl = CONTRASTIVE_LOSSES.get(loss, "model.loss")

  def loss_fn(params, model_state, batch, rng, axis_name):
    if frozen:
      params = stop_frozen_gradients(params, frozen)
    zimg, ztxt, out = model.apply({"params": params}, batch["images"], batch["text"], train=True,
                                  rngs={"dropout": rng})
    value = loss_impl(zimg, ztxt, out["logit_scale"], out["logit_bias"], axis_name=axis_name)
    return value, ({"temperature": 1.0 / jnp.exp(out["logit_scale"])}, model_state)
  return loss_fn


# ------------------------------------------------------------------------------------- data --

def word_tokenizer(source, workdir: str) -> WordTokenizer:
  """The word tokenizer of the source's vocabulary, kept in <workdir>/vocab.json (a resumed or
  re-evaluated run reads the same one)."""
  return WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"), source.vocabulary())


def caption_batches(source, text_input, batch_size: int, seed: int,
                    field: str = "image") -> Batches:
  """Resumable batches of train-split image-caption pairs: {"images": float32 [b, s, s, 3]
  normalized, "text": text_input(the b captions)}; a source of files is read in seeded epochs,
  a streamed source (coco_captions) in its own seeded order. field="video" (the clips source):
  "images" holds the clips [b, frames, s, s, 3]."""
  if sources.streamed(source):  # coco_captions: its train stream, one caption per image
    return source.train_batches(batch_size, lambda b: {
        "images": sources.normalize(b["images"]), "text": text_input(list(b["texts"]))})

  def make(indices):
    ex = [source.example("train", int(i), (field, "caption")) for i in indices]
    return {"images": sources.normalize(np.stack([x[field] for x in ex])),
            "text": text_input([x["caption"] for x in ex])}
  return Batches(make, batch_size, seed=seed, num_examples=sources.size(source, "train"))


def check_source(source, e, task_keys) -> None:
  """Fails before training when `source` lacks the image and text fields, or when eval section
  e asks for attribute tasks (task_keys) of a source without the synthetic world's scene
  attributes, naming the keys to clear."""
  asked = [k for k in task_keys if e[k]]
  if asked and not hasattr(source, "first_object_labels"):
    raise ConfigError(
        f"{', '.join(f'eval.{k}' for k in asked)} classify the synthetic world's scene "
        f"attributes, which {type(source).__name__} does not have; clear them: "
        + " ".join(f"--config.eval.{k}='()'" for k in asked) + ".")
  sources.require(source, ("image", "caption"))  # after the config: it may read files


def scenes(world, split: str, n: int, captions: bool = False) -> dict:
  """Examples 0 .. n-1 of `split` (all of it if smaller): {"images": float32 [n, s, s, 3]
  normalized; from the synthetic world each attribute of scenes.ATTRIBUTES: int32 [n] the first
  object's class and "<attribute>/present" bool [n, classes] any object's, "n_objects": int32
  [n]}; with captions also "captions": [n] str and "keys":
  [n] (equal keys: the same content).

  A source of files lists each image once per caption; its n rows give each image once, with
  "keys" [n_images] and "caption_keys" [n] (the image of each caption), for retrieval as
  Karpathy & Fei-Fei 2015 score it (retrieval_metrics' txt_keys). A streamed source
  (coco_captions) gives its first n images, each with all its captions, the same way."""
  if sources.streamed(world):
    return stream_scenes(world, split, n, captions)
  total = sources.size(world, split)
  if total is not None:
    n = min(n, total)
  fields = ("image", "caption", "key") if captions else ("image",)
  if captions and total is not None:
    rows = [world.example(split, i, ("caption", "key")) for i in range(n)]
    caption_keys = np.array([r["key"] for r in rows])
    keys, first = np.unique(caption_keys, return_index=True)
    order = np.argsort(first)  # images in the order the manifest lists them
    images = [world.example(split, int(i), ("image",))["image"] for i in first[order]]
    return {"images": sources.normalize(np.stack(images)), "keys": keys[order],
            "captions": [r["caption"] for r in rows], "caption_keys": caption_keys}
  ex = [world.example(split, i, fields) for i in range(n)]
  out = {"images": sources.normalize(np.stack([x["image"] for x in ex]))}
  if captions:
    out.update(captions=[x["caption"] for x in ex], keys=np.array([x["key"] for x in ex]))
  if hasattr(world, "first_object_labels"):
    out.update(world.first_object_labels(split, range(n)))
    present = world.present_classes(split, range(n))
    out.update({f"{a}/present": v for a, v in present.items()})
  return out


def zero_shot_sets(e, image_size: int) -> dict:
  """The tfds image classification sets eval section e names in zero_shot_datasets ("cifar10",
  "mnist", ...; prepared in e.zero_shot_data_dir), read before training so that a missing one
  fails in seconds: {name: {"images": float32 [n, s, s, 3] normalized (grey made RGB, resized
  to image_size), "labels": int32 [n], "classes": [C] names}}, the first e.zero_shot_examples
  (0: all) of each test split."""
  from mmjax.data.tfds import ImageClassification  # pylint: disable=g-import-not-at-top
  from mmjax.data.tfds.load import tfds_module  # pylint: disable=g-import-not-at-top
  if not isinstance(e.zero_shot_examples, int) or e.zero_shot_examples < 0:
    raise ConfigError(f"eval.zero_shot_examples={e.zero_shot_examples!r}; valid: an integer "
                      ">= 0 (0: the whole test split).")
  if e.zero_shot_datasets and not e.zero_shot_templates:
    raise ConfigError("eval.zero_shot_datasets are classified with eval.zero_shot_templates, "
                      "which is empty; give prompts of caption words, e.g. ('a picture of a "
                      "{c}',).")
  out = {}
  for name in e.zero_shot_datasets:
    try:
      data = ImageClassification(name, split="test", data_dir=e.zero_shot_data_dir or None,
                                 image_ops=["to_rgb", {"op": "resize", "size": image_size}])
    except tfds_module().core.registered.DatasetNotFoundError:
      raise ConfigError(f"eval.zero_shot_datasets has {name!r}, which tfds does not know; give "
                        "tfds image classification datasets, e.g. cifar10, mnist.") from None
    n = len(data) if not e.zero_shot_examples else min(e.zero_shot_examples, len(data))
    batch = data.make_batch(np.arange(n))
    out[name] = {"images": sources.normalize(batch["images"]), "labels": batch["labels"],
                 "classes": list(data.class_names)}
  return out


def count_oov_classes(datasets, tokenizer) -> None:
  """Adds "oov_classes" to each of zero_shot_sets' `datasets`: how many class names have a
  word the word `tokenizer` does not know (a text tower trained on captions cannot name them;
  they are scored all the same, since the count says how far to trust the accuracy)."""
  for d in datasets.values():
    d["oov_classes"] = sum(any(w not in tokenizer.stoi for w in tokenizer.words(c))
                           for c in d["classes"])


def stream_scenes(source, split: str, n: int, captions: bool = False) -> dict:
  """scenes() of a streamed source: its first n images of `split`, read once, {"images":
  float32 [n, s, s, 3] normalized}, with captions also "keys" int64 [n] (image ids),
  "captions" [m] every caption of those images and "caption_keys" [m] (each one's image)."""
  read = source.images_with_captions(split, n)
  out = {"images": sources.normalize(read["images"])}
  if captions:
    out.update(keys=read["image_ids"], captions=[c for caps in read["captions"] for c in caps],
               caption_keys=np.repeat(read["image_ids"], [len(c) for c in read["captions"]]))
  return out


# ------------------------------------------------------------------------------- evaluation --

def embed_images(model, batch_size: int):
  """fn(params, images [n, h, w, c]) -> (embeddings [n, embed_dim], the image tower's pooled
  features [n, width]), numpy, in jitted batches of batch_size."""
  @jax.jit
  def embed(params, x):
    zimg, _, out = model.apply({"params": params}, x, None)
    return zimg, out["img/pooled"]
  return lambda params, images: apply_in_batches(lambda x, _: embed(params, x), images,
                                                 batch_size)


def embed_texts(model, text_input, batch_size: int):
  """fn(params, strings) -> text embeddings [n, embed_dim] numpy, in jitted batches."""
  fn = jax.jit(lambda p, t: model.apply({"params": p}, None, t)[1])
  return lambda params, strings: apply_in_batches(lambda t, _: fn(params, t),
                                                  text_input(list(strings)), batch_size)


def any_object_accuracy(zimg, class_emb, present) -> dict:
  """Zero-shot top-1 on scenes of several objects, where naming any object's class is right:
  zimg [n, dim], class_emb [C, dim], present bool [n, C] (each scene's classes). {"top1_any",
  "chance_top1_any": a uniform guess's, the mean share of classes present}."""
  pred = np.argmax(np.asarray(zimg, np.float32) @ np.asarray(class_emb, np.float32).T, -1)
  return {"top1_any": float(np.mean(present[np.arange(len(pred)), pred])),
          "chance_top1_any": float(np.mean(present.mean(-1)))}


def zero_shot_metrics(zimg, encode, test, tasks, templates: dict, classes) -> dict:
  """Zero-shot classification of `test`'s images (scenes' dict) for each task, with class
  prompts from each {name: templates} (empty: skipped); encode(strings) -> text embeddings.
  "<name>/<task>/top1" (and chance_top1) scores the single-object images, whose one object is
  the thing to name, and "<name>/<task>/num_images" counts them; "<name>/<task>/multi_object/
  top1_any" (chance_top1_any, num_images) scores the others, a class of any object counting."""
  if not tasks:
    return {}
  single, out = test["n_objects"] == 1, {}
  for task in tasks:
    for name, task_templates in templates.items():
      if not task_templates:
        continue
      cls = class_embeddings(encode, classes[task], task_templates)
      if single.any():
        for k, v in zero_shot_accuracy(zimg[single], cls, test[task][single]).items():
          out[f"{name}/{task}/{k}"] = v
      out[f"{name}/{task}/num_images"] = int(single.sum())
      if (~single).any():
        multi = any_object_accuracy(zimg[~single], cls, test[f"{task}/present"][~single])
        out.update({f"{name}/{task}/multi_object/{k}": v for k, v in multi.items()})
        out[f"{name}/{task}/multi_object/num_images"] = int((~single).sum())
  return out


def probe_metrics(features, labelled, test_features, test, tasks, classes) -> dict:
  """{"linear_probe/<task>/accuracy", ...}: a logistic-regression probe per task fitted on
  `features` of the `labelled` scenes, scored on `test_features` of the `test` scenes."""
  out = {}
  for task in tasks:
    fit = linear_probe(features, labelled[task], test_features, test[task], len(classes[task]))
    out.update({f"linear_probe/{task}/{k}": v for k, v in fit.items()})
  return out


def dataset_zero_shot_metrics(embed, encode, datasets, templates) -> dict:
  """{"zero_shot/<dataset>/top1", ".../chance_top1", ".../oov_classes"}: zero-shot
  classification of each of zero_shot_sets' `datasets` with class prompts from `templates`
  ('{c}' slots); embed(images) -> image embeddings, encode(strings) -> text embeddings."""
  out = {}
  for name, d in datasets.items():
    cls = class_embeddings(encode, d["classes"], templates)
    for k, v in zero_shot_accuracy(embed(d["images"]), cls, d["labels"]).items():
      out[f"zero_shot/{name}/{k}"] = v
    if "oov_classes" in d:
      out[f"zero_shot/{name}/oov_classes"] = d["oov_classes"]
  return out


def evaluator(model, test, text_input, e, classes, ks=(1, 5, 10), probe=None, datasets=None,
              compositional=None):
  """evaluate(state, step) of a two-tower model on `test` (scenes' dict with captions, and
  optionally "paraphrases" of them): retrieval R@ks both ways on the captions (and on the
  paraphrases, "paraphrase/..."); zero-shot classes of eval section e's zero_shot_tasks from
  e.zero_shot_templates ("zero_shot/...") and e.novel_templates if it has them
  ("zero_shot_novel/..."; see zero_shot_metrics); with `probe` (labelled scenes) a linear probe
  on the pooled image features for e.probe_tasks; with `datasets` (zero_shot_sets') zero-shot
  classification of each from e.zero_shot_templates ("zero_shot/<dataset>/..."); with
  `compositional` (scenes' dict of test_compositional, with captions) retrieval among its
  pairs ("compositional/i2t/R@1", ...)."""
  images, texts = embed_images(model, e.batch_size), embed_texts(model, text_input, e.batch_size)
  templates = {"zero_shot": e.zero_shot_templates,
               "zero_shot_novel": e.get("novel_templates", ())}

  def evaluate(state, step):
    params = state.eval_params
    encode = lambda strings: texts(params, strings)
    zimg, pooled = images(params, test["images"])
    metrics = retrieval_metrics(zimg, encode(test["captions"]), test["keys"], ks=ks,
                                txt_keys=test.get("caption_keys"))
    if compositional is not None:
      comp = retrieval_metrics(images(params, compositional["images"])[0],
                               encode(compositional["captions"]), compositional["keys"], ks=ks)
      metrics.update({f"compositional/{k}": v for k, v in comp.items()})
    if "paraphrases" in test:
      para = retrieval_metrics(zimg, encode(test["paraphrases"]), test["keys"], ks=ks)
      metrics.update({f"paraphrase/{k}": v for k, v in para.items() if "chance" not in k})
    metrics.update(zero_shot_metrics(zimg, encode, test, e.zero_shot_tasks, templates, classes))
    if datasets:
      metrics.update(dataset_zero_shot_metrics(lambda x: images(params, x)[0], encode, datasets,
                                               e.zero_shot_templates))
    if probe is not None and e.probe_tasks:
      features = images(params, probe["images"])[1]
      metrics.update(probe_metrics(features, probe, pooled, test, e.probe_tasks, classes))
    return metrics
  return evaluate
