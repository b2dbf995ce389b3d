"""Does cross-modal pretraining help downstream? Two experiments, chosen by `config.experiment`:

(a) "finetune": CLIP pretraining of a two-tower model on captioned scenes -> <workdir>/pretrain;
    its image tower + a fresh classification head fine-tuned on a few labelled images ->
    <workdir>/finetune; the identical classifier trained from scratch, same steps ->
    <workdir>/scratch; plus a linear probe of the frozen pretrained tower.
(b) "lit": an image tower trained against the locked all-MiniLM-L6-v2 text tower (LiT, Zhai et
    al. 2022, text side locked) -> <workdir>/lit, and against a text tower trained from scratch
    -> <workdir>/scratch_text; retrieval, zero-shot, and both on wordings the captions never use.

  python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py:tiny \
      --workdir runs/pf_tiny

config -> data -> one `train.train_or_restore` per stage (each resumable in its own sub-workdir;
a finished stage is restored, not retrained) -> write results.json.
"""

import json
import os
import re

from absl import app, flags, logging
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_flags

from mmjax import train
from mmjax.data.pipeline import Batches
from mmjax.data.synthetic import SceneWorld
from mmjax.data.synthetic.scenes import ATTRIBUTES
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.classification import classification_metrics
from mmjax.evaluate.linear_probe import linear_probe
from mmjax.evaluate.retrieval import retrieval_metrics
from mmjax.evaluate.zero_shot import class_embeddings, zero_shot_accuracy
from mmjax.losses.classification import softmax_cross_entropy
from mmjax.losses.contrastive import CONTRASTIVE_LOSSES
from mmjax.models import IMAGE_ENCODERS, TEXT_ENCODERS, TwoTower
from mmjax.models.from_checkpoint import checkpoint_params, graft
from mmjax.models.locked_text_two_tower import LockedTextTwoTower
from mmjax.models.multimodal_classifier import MultimodalClassifier
from mmjax.models.text.cached_embeddings import CachedTextEmbedder
from mmjax.registry import ConfigError

FLAGS = flags.FLAGS
MEAN, STD = 0.5, 0.25  # pixel normalisation of the synthetic world's [0, 1] images.
CLASSES = ATTRIBUTES  # of the first object
EXPERIMENTS = ("finetune", "lit")
OWN_SECTIONS = ("experiment", "finetune", "lit")  # not trainer keys: dropped from stage configs


# ---------------------------------------------------------------------------------- config --

def check_config(config):
  """Every value this experiment reads fails here, before anything compiles."""
  train.validate(config, ("model", "data", "eval", "eval_only") + OWN_SECTIONS)
  if config.experiment not in EXPERIMENTS:
    raise ConfigError(f"experiment={config.experiment!r}; valid choices: {', '.join(EXPERIMENTS)}.")
  CONTRASTIVE_LOSSES.get(config.model.loss, "model.loss")
  IMAGE_ENCODERS.get(config.model.image_encoder, "model.image_encoder")
  if config.data.source != "shapes":
    raise ConfigError(f"data.source={config.data.source!r}; valid choices: shapes.")
  f = config.finetune
  if f.task not in CLASSES:
    raise ConfigError(f"finetune.task={f.task!r}; valid choices: {', '.join(CLASSES)}.")
  if not isinstance(f.num_labels, int) or f.num_labels < 5:
    raise ConfigError(f"finetune.num_labels={f.num_labels!r}; valid: an integer >= 5 (the "
                      "linear probe validates on a fifth of them).")
  for task in config.eval.zero_shot_tasks:
    if task not in CLASSES:
      raise ConfigError(f"eval.zero_shot_tasks has {task!r}; valid choices: {', '.join(CLASSES)}.")
  for key in ("zero_shot_templates", "novel_templates"):
    for t in config.eval[key]:
      if "{c}" not in t:
        raise ConfigError(f"eval.{key} has {t!r} without a '{{c}}' slot; "
                          "e.g. 'a photo of a {c}'.")
  for name, stage in stage_configs(config).items():
    try:
      train.validate(stage)
    except ConfigError as e:
      where = "finetune.{lr, weight_decay, total_steps, batch_size, warmup_steps} and the " \
          if name in ("finetune", "scratch") else ""
      raise ConfigError(f"stage {name!r} (trained with {where}trainer keys): {e}") from None


def stage_configs(config) -> dict:
  """{stage name: its trainer config}: `config` without this experiment's own sections; the
  fine-tuning stages take their steps, batch and optimizer from `config.finetune`."""
  def derive(**flat):
    c = config.copy_and_resolve_references()
    c.unlock()
    for key in OWN_SECTIONS:
      del c[key]
    c.update_from_flattened_dict(flat)
    c.lock()
    return c

  if config.experiment == "lit":
    return {"lit": derive(), "scratch_text": derive()}
  f = config.finetune
  tuned = derive(**{"total_steps": f.total_steps, "batch_size": f.batch_size,
                    "optimizer.lr": f.lr, "optimizer.weight_decay": f.weight_decay,
                    "schedule.warmup_steps": f.warmup_steps, "eval_every_steps": 0,
                    "checkpoint.every_steps": f.total_steps})
  return {"pretrain": derive(), "finetune": tuned, "scratch": tuned}


def check_templates(config, tokenizer):
  """Caption-like prompts must use caption words only (the from-scratch tower knows no others)."""
  for t in config.eval.zero_shot_templates:
    unknown = [w for w in tokenizer.words(t.replace("{c}", "")) if w not in tokenizer.stoi]
    if unknown:
      raise ConfigError(f"eval.zero_shot_templates has {t!r} with non-caption words {unknown}; "
                        "put wordings the captions never use in eval.novel_templates.")


# ------------------------------------------------------------------------------------ data --

def make_world(config) -> SceneWorld:
  d = config.data
  return SceneWorld(d.seed, d.image_size, d.max_objects, d.noise)


def images(world, split, indices) -> np.ndarray:
  """float32 [n, size, size, 3] normalised pixels of examples `indices` of `split`."""
  x = np.stack([world.example(split, int(i), ("image",))["image"] for i in indices])
  return ((x - MEAN) / STD).astype(np.float32)


def paraphrase(text: str, pairs) -> str:
  """`text` with each (phrase, replacement) of `pairs` swapped in, whole words, longest first."""
  table = dict(pairs)
  if not table:
    return text
  alternatives = "|".join(map(re.escape, sorted(table, key=len, reverse=True)))
  return re.sub(rf"\b({alternatives})\b", lambda m: table[m.group(1)], text)


def contrastive_test(config, world) -> dict:
  n = config.eval.num_examples
  ex = [world.example("test", i, ("caption", "key")) for i in range(n)]
  captions = [e["caption"] for e in ex]
  return {"images": images(world, "test", range(n)), "captions": captions,
          "paraphrases": [paraphrase(c, config.eval.paraphrases) for c in captions],
          "keys": np.array([e["key"] for e in ex]), **world.first_object_labels("test", range(n))}


# ------------------------------------------------------------------ contrastive stages ----

def logit_inits(config) -> dict:
  # SigLIP's init: t' = log 10, b = -10 (Zhai et al. 2023); CLIP's: log(1/0.07).
  sigmoid = config.model.loss == "sigmoid"
  return dict(logit_scale_init=float(np.log(10.0) if sigmoid else np.log(1 / 0.07)),
              logit_bias_init=-10.0 if sigmoid else 0.0)


def two_tower(config, vocab_size) -> TwoTower:
  """The two-tower model of experiments/contrastive.py, its text tower trained from scratch."""
  text = TEXT_ENCODERS.with_data_fields(config.model.text_encoder, config.model.text,
                                        "model.text_encoder", vocab_size=vocab_size,
                                        max_len=config.data.text_len)
  if text.get("vocab_size", vocab_size) < vocab_size:
    raise ConfigError(f"model.text.vocab_size={text['vocab_size']} is smaller than the "
                      f"tokenizer's vocabulary ({vocab_size}).")
  return TwoTower(image_encoder=config.model.image_encoder, image=dict(config.model.image),
                  text_encoder=config.model.text_encoder, text=text,
                  embed_dim=config.model.embed_dim, dtype=jnp.dtype(config.compute_dtype),
                  **logit_inits(config))


def contrastive_evaluator(config, model, text_input, test):
  """evaluate(state, step): retrieval R@1/5 both ways on the test captions and on their
  paraphrases; zero-shot classes of the single-object test images from caption-like prompts
  ("zero_shot/...") and from unseen wordings ("zero_shot_novel/...")."""
  e, bs = config.eval, config.eval.batch_size
  embed_images = jax.jit(lambda p, x: model.apply({"params": p}, x, None)[0])
  embed_texts = jax.jit(lambda p, t: model.apply({"params": p}, None, t)[1])

  def evaluate(state, step):
    params = state.eval_params
    texts = lambda strings: apply_in_batches(lambda t, _: embed_texts(params, t),
                                             text_input(strings), bs)
    zimg = apply_in_batches(lambda x, _: embed_images(params, x), test["images"], bs)
    metrics = retrieval_metrics(zimg, texts(test["captions"]), test["keys"], ks=(1, 5))
    if e.paraphrases:
      para = retrieval_metrics(zimg, texts(test["paraphrases"]), test["keys"], ks=(1, 5))
      metrics.update({f"paraphrase/{k}": v for k, v in para.items() if "chance" not in k})
    single = test["n_objects"] == 1
    for task in e.zero_shot_tasks if single.any() else ():
      for name, templates in (("zero_shot", e.zero_shot_templates),
                              ("zero_shot_novel", e.novel_templates)):
        if templates:
          classes = class_embeddings(texts, CLASSES[task], templates)
          for k, v in zero_shot_accuracy(zimg[single], classes, test[task][single]).items():
            metrics[f"{name}/{task}/{k}"] = v
    return metrics
  return evaluate


def train_contrastive(config, workdir, model, world, text_input, test) -> tuple:
  """Trains `model` (the TwoTower interface) on train-split image-caption pairs with the
  contrastive loss; text_input(captions) -> the text side's input. Returns (step, metrics)."""
  loss_impl = CONTRASTIVE_LOSSES.get(config.model.loss, "model.loss")

  def make(indices):
    ex = [world.example("train", int(i), ("image", "caption")) for i in indices]
    pixels = (np.stack([x["image"] for x in ex]) - MEAN) / STD
    return {"images": pixels.astype(np.float32), "text": text_input([x["caption"] for x in ex])}

  example_text = text_input(test["captions"][:1])  # outside init_fn, which jax traces

  def init_fn(rng):
    return model.init(rng, test["images"][:1], example_text)["params"], {}

  def loss_fn(params, model_state, batch, rng, axis_name):
    zimg, ztxt, out = model.apply({"params": params}, batch["images"], batch["text"], train=True)
    loss = loss_impl(zimg, ztxt, out["logit_scale"], out["logit_bias"], axis_name=axis_name)
    return loss, ({"temperature": 1.0 / jnp.exp(out["logit_scale"])}, model_state)

  return train.train_or_restore(
      config, workdir, init_fn=init_fn, loss_fn=loss_fn,
      train_data=Batches(make, config.batch_size, seed=config.data.seed),
      evaluate=contrastive_evaluator(config, model, text_input, test))


# -------------------------------------------------------------------- fine-tuning stages --

def train_classifier(config, workdir, model, predict, labelled, test, pretrained=None,
                     freeze=False):
  """Trains `model` (an image MultimodalClassifier) on the labelled examples, its image tower
  initialised from `pretrained` params (None: at random). freeze: the tower is kept in
  model_state, out of the optimizer's reach (no gradient, no weight decay): only the head
  trains. predict(variables, images) -> class ids (one jit shared by the stages). Returns
  (step, metrics on the test split)."""
  labels, num_classes = labelled["label"], int(model.num_classes)
  data = Batches(lambda idx: {"image": labelled["image"][idx], "label": labels[idx]},
                 config.batch_size, seed=config.data.seed, num_examples=len(labels))

  def init_fn(rng):
    params = model.init(rng, {"image": test["image"][:1]})["params"]
    if pretrained is not None:
      params = graft(params, "towers_image", pretrained)
    if freeze:
      tower = {"towers_image": params.pop("towers_image")}
      return params, {"frozen": tower}
    return params, {}

  def variables(params, model_state):
    return {"params": {**params, **model_state.get("frozen", {})}}

  def loss_fn(params, model_state, batch, rng, axis_name):
    logits = model.apply(variables(params, model_state), {"image": batch["image"]}, train=True,
                         rngs={"dropout": rng})
    accuracy = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    return softmax_cross_entropy(logits, batch["label"]), ({"accuracy": accuracy}, model_state)

  def evaluate(state, step):
    params = variables(state.eval_params, state.model_state)
    preds = apply_in_batches(lambda x, _: predict(params, x), test["image"],
                             config.eval.batch_size)
    out = classification_metrics(test["label"], preds.astype(np.int64), num_classes)
    return {k: v for k, v in out.items() if isinstance(v, float)}

  return train.train_or_restore(config, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                train_data=data, evaluate=evaluate)


def probe(config, tower_params, labelled, test, num_classes) -> dict:
  """Logistic regression on the frozen tower's pooled features of the labelled images, scored
  on the test images (mmjax.evaluate.linear_probe)."""
  tower = IMAGE_ENCODERS.build(config.model.image_encoder, "model.image_encoder",
                               **dict(config.model.image), dtype=jnp.dtype(config.compute_dtype))
  pooled = jax.jit(lambda x: tower.apply({"params": tower_params}, x)[0])
  features = lambda x: apply_in_batches(lambda b, _: pooled(b), x,
                                        config.eval.batch_size).astype(np.float32)
  return linear_probe(features(labelled["image"]), labelled["label"], features(test["image"]),
                      test["label"], num_classes)


# ------------------------------------------------------------------------------ the runs --

def run_finetune(config, workdir) -> dict:
  stages, f = stage_configs(config), config.finetune
  world = make_world(config)
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"), world.vocabulary())
  check_templates(config, tokenizer)
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  results = {"experiment": "finetune", "task": f.task, "num_labels": f.num_labels,
             "freeze_encoder": f.freeze_encoder}

  # Stage 1: CLIP pretraining on image-caption pairs (no labels).
  step, metrics = train_contrastive(stages["pretrain"], os.path.join(workdir, "pretrain"),
                                    two_tower(config, tokenizer.vocab_size), world, tokens,
                                    contrastive_test(config, world))
  results.update({"pretrain/step": step, **{f"pretrain/{k}": v for k, v in metrics.items()}})

  # Stages 2 and 3: the same classifier from the pretrained tower and from scratch, trained on
  # train images 0 .. num_labels - 1 (pretraining saw them with captions, never with labels).
  n, m = f.num_labels, config.eval.num_examples
  labelled = {"image": images(world, "train", range(n)),
              "label": world.first_object_labels("train", range(n))[f.task]}
  test = {"image": images(world, "test", range(m)),
          "label": world.first_object_labels("test", range(m))[f.task]}
  model = MultimodalClassifier(
      num_classes=len(CLASSES[f.task]), modalities=("image",),
      encoders={"image": {"name": config.model.image_encoder, **dict(config.model.image)}},
      head_options=dict(hidden=tuple(f.head_hidden), dropout=f.dropout),
      dtype=jnp.dtype(config.compute_dtype))
  predict = jax.jit(lambda v, x: jnp.argmax(model.apply(v, {"image": x}), -1))
  tower = checkpoint_params(os.path.join(workdir, "pretrain", "checkpoints"))["img_tower"]
  for name, init in (("finetune", tower), ("scratch", None)):
    step, metrics = train_classifier(stages[name], os.path.join(workdir, name), model, predict,
                                     labelled, test, pretrained=init, freeze=f.freeze_encoder)
    results.update({f"{name}/step": step, f"{name}/accuracy": metrics["accuracy"],
                    f"{name}/macro_f1": metrics["macro_f1"]})
  if f.linear_probe:
    out = probe(config, tower, labelled, test, len(CLASSES[f.task]))
    results.update({"linear_probe/accuracy": out["accuracy"], "linear_probe/l2": out["l2"]})
  results["chance"] = float(np.bincount(test["label"]).max() / len(test["label"]))  # majority
  results["num_test_examples"] = m
  return results


def run_lit(config, workdir) -> dict:
  stages = stage_configs(config)
  # Loaded first: a missing MiniLM package fails in seconds, naming the pip command.
  locked_text = CachedTextEmbedder.minilm(config.lit.text_max_len)
  world = make_world(config)
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"), world.vocabulary())
  check_templates(config, tokenizer)
  test = contrastive_test(config, world)
  lit = LockedTextTwoTower(image_encoder=config.model.image_encoder,
                           image=dict(config.model.image), embed_dim=config.model.embed_dim,
                           project_text=config.lit.project_text,
                           dtype=jnp.dtype(config.compute_dtype), **logit_inits(config))
  results = {"experiment": "lit", "text_tower": "all-MiniLM-L6-v2 (locked)",
             "num_test_examples": len(test["keys"])}
  for name, model, text_input in (
      ("lit", lit, locked_text),
      ("scratch_text", two_tower(config, tokenizer.vocab_size),
       lambda captions: tokenizer.encode_batch(captions, config.data.text_len))):
    step, metrics = train_contrastive(stages[name], os.path.join(workdir, name), model, world,
                                      text_input, test)
    results.update({f"{name}/step": step, **{f"{name}/{k}": v for k, v in metrics.items()}})
  results["locked_text/cached_texts"] = len(locked_text)
  return results


def report(results):
  """The comparison, as a few printed lines."""
  r = results
  if r["experiment"] == "finetune":
    print(f"{r['task']} of the first object from {r['num_labels']} labels, "
          f"{r['num_test_examples']} test images (majority class {r['chance']:.3f}):")
    for name in ("finetune", "scratch", "linear_probe"):
      if f"{name}/accuracy" in r:
        print(f"  {name:13s} accuracy {r[name + '/accuracy']:.3f}")
    print(f"  (pretraining: i2t R@1 {r['pretrain/i2t/R@1']:.3f}, "
          f"t2i R@1 {r['pretrain/t2i/R@1']:.3f})")
    return
  keys = sorted(k[4:] for k in r if k.startswith("lit/") and "chance" not in k and k != "lit/step")
  print(f"{'':32s} {'locked MiniLM':>14s} {'scratch text':>13s}")
  for k in keys:
    print(f"  {k:30s} {r['lit/' + k]:14.3f} {r.get('scratch_text/' + k, float('nan')):13.3f}")


def run(config, workdir) -> dict:
  """Runs (or with eval_only, re-evaluates) every stage; writes and returns results.json's dict."""
  check_config(config)
  os.makedirs(workdir, exist_ok=True)
  results = (run_lit if config.experiment == "lit" else run_finetune)(config, workdir)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
  report(results)
  return results


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO.
  run(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  # Defined only when run as a script, so that tests can import this module and call `run`.
  config_flags.DEFINE_config_file("config", None, "Config file, e.g. "
                                  "configs/pretrain_finetune.py:tiny.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Where each stage's checkpoints, metrics and results go.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
