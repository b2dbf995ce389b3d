"""AV-MNIST (a degraded MNIST digit + a noisy spoken digit) with MultiBench's encoders, fusions
and training recipes; the checkpoint with the best validation accuracy is tested.

  python experiments/av_mnist.py --config configs/av_mnist.py:multiplicative \
      --workdir runs/av_mnist_mi --config.data.source.av_mnist.data_dir=DIR

Or on your own image + audio + label files (`:manifest` presets; e.g. real FSDD recordings and
MNIST digits, `python -m mmjax.data.prepare fsdd_mnist` writes them):
  python experiments/av_mnist.py --config configs/av_mnist.py:late,manifest \
      --workdir runs/avm_late --config.data.source.manifest.dir=DIR

config -> data (tfds mnist + spoken_digit, never downloaded; or manifests) -> model -> train,
validating every epoch and keeping the best parameters -> test them -> write results.json.
"""

import json
import os

import flax.serialization
import jax
import numpy as np

from mmjax import experiment, train
from mmjax.data.pipeline import Batches
from mmjax.evaluate.classification import classification_metrics
from mmjax.registry import ConfigError
from mmjax.tasks import classification
from mmjax.tasks.digits import BEST_PARAMS, BEST_RECORD, best_variables, keep, setup
from mmjax.train import parallel


def run(config, workdir, splits=None) -> dict:
  """Trains (or with eval_only restores) and tests; returns and writes results.json.
  splits: the data source's splits already built (`sources.build(config.data)`), to reuse them
  (tests, notebooks)."""
  train.validate(config)
  if config.eval.batch_size < 1:
    raise ConfigError(f"eval.batch_size={config.eval.batch_size}; it must be >= 1.")
  mods, splits, num_classes, model = setup(config, splits)
  train_split, val, test = splits["train"], splits["val"], splits["test"]
  train_data = Batches(lambda idx: keep(train_split.make_batch(idx), mods), config.batch_size,
                       num_examples=len(train_split), seed=config.data.seed)
  example = keep(val.make_batch([0]), mods)
  missing = classification.left_out(model, mods)  # the test set is also scored without each
  # Each set of inputs compiled once, with the XLA options the trainer compiles its step with.
  options = parallel.compiler_options(config.compute_dtype)
  predict = {given: classification.predictor(model, compiler_options=options)
             for given in [mods] + [tuple(m for m in mods if m != gone) for gone in missing]}

  def predictions(variables, split, given=mods):
    """Class ids [n] of a whole split, in eval.batch_size chunks built on the fly (the test
    audio alone would take 320 MB)."""
    return classification.in_batches(predict[given], variables,
                                     lambda idx: keep(split.make_batch(idx), given),
                                     config.eval.batch_size, len(split))

  best_path, record_path = (os.path.join(workdir, f) for f in (BEST_PARAMS, BEST_RECORD))

  def evaluate(state, step):
    # MultiBench keeps the parameters of the epoch with the best validation accuracy and tests
    # those. The record lives in the workdir, so a resumed run keeps comparing against it.
    variables = jax.device_get(classification.variables_of(state))
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
    best = best_variables(workdir, variables)
    metrics = classification_metrics(test.labels, predictions(best, test), num_classes)
    for gone in missing:
      kept = tuple(m for m in mods if m != gone)
      metrics[f"missing_{gone}/accuracy"] = float(np.mean(predictions(best, test, kept)
                                                          == test.labels))
    return {**scalars, "test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"],
            "test": metrics, "best": {"step": record["step"], "val_curve": record["val_curve"]}}

  result = train.train_or_restore(
      config, workdir, init_fn=classification.init_fn(model, {m: example[m] for m in mods}),
      loss_fn=classification.loss_fn(model, mods, config.model), train_data=train_data,
      evaluate=evaluate)
  final = result.eval_metrics
  fusion = config.model.fusion.name if len(mods) > 1 else None
  results = {"step": result.step, "modalities": list(mods), "fusion": fusion,
             "num_val_examples": len(val), "num_test_examples": len(test),
             "chance": 1 / num_classes,
             **final["test"], "best_step": final["best"]["step"],
             "val_curve": final["best"]["val_curve"], "val_accuracy": final["val_accuracy"],
             "best_val_accuracy": final["best_val_accuracy"]}
  experiment.write_results(workdir, results)
  print(f"AV-MNIST {'+'.join(mods)}{f' ({fusion})' if fusion else ''}: best validation "
        f"accuracy {results['best_val_accuracy']:.4f} at step {results['best_step']} of "
        f"{result.step}; its test accuracy {results['accuracy']:.4f}, macro F1 "
        f"{results['macro_f1']:.4f} on {len(test)} test examples (chance {1 / num_classes:.3f}).")
  for gone in missing:
    print(f"  without {gone}: test accuracy {results[f'missing_{gone}/accuracy']:.4f}")
  return results


if __name__ == "__main__":
  experiment.main(run)
