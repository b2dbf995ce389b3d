"""CLIP / SigLIP pretraining of a two-tower image-text model, then retrieval, zero-shot
classification with prompt templates, and a linear probe on the image tower's pooled features.

  python experiments/contrastive.py --config configs/contrastive.py:tiny --workdir runs/clip

config -> data -> model -> train -> evaluate -> write results.json.
"""

import json
import os

from absl import app, flags, logging
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_flags

from mmjax import train
from mmjax.data.pipeline import Batches
from mmjax.data.synthetic import SceneWorld
from mmjax.data.tokenizer import WordTokenizer
from mmjax.data.synthetic.scenes import ATTRIBUTES
from mmjax.evaluate.linear_probe import linear_probe
from mmjax.evaluate.retrieval import retrieval_metrics
from mmjax.evaluate.zero_shot import class_embeddings, zero_shot_accuracy
from mmjax.losses.contrastive import CONTRASTIVE_LOSSES
from mmjax.models import TwoTower
from mmjax.registry import ConfigError

FLAGS = flags.FLAGS

MEAN, STD = 0.5, 0.25  # pixel normalisation of the synthetic world's [0, 1] images.
# Attribute classification tasks: the class names of the first object (in reading order).
CLASSES = {a: ATTRIBUTES[a] for a in ("shape", "colour")}


def check_eval_config(config, tokenizer):
  """Fail before compiling on an unknown task or a template word the tokenizer lacks."""
  for key in ("zero_shot_tasks", "probe_tasks"):
    for task in config.eval[key]:
      if task not in CLASSES:
        raise ConfigError(f"eval.{key} has {task!r}; valid choices: {', '.join(CLASSES)}.")
  for t in config.eval.zero_shot_templates:
    unknown = [w for w in tokenizer.words(t.replace("{c}", "")) if w not in tokenizer.stoi]
    if "{c}" not in t or unknown:
      raise ConfigError(f"eval.zero_shot_templates has {t!r}: it needs a '{{c}}' slot and only "
                        f"caption words (unknown: {unknown}); e.g. 'a picture of a {{c}}'.")


def make_data(config, workdir):
  if config.data.source != "shapes":
    raise ConfigError(f"data.source={config.data.source!r}; valid choices: shapes.")
  world = SceneWorld(config.data.seed, config.data.image_size, config.data.max_objects,
                     config.data.noise)
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"), world.vocabulary())
  max_len = config.model.text.max_len

  def batch_fn(split):
    def make(indices):
      ex = [world.example(split, int(i)) for i in indices]
      return {"images": (np.stack([e["image"] for e in ex]) - MEAN) / STD,
              "tokens": tokenizer.encode_batch([e["caption"] for e in ex], max_len),
              "keys": np.array([e["key"] for e in ex])}
    return make

  train_make = batch_fn("train")
  train_data = Batches(lambda idx: {k: v for k, v in train_make(idx).items() if k != "keys"},
                       config.batch_size, seed=config.data.seed)
  test = batch_fn("test")(np.arange(config.eval.num_examples))
  test.update(world.first_object_labels("test", range(config.eval.num_examples), CLASSES))
  # The probe fits on train-split images and is scored on the test images.
  probe = None
  if config.eval.probe_tasks:
    idx = np.arange(config.eval.probe_examples)
    probe = {"images": (np.stack([world.example("train", int(i), ("image",))["image"]
                                  for i in idx]) - MEAN) / STD,
             **world.first_object_labels("train", idx, CLASSES)}
  return train_data, test, probe, tokenizer


def make_model(config, vocab_size):
  text = dict(config.model.text)
  text.setdefault("vocab_size", vocab_size)
  if text["vocab_size"] < vocab_size:
    raise ConfigError(f"model.text.vocab_size={text['vocab_size']} is smaller than the "
                      f"tokenizer's vocabulary ({vocab_size}).")
  sigmoid = config.model.loss == "sigmoid"
  return TwoTower(image_encoder=config.model.image_encoder, image=dict(config.model.image),
                  text_encoder=config.model.text_encoder, text=text,
                  embed_dim=config.model.embed_dim,
                  # SigLIP's init: t' = log 10, b = -10 (Zhai et al. 2023); CLIP's: log(1/0.07).
                  logit_scale_init=float(np.log(10.0) if sigmoid else np.log(1 / 0.07)),
                  logit_bias_init=-10.0 if sigmoid else 0.0,
                  dtype=jnp.dtype(config.compute_dtype))


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores) and evaluates; writes and returns the results."""
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO.
  train.validate(config)
  loss_impl = CONTRASTIVE_LOSSES.get(config.model.loss, "model.loss")
  train_data, test, probe, tokenizer = make_data(config, workdir)
  check_eval_config(config, tokenizer)
  model = make_model(config, tokenizer.vocab_size)
  s = config.data.image_size

  def init_fn(rng):
    params = model.init(rng, jnp.zeros((1, s, s, 3)),
                        jnp.zeros((1, config.model.text.max_len), jnp.int32))["params"]
    return params, {}

  def loss_fn(params, model_state, batch, rng, axis_name):
    zimg, ztxt, out = model.apply({"params": params}, batch["images"], batch["tokens"], train=True)
    loss = loss_impl(zimg, ztxt, out["logit_scale"], out["logit_bias"], axis_name=axis_name)
    return loss, ({"temperature": 1.0 / jnp.exp(out["logit_scale"])}, model_state)

  def _embed(p, x, t):
    zimg, ztxt, extras = model.apply({"params": p}, x, t)
    return zimg, ztxt, extras["img/pooled"]

  embed = jax.jit(_embed)
  embed_images = jax.jit(lambda p, x: model.apply({"params": p}, x, None)[2]["img/pooled"])
  embed_text = jax.jit(lambda p, t: model.apply({"params": p}, None, t)[1])

  def evaluate(state, step):
    params = state.eval_params
    bs, n = config.eval.batch_size, len(test["keys"])
    outs = [embed(params, test["images"][i:i + bs], test["tokens"][i:i + bs])
            for i in range(0, n, bs)]
    zimg, ztxt, pooled = (np.concatenate([np.asarray(o[j]) for o in outs]) for j in (0, 1, 2))
    metrics = retrieval_metrics(zimg, ztxt, test["keys"])
    # Zero-shot on the single-object test images, whose one object is the thing to name.
    single = test["n_objects"] == 1
    encode = lambda texts: np.asarray(embed_text(
        params, tokenizer.encode_batch(texts, config.model.text.max_len)))
    for task in config.eval.zero_shot_tasks if single.any() else ():
      cls = class_embeddings(encode, CLASSES[task], config.eval.zero_shot_templates)
      for k, v in zero_shot_accuracy(zimg[single], cls, test[task][single]).items():
        metrics[f"zero_shot/{task}/{k}"] = v
    if config.eval.probe_tasks:
      feats = np.concatenate([np.asarray(embed_images(params, probe["images"][i:i + bs]))
                              for i in range(0, len(probe["images"]), bs)])
      for task in config.eval.probe_tasks:
        out = linear_probe(feats, probe[task], pooled, test[task], len(CLASSES[task]))
        metrics.update({f"linear_probe/{task}/{k}": v for k, v in out.items()})
    return metrics

  step, metrics = train.train_or_restore(config, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                         train_data=train_data, evaluate=evaluate)
  results = {"step": step, **metrics}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
  print(f"Retrieval on {len(test['keys'])} test pairs at step {step}:")
  for k in ("i2t/R@1", "i2t/R@5", "i2t/R@10", "t2i/R@1", "t2i/R@5", "t2i/R@10"):
    print(f"  {k:9s} {metrics[k]:.3f}   (chance {metrics[k.replace('R@', 'chance_R@')]:.3f})")
  for k in sorted(metrics):
    if k.endswith("/top1") or k.endswith("/accuracy"):
      chance = k.replace("/top1", "/chance_top1").replace("/accuracy", "/chance")
      print(f"  {k:30s} {metrics[k]:.3f}   (chance {metrics[chance]:.3f})")
  return results


def main(argv):
  del argv
  run(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  # Flags are defined only when run as a script, so tests can import `run` in-process without
  # clashing with other experiments' flags of the same names.
  config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/contrastive.py:tiny.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
