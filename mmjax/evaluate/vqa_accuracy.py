"""VQA accuracy: exact match against one answer, the VQA soft accuracy against several human
answers (Antol et al. 2015, "VQA: Visual Question Answering"), per-question-type breakdowns, and
the majority-answer-per-type baseline (the question-only prior that VQA papers report).

Soft accuracy of a predicted answer against n human answers of which m agree with it:
  min(m / 3, 1), or, as in the official evaluation script, that score averaged over the n ways
  of leaving one human out: (m * min((m - 1) / 3, 1) + (n - m) * min(m / 3, 1)) / n.
Answers are compared after `normalize_answer`, a short form of the official normalisation.
"""

import collections
import re
from typing import Mapping, Sequence

import numpy as np

_NUMBERS = {w: str(i) for i, w in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"))}
_NUMBERS["none"] = "0"
_ARTICLES = {"a", "an", "the"}


def normalize_answer(text: str) -> str:
  """Lower case; a period is dropped unless it is a decimal point; other punctuation but the
  apostrophe becomes a space; number words zero..ten (and "none") become digits; articles go.
  "The Two." -> "2", "t-shirt" -> "t shirt", "3.5" -> "3.5"."""
  text = re.sub(r"(?!(?<=\d)\.(?=\d))\.", "", str(text).lower())
  text = re.sub(r"[^\w\s'.]", " ", text)
  words = [_NUMBERS.get(w, w) for w in text.split() if w not in _ARTICLES]
  return " ".join(words)


def exact_match(predictions, answers) -> np.ndarray:
  """predictions, answers: [n] answer ids (or strings, compared as given) -> float64 [n] of 1.0
  where they are equal, else 0.0. The score for data with a single reference answer."""
  predictions, answers = np.asarray(predictions), np.asarray(answers)
  if predictions.ndim != 1 or predictions.shape != answers.shape:
    raise ValueError(f"predictions {predictions.shape} and answers {answers.shape} must be "
                     "equal-length 1-D arrays.")
  return (predictions == answers).astype(np.float64)


def soft_accuracy(predictions: Sequence[str], human_answers: Sequence[Sequence[str]],
                  leave_one_out: bool = True) -> np.ndarray:
  """predictions: [n] answer strings; human_answers: [n] lists of the humans' answer strings
  (10 per question in VQA v2) -> float64 [n] soft accuracies in [0, 1] (module docstring);
  leave_one_out=False gives the plain min(m / 3, 1)."""
  if len(predictions) != len(human_answers):
    raise ValueError(f"{len(predictions)} predictions but {len(human_answers)} lists of human "
                     "answers; give one list per prediction.")
  scores = np.zeros(len(predictions), np.float64)
  for i, (pred, humans) in enumerate(zip(predictions, human_answers)):
    if isinstance(humans, str) or not len(humans):
      raise ValueError(f"human_answers[{i}]={humans!r}; valid: a non-empty list of strings.")
    n = len(humans)
    m = sum(normalize_answer(h) == normalize_answer(pred) for h in humans)
    if leave_one_out:
      scores[i] = (m * min((m - 1) / 3, 1.0) + (n - m) * min(m / 3, 1.0)) / n
    else:
      scores[i] = min(m / 3, 1.0)
  return scores


def accuracy_by_type(scores, question_types: Sequence[str]) -> dict:
  """scores: [n] per-question accuracies; question_types: [n] strings -> {"accuracy": mean over
  all questions, "per_type": {type: mean over its questions}, "count": {type: questions}}, the
  types in sorted order."""
  scores, types = np.asarray(scores, np.float64), np.asarray(question_types)
  if scores.ndim != 1 or scores.shape != types.shape:
    raise ValueError(f"scores {scores.shape} and question_types {types.shape} must be "
                     "equal-length 1-D arrays.")
  if scores.size == 0:
    raise ValueError("no questions: scores and question_types are empty.")
  names = sorted(set(types.tolist()))
  return {"accuracy": float(scores.mean()),
          "per_type": {t: float(scores[types == t].mean()) for t in names},
          "count": {t: int(np.sum(types == t)) for t in names}}


def majority_answers(question_types: Sequence[str], answers) -> dict:
  """{type: its most frequent answer} over a (training) set; ties go to the answer that sorts
  first. Predicting it for every question of the type is the question-type prior baseline."""
  if len(question_types) != len(answers) or not len(answers):
    raise ValueError(f"{len(question_types)} question types and {len(answers)} answers; give "
                     "one type per answer, at least one.")
  counts = collections.defaultdict(collections.Counter)
  for t, a in zip(question_types, np.asarray(answers).tolist()):
    counts[t][a] += 1
  return {t: min(c, key=lambda a: (-c[a], a)) for t, c in sorted(counts.items())}


def prior_predictions(prior: Mapping[str, object], question_types: Sequence[str], default=None):
  """The prior's answer for each question type ([n] list); a type the prior never saw gets
  `default`, or raises ValueError when default is None."""
  unseen = sorted(set(question_types) - set(prior))
  if unseen and default is None:
    raise ValueError(f"question types {unseen} are not in the prior (it has "
                     f"{', '.join(map(str, prior))}); pass a default answer.")
  return [prior.get(t, default) for t in question_types]
