"""VQA data from config sections: the synthetic world's (or your files') questions as batches,
the test split with its question types, the question-only majority prior, and the held-out
split. experiments/vqa.py trains on them; experiments/cognitive_profile.py scores a finished
run's abilities per question type on the same test split.
"""

import numpy as np

from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.evaluate.vqa_accuracy import majority_answers
from mmjax.registry import ConfigError
from mmjax.tasks import classification


def vqa_data(config, world, tokenizer, names, n_comp=0):
  """(train batches, the test split with its question types and texts, the majority-answer
  prior {question type: answer id}, and the first n_comp examples of test_compositional the
  same way, or None). Batches hold "question" ids, "answer" ids and the inputs."""
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
  # The question-only prior: the commonest answer of each type among training questions.
  n_prior = min(d.prior_examples, sources.size(world, "train") or d.prior_examples)
  qa = [world.example("train", i, ("qa",)) for i in range(n_prior)]
  prior = majority_answers([q["question_type"] for q in qa], [int(q["answer_id"]) for q in qa])
  # A type no training question has (your files) gets the commonest answer of all.
  overall = majority_answers(["all"] * len(qa), [int(q["answer_id"]) for q in qa])["all"]
  prior.update({t: overall for t in test["question_type"] if t not in prior})
  longest = max(len(tokenizer.words(q["question"])) for q in qa + examples + comp_examples)
  if longest + 1 > d.text_len:  # truncation could cut the words that name the object.
    raise ConfigError(f"data.text_len={d.text_len} cannot hold a {longest}-word question and "
                      f"<eos>; raise it to {longest + 1}.")
  return train_data, test, prior, comp
