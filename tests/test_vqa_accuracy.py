"""VQA accuracy (exact match, soft accuracy over human answers, per-type means, the majority
prior) against values worked out by hand."""

import numpy as np
import pytest

from mmjax.evaluate.vqa_accuracy import (accuracy_by_type, exact_match, majority_answers,
                                         normalize_answer, prior_predictions, soft_accuracy)


@pytest.mark.parametrize("raw,normal", [
    ("Yes.", "yes"), ("The Two", "2"), ("none", "0"), ("t-shirt", "t shirt"), ("3.5", "3.5"),
    ("  A  Red,  ball!", "red ball"), ("man's", "man's")])
def test_normalize_answer(raw, normal):
  assert normalize_answer(raw) == normal


def test_soft_accuracy_of_ten_humans_matches_hand_computation():
  # m humans of n = 10 agree. Leaving one out (10 subsets of 9): the m subsets without an
  # agreeing human see m - 1 matches, the other 10 - m see m.
  humans = ["red"] * 3 + ["blue"] * 6 + ["green"]
  preds = ["Red", "blue", "green", "white"]
  # red: m=3 -> (3 * 2/3 + 7 * 1) / 10 = 0.9;  blue: m=6 -> 1;  green: m=1 -> (0 + 9/3) / 10.
  np.testing.assert_allclose(soft_accuracy(preds, [humans] * 4), [0.9, 1.0, 0.3, 0.0])
  # Without leaving one out: min(m / 3, 1).
  np.testing.assert_allclose(soft_accuracy(preds, [humans] * 4, leave_one_out=False),
                             [1.0, 1.0, 1 / 3, 0.0])


def test_soft_accuracy_normalises_and_needs_answers():
  assert soft_accuracy(["two"], [["2", "2", "the two", "3"]], leave_one_out=False)[0] == 1.0
  with pytest.raises(ValueError, match="one list per prediction"):
    soft_accuracy(["a", "b"], [["a"]])
  with pytest.raises(ValueError, match="non-empty list"):
    soft_accuracy(["a"], ["a"])


def test_exact_match_and_per_type_accuracy():
  answers = np.array([3, 1, 4, 1, 5, 9])
  preds = np.array([3, 0, 4, 1, 2, 9])
  types = ["colour", "count", "colour", "size", "count", "size"]
  scores = exact_match(preds, answers)
  np.testing.assert_array_equal(scores, [1, 0, 1, 1, 0, 1])
  acc = accuracy_by_type(scores, types)
  assert acc["accuracy"] == pytest.approx(4 / 6)
  assert acc["per_type"] == {"colour": 1.0, "count": 0.0, "size": 1.0}
  assert acc["count"] == {"colour": 2, "count": 2, "size": 2}
  assert exact_match(["yes", "no"], ["yes", "yes"]).tolist() == [1.0, 0.0]
  with pytest.raises(ValueError, match="equal-length"):
    exact_match([1, 2], [1])
  with pytest.raises(ValueError, match="no questions"):
    accuracy_by_type([], [])


def test_majority_prior_is_counted_per_type_and_ties_go_to_the_first():
  types = ["size", "size", "size", "exists", "exists", "colour"]
  answers = ["large", "small", "large", "yes", "no", "red"]
  prior = majority_answers(types, answers)
  assert prior == {"colour": "red", "exists": "no", "size": "large"}  # exists: a tie
  test_types = ["size", "exists", "colour", "size"]
  preds = prior_predictions(prior, test_types)
  assert preds == ["large", "no", "red", "large"]
  acc = accuracy_by_type(exact_match(preds, ["small", "no", "blue", "large"]), test_types)
  assert acc["accuracy"] == 0.5 and acc["per_type"]["size"] == 0.5
  assert prior_predictions(prior, ["count"], default="two") == ["two"]
  with pytest.raises(ValueError, match=r"\['count'\] are not in the prior"):
    prior_predictions(prior, ["count"])
