"""Visual question answering: a question encoder, an image encoder (and optionally an encoder of
the spoken caption), a fusion and a classifier over the synthetic world's answers.

  python experiments/vqa.py --config configs/vqa.py:tiny --workdir runs/vqa

config -> data -> model -> train -> evaluate on the test split -> write results.json (accuracy
overall and per question type, beside the majority-answer-per-type prior counted on the training
split and each type's question-only Bayes accuracy) and examples.json / examples.png.
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
from mmjax.data.synthetic import ANSWERS, SceneWorld
from mmjax.data.synthetic.questions import vqa_info
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.image_grid import save_image_grid
from mmjax.evaluate.vqa_accuracy import (accuracy_by_type, exact_match, majority_answers,
                                         prior_predictions)
from mmjax.losses.classification import softmax_cross_entropy
from mmjax.models import AUDIO_ENCODERS, FUSIONS, HEADS, IMAGE_ENCODERS, TEXT_ENCODERS
from mmjax.models.multimodal_classifier import auxiliary_loss
from mmjax.models.vqa import INPUTS, VQAModel
from mmjax.registry import ConfigError

MEAN, STD = 0.5, 0.25  # pixel normalisation of the synthetic world's [0, 1] images.
REGISTRIES = {"question": TEXT_ENCODERS, "image": IMAGE_ENCODERS, "audio": AUDIO_ENCODERS}


def inputs_of(config) -> tuple:
  # `--config.model.inputs=question,image` arrives as ("question,image",): split it.
  names = tuple(n.strip() for s in config.model.inputs for n in str(s).split(",") if n.strip())
  if not names or len(set(names)) != len(names) or not set(names) <= set(INPUTS):
    raise ConfigError(f"model.inputs={tuple(config.model.inputs)}; valid: a non-empty subset, "
                      f"without repeats, of {', '.join(INPUTS)}.")
  return names


def chosen(section, name) -> dict:
  """The option dict of the chosen `name` in `section` ({} when it has none)."""
  return dict(section[name].to_dict()) if name in section else {}


def check_config(config, names):
  """Every chosen name must be registered; fails in seconds, naming the key."""
  for name in names:
    REGISTRIES[name].get(config.model.encoders[name].name, f"model.encoders.{name}.name")
  FUSIONS.get(config.model.fusion, "model.fusion")
  HEADS.get(config.model.head, "model.head")
  for section, key, least in (("eval", "num_examples", 1), ("eval", "batch_size", 1),
                              ("eval", "num_examples_saved", 0), ("data", "prior_examples", 1)):
    value = config[section][key]
    if not isinstance(value, int) or value < least:
      raise ConfigError(f"{section}.{key}={value!r}; it must be an integer >= {least}.")


def make_data(config, workdir, names):
  d = config.data
  world = SceneWorld(d.seed, d.image_size, d.max_objects, d.noise, clutter=d.clutter,
                     occlusion=d.occlusion, sample_rate=d.sample_rate, snr_db=d.snr_db,
                     audio_seconds=d.audio_seconds)
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"),
                                          world.vocabulary(questions_too=True))
  fields = ("qa",) + tuple(n for n in ("image", "audio") if n in names)

  def batch_fn(split):
    def make(indices):
      ex = [world.example(split, int(i), fields) for i in indices]
      out = {"question": tokenizer.encode_batch([e["question"] for e in ex], d.question_len),
             "answer": np.array([e["answer_id"] for e in ex], np.int32)}
      if "image" in names:
        out["image"] = ((np.stack([e["image"] for e in ex]) - MEAN) / STD).astype(np.float32)
      if "audio" in names:
        out["audio"] = np.stack([e["audio"] for e in ex])
      return out, ex
    return make

  train_data = Batches(lambda i: batch_fn("train")(i)[0], config.batch_size, seed=d.seed)
  test, examples = batch_fn("test")(np.arange(config.eval.num_examples))
  test["question_type"] = [e["question_type"] for e in examples]
  test["question_text"] = [e["question"] for e in examples]
  # The question-only prior: the commonest answer of each type among training questions.
  qa = [world.example("train", i, ("qa",)) for i in range(d.prior_examples)]
  prior = majority_answers([q["question_type"] for q in qa], [int(q["answer_id"]) for q in qa])
  longest = max(len(tokenizer.words(q["question"])) for q in qa + examples)
  if longest + 1 > d.question_len:  # truncation could cut the words that name the object.
    raise ConfigError(f"data.question_len={d.question_len} cannot hold a {longest}-word "
                      f"question and <eos>; raise it to {longest + 1}.")
  return train_data, test, tokenizer, prior


def make_model(config, names, vocab_size):
  m = config.model
  encoders = {}
  for name in names:
    enc = {"name": m.encoders[name].name, **chosen(m.encoders[name], m.encoders[name].name)}
    accepted = getattr(REGISTRIES[name].get(enc["name"]), "__dataclass_fields__", {})
    # Filled from the data so that they can never disagree with it.
    for field, value in (("vocab_size", vocab_size), ("max_len", config.data.question_len),
                         ("sample_rate", float(config.data.sample_rate))):
      if field in accepted:
        enc.setdefault(field, value)
    encoders[name] = enc
  return VQAModel(num_answers=len(ANSWERS), inputs=names, encoders=encoders, fusion=m.fusion,
                  fusion_options=chosen(m.fusion_options, m.fusion), head=m.head,
                  head_options=dict(m.head_options.to_dict()),
                  dtype=jnp.dtype(config.compute_dtype))


def save_examples(workdir, test, predictions, prior, n):
  """The first n test questions with the answer, the model's and the prior's: a JSON file, and
  a PNG of the images with them when the model saw images."""
  rows = [{"index": i, "question_type": test["question_type"][i],
           "question": test["question_text"][i], "answer": ANSWERS[test["answer"][i]],
           "prediction": ANSWERS[predictions[i]],
           "prior": ANSWERS[prior[test["question_type"][i]]]} for i in range(n)]
  with open(os.path.join(workdir, "examples.json"), "w") as f:
    json.dump(rows, f, indent=2)
  if "image" in test and n:
    save_image_grid(os.path.join(workdir, "examples.png"),
                    [test["image"][r["index"]] * STD + MEAN for r in rows],
                    [f"{r['question']}\nanswer {r['answer']}, predicted {r['prediction']}"
                     for r in rows], columns=4, panel_size=(3.0, 3.2),
                    title_colours=["green" if r["answer"] == r["prediction"] else "red"
                                   for r in rows])
  return rows


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores) and evaluates; writes and returns the results."""
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO.
  train.validate(config)
  names = inputs_of(config)
  check_config(config, names)
  train_data, test, tokenizer, prior = make_data(config, workdir, names)
  model = make_model(config, names, tokenizer.vocab_size)
  inputs = lambda batch: {k: batch[k] for k in names}

  def init_fn(rng):
    variables = model.init(rng, jax.tree.map(lambda x: x[:1], inputs(test)))
    return variables["params"], {k: v for k, v in variables.items() if k not in ("params",
                                                                                  "losses")}

  def loss_fn(params, model_state, batch, rng, axis_name):
    logits, mutated = model.apply({"params": params, **model_state}, inputs(batch), train=True,
                                  rngs={"dropout": rng}, mutable=["losses", *model_state])
    task = softmax_cross_entropy(logits, batch["answer"], config.model.label_smoothing)
    aux = auxiliary_loss(mutated)
    accuracy = jnp.mean((jnp.argmax(logits, -1) == batch["answer"]).astype(jnp.float32))
    return task + config.model.aux_loss_weight * aux, (
        {"task_loss": task, "aux_loss": aux, "accuracy": accuracy},
        {k: mutated[k] for k in model_state})

  predict = jax.jit(lambda variables, x: jnp.argmax(model.apply(variables, x), -1))
  latest = {}  # the latest evaluation's predictions and per-type accuracies.

  def evaluate(state, step):
    params = state.eval_params
    variables = {"params": params, **state.model_state}
    latest["predictions"] = apply_in_batches(lambda x, _: predict(variables, x), inputs(test),
                                             config.eval.batch_size)
    latest["model"] = accuracy_by_type(exact_match(latest["predictions"], test["answer"]),
                                       test["question_type"])
    return {"accuracy": latest["model"]["accuracy"],
            **{f"accuracy/{t}": a for t, a in latest["model"]["per_type"].items()}}

  step, _ = train.train_or_restore(config, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                   train_data=train_data, evaluate=evaluate)
  model_acc = latest["model"]
  prior_acc = accuracy_by_type(exact_match(prior_predictions(prior, test["question_type"]),
                                           test["answer"]), test["question_type"])
  bayes_q = {t: vqa_info(t, config.data.max_objects)["unimodal_bayes"]["question"]
             for t in model_acc["per_type"]}
  results = {
      "step": step, "inputs": list(names), "fusion": config.model.fusion if len(names) > 1
      else None, "num_test_examples": len(test["answer"]), "accuracy": model_acc["accuracy"],
      "per_type": model_acc["per_type"], "count": model_acc["count"],
      "prior_accuracy": prior_acc["accuracy"], "prior_per_type": prior_acc["per_type"],
      "prior_answers": {t: ANSWERS[a] for t, a in prior.items()},
      # What any model that ignores the image can reach at best, per type and over this test set.
      "question_only_bayes_per_type": bayes_q,
      "question_only_bayes": float(sum(bayes_q[t] * c for t, c in model_acc["count"].items())
                                   / len(test["answer"])),
      "chance": 1.0 / len(ANSWERS)}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
    rows = save_examples(workdir, test, latest["predictions"], prior,
                         min(config.eval.num_examples_saved, len(test["answer"])))
  print(f"VQA with {'+'.join(names)}{' (' + config.model.fusion + ')' if len(names) > 1 else ''}"
        f", {len(test['answer'])} test questions at step {step}:")
  print(f"  {'type':10s} {'count':>6s} {'model':>7s} {'prior':>7s} {'Q-only Bayes':>13s}")
  for t, c in model_acc["count"].items():
    print(f"  {t:10s} {c:6d} {model_acc['per_type'][t]:7.3f} {prior_acc['per_type'][t]:7.3f} "
          f"{bayes_q[t]:13.3f}")
  print(f"  {'all':10s} {len(test['answer']):6d} {results['accuracy']:7.3f} "
        f"{results['prior_accuracy']:7.3f} {results['question_only_bayes']:13.3f}")
  if jax.process_index() == 0:
    for r in rows:
      print(f"  [{r['index']}] {r['question']}  answer: {r['answer']}  predicted: "
            f"{r['prediction']}  prior: {r['prior']}")
  return results


def main(argv):
  del argv
  run(flags.FLAGS.config, flags.FLAGS.workdir)


if __name__ == "__main__":
  # Flags are defined only when run as a script, so tests can import `run` in-process without
  # clashing with other experiments' flags of the same names.
  config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/vqa.py:tiny.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
