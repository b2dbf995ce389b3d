"""Visual question answering: a question encoder, an image encoder (and optionally an encoder of
the spoken caption), a fusion and a classifier over the answers: the synthetic world's, or
those of your own files (data.source manifest: image, question, answer and optionally
question_type fields; the classes are the train split's answers).

  python experiments/vqa.py --config configs/vqa.py:tiny --workdir runs/vqa

config -> data -> model -> train -> evaluate on the test split -> write results.json (accuracy
overall and per question type, beside the majority-answer-per-type prior counted on the training
split and each type's question-only Bayes accuracy) and examples.json / examples.png.
compositional/accuracy (and compositional/per_type): the same on eval.compositional_examples
questions about test_compositional scenes, each with a (shape, colour) pair training never sees
(data.source.shapes.held_out).
"""

import json
import os

import jax

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic import ANSWERS
from mmjax.data.synthetic.questions import vqa_info
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate.image_grid import save_image_grid
from mmjax.evaluate.vqa_accuracy import accuracy_by_type, exact_match, prior_predictions
from mmjax.registry import ConfigError
from mmjax.tasks import classification
from mmjax.tasks.vqa import question_prior, vqa_data


def check_config(config):
  """The evaluation sizes are integers in range; fails in seconds, naming the key."""
  for section, key, least in (("eval", "num_examples", 1), ("eval", "batch_size", 1),
                              ("eval", "num_examples_saved", 0), ("data", "prior_examples", 1)):
    value = config[section][key]
    if not isinstance(value, int) or value < least:
      raise ConfigError(f"{section}.{key}={value!r}; it must be an integer >= {least}.")


def save_examples(workdir, test, predictions, prior, n, answers):
  """The first n test questions with the answer, the model's and the prior's: a JSON file, and
  a PNG of the images with them when the model saw images."""
  rows = [{"index": i, "question_type": test["question_type"][i],
           "question": test["question_text"][i], "answer": test["answer_text"][i],
           "prediction": answers[predictions[i]],
           "prior": answers[prior[test["question_type"][i]]]} for i in range(n)]
  with open(os.path.join(workdir, "examples.json"), "w") as f:
    json.dump(rows, f, indent=2)
  if "image" in test and n:
    save_image_grid(os.path.join(workdir, "examples.png"),
                    [sources.denormalize(test["image"][r["index"]]) for r in rows],
                    [f"{r['question']}\nanswer {r['answer']}, predicted {r['prediction']}"
                     for r in rows], columns=4, panel_size=(3.0, 3.2),
                    title_colours=["green" if r["answer"] == r["prediction"] else "red"
                                   for r in rows])
  return rows


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores) and evaluates; writes and returns the results."""
  train.validate(config)
  names = classification.inputs_of(config)
  check_config(config)
  world = sources.build(config.data, reads=("shapes", "manifest"))
  files = sources.size(world, "train") is not None
  if files:
    sources.require(world, ("qa",) + tuple(n for n in ("image", "audio") if n in names))
  answers = world.answers() if files else ANSWERS
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"),
                                          world.vocabulary(questions_too=True))
  model = classification.vqa_model(config, names, len(answers), tokenizer.vocab_size)
  n_comp = sources.compositional_examples(world, config.eval.compositional_examples)
  train_data, test, comp = vqa_data(config, world, tokenizer, names, n_comp)
  prior = question_prior(config, world, tokenizer, test["question_type"])
  inputs = {k: test[k] for k in names}
  predict = classification.predictor(model)

  missing = classification.left_out(model, names)  # each input left out at test time

  def scored(variables, split, given=names):
    predictions = classification.in_batches(predict, variables, {k: split[k] for k in given},
                                            config.eval.batch_size)
    return predictions, accuracy_by_type(exact_match(predictions, split["answer"]),
                                         split["question_type"])

  def evaluate(state, step):
    predictions, by_type = scored(classification.variables_of(state), test)
    metrics = {"accuracy": by_type["accuracy"],
               **{f"accuracy/{t}": a for t, a in by_type["per_type"].items()},
               "by_type": by_type, "predictions": predictions.tolist()}
    for gone in missing:
      kept = tuple(k for k in names if k != gone)
      metrics[f"missing_{gone}/accuracy"] = scored(classification.variables_of(state), test,
                                                   kept)[1]["accuracy"]
    if comp is not None:  # scenes with a held-out pair
      by_type = scored(classification.variables_of(state), comp)[1]
      metrics.update({"compositional/accuracy": by_type["accuracy"],
                      **{f"compositional/accuracy/{t}": a
                         for t, a in by_type["per_type"].items()},
                      "compositional/by_type": by_type})
    return metrics

  result = train.train_or_restore(
      config, workdir, init_fn=classification.init_fn(model, inputs),
      loss_fn=classification.loss_fn(model, names, config.model, label="answer"),
      train_data=train_data, evaluate=evaluate)
  model_acc = result.eval_metrics["by_type"]
  prior_acc = accuracy_by_type(exact_match(prior_predictions(prior, test["question_type"]),
                                           test["answer"]), test["question_type"])
  # What any model that ignores the image can reach at best (known in the synthetic world).
  bayes_q = {t: None if files else vqa_info(t, world.max_objects)["unimodal_bayes"]["question"]
             for t in model_acc["per_type"]}
  bayes = None if files else float(sum(bayes_q[t] * c for t, c in model_acc["count"].items())
                                   / len(test["answer"]))
  fusion = config.model.fusion.name if len(names) > 1 else None
  results = {
      "step": result.step, "inputs": list(names), "fusion": fusion,
      "num_test_examples": len(test["answer"]), "accuracy": model_acc["accuracy"],
      "per_type": model_acc["per_type"], "count": model_acc["count"],
      "prior_accuracy": prior_acc["accuracy"], "prior_per_type": prior_acc["per_type"],
      "prior_answers": {t: answers[a] for t, a in prior.items()},
      "question_only_bayes_per_type": bayes_q, "question_only_bayes": bayes,
      "chance": 1.0 / len(answers)}
  results.update({f"missing_{gone}/accuracy": result.eval_metrics[f"missing_{gone}/accuracy"]
                  for gone in missing})
  if comp is not None:
    comp_acc = result.eval_metrics["compositional/by_type"]
    results.update({"compositional/accuracy": comp_acc["accuracy"],
                    "compositional/per_type": comp_acc["per_type"],
                    "compositional/num_test_examples": len(comp["answer"])})
  experiment.write_results(workdir, results)
  if jax.process_index() == 0:
    rows = save_examples(workdir, test, result.eval_metrics["predictions"], prior,
                         min(config.eval.num_examples_saved, len(test["answer"])), answers)
  print(f"VQA with {'+'.join(names)}{f' ({fusion})' if fusion else ''}, "
        f"{len(test['answer'])} test questions at step {result.step}:")
  print(f"  {'type':10s} {'count':>6s} {'model':>7s} {'prior':>7s} {'Q-only Bayes':>13s}")
  shown = lambda v: f"{v:13.3f}" if v is not None else f"{'-':>13s}"
  for t, c in model_acc["count"].items():
    print(f"  {t:10s} {c:6d} {model_acc['per_type'][t]:7.3f} {prior_acc['per_type'][t]:7.3f} "
          f"{shown(bayes_q[t])}")
  print(f"  {'all':10s} {len(test['answer']):6d} {results['accuracy']:7.3f} "
        f"{results['prior_accuracy']:7.3f} {shown(bayes)}")
  for gone in missing:
    print(f"  without {gone}: accuracy {results[f'missing_{gone}/accuracy']:.3f}")
  if comp is not None:
    print(f"  test_compositional ({len(comp['answer'])} questions, a held-out pair in each "
          f"scene): accuracy {results['compositional/accuracy']:.3f}")
  if jax.process_index() == 0:
    for r in rows:
      print(f"  [{r['index']}] {r['question']}  answer: {r['answer']}  predicted: "
            f"{r['prediction']}  prior: {r['prior']}")
  return results


if __name__ == "__main__":
  experiment.main(run)
