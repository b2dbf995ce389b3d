"""VQA data from config sections: the synthetic world's (or your files') questions as batches,
the test split with its question types, the held-out split, and the question-only majority
prior (`question_prior`). experiments/vqa.py trains on them; experiments/cognitive_profile.py
and the VQA maps score a finished run on the same test split, without the prior.
"""

import numpy as np

from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.evaluate.vqa_accuracy import majority_answers
from mmjax.registry import ConfigError
from mmjax.tasks import classification


def vqa_data(config, world, tokenizer, names, n_comp=0):
  """(train batches, the test split with its question types and texts, and the first n_comp
  examples of test_compositional the same way, or None). Batches hold "question" ids,
  "answer" ids and the inputs."""
  d = config.data
  fields = ("qa",) + tuple(n for n in ("image", "audio") if n in names)
  inputs = ("question",) + fields[1:]

  def batch_fn(split):
    def make(indices):
      ex = [world.example(split, int(i), fields) for i in indices]
      out = {"answer": np.array([e["answer_id"] for e in ex], np.int32),
             **classification.stack_inputs(ex, inputs, tokenizer, d.text_len, "question")}
      return out, ex
    return make

  n_test = sources.size(world, "test") or config.eval.num_examples
  train_data = Batches(lambda i: batch_fn("train")(i)[0], config.batch_size, seed=d.seed,
                       num_examples=sources.size(world, "train"))
  test, examples = batch_fn("test")(np.arange(min(config.eval.num_examples, n_test)))
  test["question_type"] = [e["question_type"] for e in examples]
  test["question_text"] = [e["question"] for e in examples]
  test["answer_text"] = [e["answer"] for e in examples]
  comp, comp_examples = batch_fn("test_compositional")(np.arange(n_comp)) if n_comp \
      else (None, [])
  if comp is not None:
    comp["question_type"] = [e["question_type"] for e in comp_examples]
  check_question_length(d.text_len, tokenizer, examples + comp_examples)
  return train_data, test, comp


def question_prior(config, world, tokenizer, question_types):
  """The question-only baseline {question type: answer id}: the commonest answer of each type
  among the first data.prior_examples training questions; a type in question_types that none
  of them has (your files) gets the commonest answer of all."""
  d = config.data
  n_prior = min(d.prior_examples, sources.size(world, "train") or d.prior_examples)
  qa = [world.example("train", i, ("qa",)) for i in range(n_prior)]
  check_question_length(d.text_len, tokenizer, qa)  # the training questions, as a sample.
  prior = majority_answers([q["question_type"] for q in qa], [int(q["answer_id"]) for q in qa])
  overall = majority_answers(["all"] * len(qa), [int(q["answer_id"]) for q in qa])["all"]
  prior.update({t: overall for t in question_types if t not in prior})
  return prior


def check_question_length(text_len, tokenizer, examples):
  longest = max(len(tokenizer.words(e["question"])) for e in examples)
  if longest + 1 > text_len:  # truncation could cut the words that name the object.
    raise ConfigError(f"data.text_len={text_len} cannot hold a {longest}-word question and "
                      f"<eos>; raise it to {longest + 1}.")
