"""AV-MNIST (a degraded MNIST digit + a noisy spoken digit) with MultiBench's encoders, fusions
and training recipes; the checkpoint with the best validation accuracy is tested.

  python experiments/av_mnist.py --config configs/av_mnist.py:multiplicative \
      --workdir runs/av_mnist_mi --config.data.data_dir=DIR

config -> data (tfds mnist + spoken_digit, never downloaded) -> model -> train, validating every
epoch and keeping the best parameters -> test them -> write results.json.
"""

import json
import os

from absl import app, flags, logging
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_flags

from mmjax import train
from mmjax.data.pipeline import Batches
from mmjax.data.tfds import AVMnist
from mmjax.evaluate.classification import classification_metrics
from mmjax.losses.classification import softmax_cross_entropy
from mmjax.models import FUSIONS, HEADS
from mmjax.models.multimodal_classifier import (MultimodalClassifier, auxiliary_loss,
                                                encoder_registry)
from mmjax.registry import ConfigError
from mmjax.train import parallel

MODALITIES = ("image", "audio")
NUM_CLASSES = 10
BEST_PARAMS, BEST_RECORD = "best_variables.msgpack", "best.json"


def modalities_of(config) -> tuple:
  # `--config.model.modalities=image,audio` arrives as ("image,audio",): split it.
  mods = tuple(m.strip() for s in config.model.modalities for m in str(s).split(",") if m.strip())
  if not mods or len(set(mods)) != len(mods) or not set(mods) <= set(MODALITIES):
    raise ConfigError(f"model.modalities={tuple(config.model.modalities)}; valid: a non-empty "
                      f"subset, without repeats, of {', '.join(MODALITIES)}.")
  return mods


def chosen(section, name) -> dict:
  """The option dict of the chosen `name` in `section` ({} when it has none)."""
  return dict(section[name].to_dict()) if name in section else {}


def load_splits(config) -> dict:
  """{"train", "val", "test": AVMnist}. A missing dataset fails here, in seconds."""
  d = config.data
  if d.audio_snr_db != float("inf") and not np.isfinite(d.audio_snr_db):
    raise ConfigError(f"data.audio_snr_db={d.audio_snr_db}; give a finite SNR in dB, or inf "
                      "for clean audio.")
  kw = dict(data_dir=d.data_dir or None, seed=d.seed, image_energy=d.image_energy,
            audio_snr_db=None if d.audio_snr_db == float("inf") else d.audio_snr_db,
            sample_rate=d.sample_rate, audio_length=d.audio_length)
  try:
    splits = AVMnist.splits(("train", "val", "test"), **kw)
  except FileNotFoundError as e:
    where = d.data_dir or "tfds' default data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)"
    raise FileNotFoundError(
        f"AV-MNIST is built from the tfds datasets mnist and spoken_digit, which are not "
        f"prepared in {where}. Prepare them once where downloading is allowed:\n"
        f"  tfds build mnist spoken_digit --data_dir DIR\nthen pass --config.data.data_dir=DIR. "
        f"({e})") from None
  return splits


def make_data(config, mods, splits):
  """(train batches, val source, test source, keep: AVMnist batch -> model inputs + label)."""
  make = splits["train"].make_batch
  keep = lambda b: {"label": b["labels"], **{m: b[{"image": "images"}.get(m, m)] for m in mods}}
  train_data = Batches(lambda idx: keep(make(idx)), config.batch_size,
                       num_examples=len(splits["train"]), seed=config.data.seed)
  return train_data, splits["val"], splits["test"], keep


def make_model(config, mods):
  """The MultimodalClassifier the config describes; every name is checked before compiling."""
  m = config.model
  encoders = {}
  for mod in mods:
    name = m.encoders[mod].name
    encoder_registry(mod).get(name, f"model.encoders.{mod}.name")
    encoders[mod] = {"name": name, **chosen(m.encoders[mod], name)}
    if mod == "audio":  # from the data, so that they can never disagree.
      encoders[mod]["sample_rate"] = float(config.data.sample_rate)
  if len(mods) > 1:
    FUSIONS.get(m.fusion, "model.fusion")
  HEADS.get(m.head, "model.head")
  return MultimodalClassifier(
      num_classes=NUM_CLASSES, modalities=mods, encoders=encoders, fusion=m.fusion,
      fusion_options=chosen(m.fusion_options, m.fusion), head=m.head,
      head_options=dict(m.head_options.to_dict()), dtype=jnp.dtype(config.compute_dtype))


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO.
  run(flags.FLAGS.config, flags.FLAGS.workdir)


def run(config, workdir, splits=None) -> dict:
  """Trains (or with eval_only restores) and tests; returns and writes results.json.
  splits: already loaded `load_splits(config)`, to reuse them (tests, notebooks)."""
  train.validate(config)
  if config.eval.batch_size < 1:
    raise ConfigError(f"eval.batch_size={config.eval.batch_size}; it must be >= 1.")
  mods = modalities_of(config)
  model = make_model(config, mods)
  train_data, val, test, keep = make_data(config, mods, splits or load_splits(config))
  example = keep(val.make_batch([0]))
  inputs = lambda batch: {k: batch[k] for k in mods}

  def init_fn(rng):
    variables = model.init(rng, inputs(example))
    return variables["params"], {k: v for k, v in variables.items() if k != "params"}

  def loss_fn(params, model_state, batch, rng, axis_name):
    logits, mutated = model.apply({"params": params, **model_state}, inputs(batch), train=True,
                                  rngs={"dropout": rng}, mutable=["losses", *model_state])
    task = softmax_cross_entropy(logits, batch["label"], config.model.label_smoothing)
    accuracy = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    return task + auxiliary_loss(mutated), (
        {"accuracy": accuracy}, {k: mutated[k] for k in model_state})

  forward = jax.jit(lambda variables, x: jnp.argmax(model.apply(variables, x), -1))
  compiled = []

  def predict(variables, x):
    if not compiled:  # once, with the XLA options the trainer compiles its step with.
      compiled.append(forward.lower(variables, x).compile(parallel.compiler_options()))
    return compiled[0](variables, x)

  def predictions(variables, source):
    """Class ids [n] for a whole split, in eval.batch_size chunks built on the fly (the test
    audio alone would take 320 MB); the last chunk is padded so predict compiles once."""
    bs, n, out = config.eval.batch_size, len(source), []
    for i in range(0, n, bs):
      idx = np.arange(i, min(i + bs, n))
      x = inputs(keep(source.make_batch(np.pad(idx, (0, bs - len(idx)), mode="edge"))))
      out.append(np.asarray(predict(variables, x))[:len(idx)])
    return np.concatenate(out)

  best_path, record_path = (os.path.join(workdir, f) for f in (BEST_PARAMS, BEST_RECORD))
  full = {}  # the final evaluation's every metric; the trainer logs only the scalars.

  def evaluate(state, step):
    # MultiBench keeps the parameters of the epoch with the best validation accuracy and tests
    # those. The record lives in the workdir, so a resumed run keeps comparing against it.
    params = state.eval_params
    variables = jax.device_get({"params": params, **state.model_state})
    val_acc = float(np.mean(predictions(variables, val) == val.labels))
    record = {"step": None, "val_accuracy": -1.0, "val_curve": {}}
    if os.path.exists(record_path):
      with open(record_path) as f:
        old = json.load(f)
      # Entries after this step are from a run this one does not continue (its checkpoints
      # are gone): forget them.
      if old["step"] is not None and old["step"] <= step:
        record = dict(old, val_curve={k: v for k, v in old["val_curve"].items() if int(k) <= step})
    record["val_curve"][str(step)] = val_acc
    improved = val_acc > record["val_accuracy"]
    if improved:
      record.update(step=step, val_accuracy=val_acc)
    if jax.process_index() == 0:
      if improved:
        with open(best_path, "wb") as f:
          f.write(flax.serialization.to_bytes(variables))
      with open(record_path, "w") as f:
        json.dump(record, f, indent=2)
    scalars = {"val_accuracy": val_acc, "best_val_accuracy": record["val_accuracy"]}
    if step < config.total_steps and not config.eval_only:
      return scalars
    with open(best_path, "rb") as f:
      best = flax.serialization.from_bytes(variables, f.read())
    metrics = classification_metrics(test.labels, predictions(best, test), NUM_CLASSES)
    full.update(metrics, best_step=record["step"], val_curve=record["val_curve"], **scalars)
    return {**scalars, "test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"]}

  step, _ = train.train_or_restore(config, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                   train_data=train_data, evaluate=evaluate)
  results = {"step": step, "modalities": list(mods),
             "fusion": config.model.fusion if len(mods) > 1 else None,
             "num_val_examples": len(val), "num_test_examples": len(test), "chance": 0.1, **full}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
  print(f"AV-MNIST {'+'.join(mods)}{' (' + results['fusion'] + ')' if results['fusion'] else ''}"
        f": best validation accuracy {full['best_val_accuracy']:.4f} at step "
        f"{full['best_step']} of {step}; its test accuracy {full['accuracy']:.4f}, macro F1 "
        f"{full['macro_f1']:.4f} on {len(test)} test examples (chance 0.1).")
  return results


if __name__ == "__main__":
  # Flags only when run as a script, so that tests can import several experiments' mains.
  config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/av_mnist.py:late.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
