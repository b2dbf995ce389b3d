"""Multimodal classification on the synthetic world's labelled tasks (redundant, unique,
synergy), or on your own files' labels (data.source manifest: image / text / audio and label
fields): one encoder per modality, a fusion, a head; one modality gives the unimodal baseline.

  python experiments/fusion_classification.py --config configs/fusion.py:tiny --workdir runs/fus

config -> data -> model -> train -> evaluate on the test split -> write results.json (accuracy,
macro P/R/F1, confusion matrix, beside the task's chance and Bayes-optimal accuracy). The model,
batches and loss are mmjax.tasks.classification's, which experiments/evaluate.py also uses to
evaluate a finished run's checkpoint further. compositional/accuracy and compositional/macro_f1:
the same on eval.compositional_examples test_compositional examples, whose scenes each have a
(shape, colour) pair training never sees (data.source.shapes.held_out).
"""

import os

import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.evaluate.classification import classification_metrics
from mmjax.tasks import classification


def run(config, workdir) -> dict:
  """Trains (or with eval_only, restores) and evaluates; writes and returns results.json's dict."""
  train.validate(config)
  mods, world, task, info, tokenizer, model = classification.setup(
      config, os.path.join(workdir, "vocab.json"))
  batches = lambda split: classification.batch_maker(world, split, mods, tokenizer,
                                                     config.data.text_len)
  n_test = sources.size(world, "test") or config.eval.num_examples
  train_data = Batches(batches("train"), config.batch_size, seed=config.data.seed,
                       num_examples=sources.size(world, "train"))
  test = batches("test")(np.arange(min(config.eval.num_examples, n_test)))
  n_comp = sources.compositional_examples(world, config.eval.compositional_examples)
  comp = batches("test_compositional")(np.arange(n_comp)) if n_comp else None
  inputs = {m: test[m] for m in mods}
  probabilities = classification.predictor(model, probabilities=True)

  missing = classification.left_out(model, mods)  # each modality left out at test time

  def scored(state, split, given=mods):
    probs = classification.in_batches(probabilities, classification.variables_of(state),
                                      {m: split[m] for m in given}, config.eval.batch_size)
    return classification_metrics(split["label"], probs.argmax(-1), info["num_classes"])

  def evaluate(state, step):
    metrics = scored(state, test)
    if comp is not None:  # scenes with a held-out pair
      metrics.update({f"compositional/{k}": v for k, v in scored(state, comp).items()
                      if k in ("accuracy", "macro_f1")})
    for gone in missing:
      kept = tuple(m for m in mods if m != gone)
      metrics[f"missing_{gone}/accuracy"] = scored(state, test, kept)["accuracy"]
    return metrics

  result = train.train_or_restore(
      config, workdir, init_fn=classification.init_fn(model, inputs),
      loss_fn=classification.loss_fn(model, mods, config.model), train_data=train_data,
      evaluate=evaluate)
  fusion = config.model.fusion.name if len(mods) > 1 else None
  results = {"step": result.step, "task": task, "modalities": list(mods), "fusion": fusion,
             "num_test_examples": len(test["label"]), **result.eval_metrics,
             **({"compositional/num_test_examples": n_comp} if n_comp else {}),
             "chance": info["chance"], "bayes_optimal": classification.bayes_for(info, mods),
             "bayes_optimal_all_modalities": info["bayes_optimal"],
             "unimodal_bayes": info["unimodal_bayes"]}
  experiment.write_results(workdir, results)
  print(f"{task} with {'+'.join(mods)}{f' ({fusion})' if fusion else ''}, "
        f"{len(test['label'])} test examples at step {result.step}:")
  bayes = results["bayes_optimal"]
  print(f"  accuracy {results['accuracy']:.3f}  macro F1 {results['macro_f1']:.3f}  "
        f"(chance {info['chance']:.3f}"
        + (f", Bayes-optimal {bayes:.3f})" if bayes is not None else ")"))
  for gone in missing:
    kept = [m for m in mods if m != gone]
    ceiling = classification.bayes_for(info, kept)
    print(f"  without {gone}: accuracy {results[f'missing_{gone}/accuracy']:.3f}"
          + (f" (Bayes-optimal from {'+'.join(kept)} {ceiling:.3f})" if ceiling else ""))
  if comp is not None:
    print(f"  test_compositional ({n_comp} examples, a held-out pair in each scene): accuracy "
          f"{results['compositional/accuracy']:.3f}  macro F1 "
          f"{results['compositional/macro_f1']:.3f}")
  return results


if __name__ == "__main__":
  experiment.main(run)
