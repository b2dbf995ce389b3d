"""Multimodal classification on the synthetic world's labelled tasks (redundant, unique,
synergy): one encoder per modality, a fusion, a head; one modality gives the unimodal baseline.

  python experiments/fusion_classification.py --config configs/fusion.py:tiny --workdir runs/fus

config -> data -> model -> train -> evaluate on the test split -> write results.json (accuracy,
macro P/R/F1, confusion matrix, beside the task's chance and Bayes-optimal accuracy).
The builders (make_world, batch_maker, make_model, make_init_fn, make_predict) are reused by
experiments/evaluate.py, which evaluates a finished run's checkpoint further.
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
from mmjax.data.synthetic import TASKS, SceneWorld, task_info
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.classification import classification_metrics
from mmjax.losses.classification import softmax_cross_entropy
from mmjax.models import FUSIONS, HEADS
from mmjax.models.multimodal_classifier import (MODALITIES, MultimodalClassifier,
                                                auxiliary_loss, encoder_registry)
from mmjax.registry import ConfigError

FLAGS = flags.FLAGS

MEAN, STD = 0.5, 0.25  # pixel normalisation of the synthetic world's [0, 1] images.


def modalities_of(config) -> tuple:
  # `--config.model.modalities=image,audio` arrives as ("image,audio",): split it.
  mods = tuple(m.strip() for s in config.model.modalities for m in str(s).split(",") if m.strip())
  if not mods or len(set(mods)) != len(mods) or not set(mods) <= set(MODALITIES):
    raise ConfigError(f"model.modalities={tuple(config.model.modalities)}; valid: a non-empty "
                      f"subset, without repeats, of {', '.join(MODALITIES)}.")
  return mods


def check_choices(config, mods):
  """Every name the config chooses must be registered; fails in seconds, naming the key."""
  TASKS.get(config.data.task, "data.task")
  for mod in mods:
    encoder_registry(mod).get(config.model.encoders[mod].name, f"model.encoders.{mod}.name")
  FUSIONS.get(config.model.fusion, "model.fusion")
  HEADS.get(config.model.head, "model.head")


def chosen(section, name) -> dict:
  """The option dict of the chosen `name` in `section` ({} when it has none)."""
  return dict(section[name].to_dict()) if name in section else {}


def bayes_for(info, mods) -> float:
  """The Bayes-optimal accuracy seeing `mods`: text and audio both carry the caption."""
  views = {"image" if m == "image" else "audio" for m in mods}
  return info["bayes_optimal"] if len(views) == 2 else info["unimodal_bayes"][views.pop()]


def make_world(config):
  """(SceneWorld of config.data, the chosen task's options). `data.held_out` (shape, colour)
  pairs, when the config has them, are kept out of train/test for the test_compositional split."""
  d = config.data
  options = chosen(d.task_options, d.task)
  world = SceneWorld(d.seed, d.image_size, d.max_objects, d.noise, clutter=d.clutter,
                     occlusion=d.occlusion, held_out=tuple(map(tuple, d.get("held_out", ()))),
                     task=d.task, task_options=options, sample_rate=d.sample_rate,
                     snr_db=d.snr_db, audio_seconds=d.audio_seconds)
  return world, options


def batch_maker(config, world, tokenizer, mods, split):
  """make(indices int [n]) -> {"label": int32 [n]; per modality in mods: "image" [n, s, s, 3]
  normalised pixels, "text" int32 [n, data.text_len] caption ids, "audio" [n, samples] wave}."""
  fields = ("labels",) + tuple({"image": "image", "text": "caption", "audio": "audio"}[m]
                               for m in mods)

  def make(indices):
    ex = [world.example(split, int(i), fields) for i in indices]
    out = {"label": np.array([e["label"] for e in ex], np.int32)}
    if "image" in mods:
      out["image"] = ((np.stack([e["image"] for e in ex]) - MEAN) / STD).astype(np.float32)
    if "text" in mods:
      out["text"] = tokenizer.encode_batch([e["caption"] for e in ex], config.data.text_len)
    if "audio" in mods:
      out["audio"] = np.stack([e["audio"] for e in ex])
    return out
  return make


def make_data(config, workdir, mods):
  world, options = make_world(config)
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"), world.vocabulary())
  train_data = Batches(batch_maker(config, world, tokenizer, mods, "train"), config.batch_size,
                       seed=config.data.seed)
  test = batch_maker(config, world, tokenizer, mods, "test")(np.arange(config.eval.num_examples))
  return train_data, test, tokenizer, task_info(config.data.task, **options)


def make_model(config, mods, vocab_size, num_classes):
  m = config.model
  encoders = {}
  for mod in mods:
    name = m.encoders[mod].name
    encoders[mod] = {"name": name, **encoder_registry(mod).with_data_fields(
        name, chosen(m.encoders[mod], name), vocab_size=vocab_size,
        max_len=config.data.text_len, sample_rate=float(config.data.sample_rate))}
  return MultimodalClassifier(
      num_classes=num_classes, modalities=mods, encoders=encoders, fusion=m.fusion,
      fusion_options=chosen(m.fusion_options, m.fusion),
      head=m.head, head_options=dict(m.head_options.to_dict()),
      dtype=jnp.dtype(config.compute_dtype))


def make_init_fn(model, example):
  """init_fn(rng) -> (params, model_state) for the trainer, initialised on inputs `example`
  ({modality: [n, ...]})."""
  def init_fn(rng):
    variables = model.init(rng, jax.tree.map(lambda x: x[:1], example))
    return variables["params"], {k: v for k, v in variables.items() if k not in ("params",
                                                                                  "losses")}
  return init_fn


def variables_of(state):
  """The variables to evaluate: the EMA of the params when kept, and the model state."""
  params = state.eval_params
  return {"params": params, **state.model_state}


def make_predict(model, batch_size):
  """probabilities(variables, inputs {modality: [n, ...]}) -> float32 [n, classes] (softmax),
  computed in batches of batch_size."""
  apply = jax.jit(lambda variables, x: jax.nn.softmax(model.apply(variables, x), -1))

  def probabilities(variables, inputs):
    return apply_in_batches(lambda x, _: apply(variables, x), inputs, batch_size)
  return probabilities


def run(config, workdir) -> dict:
  """Trains (or with eval_only, restores) and evaluates; writes and returns results.json's dict."""
  train.validate(config)
  mods = modalities_of(config)
  check_choices(config, mods)
  train_data, test, tokenizer, info = make_data(config, workdir, mods)
  model = make_model(config, mods, tokenizer.vocab_size, info["num_classes"])
  inputs = lambda batch: {k: batch[k] for k in mods}

  def loss_fn(params, model_state, batch, rng, axis_name):
    logits, mutated = model.apply({"params": params, **model_state}, inputs(batch), train=True,
                                  rngs={"dropout": rng}, mutable=["losses", *model_state])
    task = softmax_cross_entropy(logits, batch["label"], config.model.label_smoothing)
    aux = auxiliary_loss(mutated)
    accuracy = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    new_state = {k: mutated[k] for k in model_state}
    return task + config.model.aux_loss_weight * aux, (
        {"task_loss": task, "aux_loss": aux, "accuracy": accuracy}, new_state)

  probabilities = make_predict(model, config.eval.batch_size)
  full = {}  # step -> every metric; the trainer logs only the scalars.

  def evaluate(state, step):
    preds = probabilities(variables_of(state), inputs(test)).argmax(-1)
    full[step] = classification_metrics(test["label"], preds, info["num_classes"])
    return {k: v for k, v in full[step].items() if isinstance(v, float)}

  step, _ = train.train_or_restore(config, workdir, init_fn=make_init_fn(model, inputs(test)),
                                   loss_fn=loss_fn, train_data=train_data, evaluate=evaluate)
  metrics = full[step]
  results = {"step": step, "task": config.data.task, "modalities": list(mods),
             "fusion": config.model.fusion if len(mods) > 1 else None,
             "num_test_examples": len(test["label"]), **metrics,
             "chance": info["chance"], "bayes_optimal": bayes_for(info, mods),
             "bayes_optimal_all_modalities": info["bayes_optimal"],
             "unimodal_bayes": info["unimodal_bayes"]}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
  print(f"{config.data.task} with {'+'.join(mods)}"
        f"{' (' + config.model.fusion + ')' if len(mods) > 1 else ''}, "
        f"{len(test['label'])} test examples at step {step}:")
  print(f"  accuracy {metrics['accuracy']:.3f}  macro F1 {metrics['macro_f1']:.3f}  "
        f"(chance {info['chance']:.3f}, Bayes-optimal {results['bayes_optimal']:.3f})")
  return results


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO.
  run(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  # Defined only when run as a script, so that experiments/evaluate.py can import the builders.
  config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/fusion.py:synergy.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
