"""Classification metrics against counts worked out by hand."""

import numpy as np
import pytest

from mmjax.evaluate.classification import classification_metrics, confusion_matrix

# 3 classes, 8 examples. True 0: predicted 0, 0, 1; true 1: 1, 1, 2; true 2: 2, 0.
LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2])
PREDS = np.array([0, 0, 1, 1, 1, 2, 2, 0])


def test_confusion_matrix_counts_true_rows_predicted_columns():
  cm = confusion_matrix(LABELS, PREDS, 3)
  np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 2, 1], [1, 0, 1]])
  assert cm.dtype == np.int64


def test_macro_metrics_match_hand_computation():
  m = classification_metrics(LABELS, PREDS, 3)
  # Per class: precision = tp / predicted, recall = tp / support.
  # class 0: tp 2, predicted 3, support 3 -> P 2/3, R 2/3, F1 2/3
  # class 1: tp 2, predicted 3, support 3 -> P 2/3, R 2/3, F1 2/3
  # class 2: tp 1, predicted 2, support 2 -> P 1/2, R 1/2, F1 1/2
  assert m["accuracy"] == pytest.approx(5 / 8)
  assert m["macro_precision"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
  assert m["macro_recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
  assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
  assert m["per_class"]["support"] == [3, 3, 2]
  assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [1, 0, 1]]


def test_unequal_precision_and_recall_give_the_harmonic_mean_per_class():
  # class 0: tp 1, predicted 1, support 2 -> P 1, R 1/2, F1 2/3.
  # class 1: tp 2, predicted 3, support 2 -> P 2/3, R 1, F1 4/5.
  m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], 2)
  np.testing.assert_allclose(m["per_class"]["precision"], [1.0, 2 / 3])
  np.testing.assert_allclose(m["per_class"]["recall"], [0.5, 1.0])
  np.testing.assert_allclose(m["per_class"]["f1"], [2 / 3, 4 / 5])
  # Macro F1 is the mean of per-class F1s, not the F1 of the macro P and R.
  assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
  assert m["macro_f1"] != pytest.approx(2 * (5 / 6) * (3 / 4) / (5 / 6 + 3 / 4))


def test_never_predicted_class_counts_zero_and_absent_class_is_skipped():
  # 4 classes; class 3 never occurs; class 2 occurs but is never predicted (P = 0/0 -> 0).
  m = classification_metrics([0, 1, 2, 2], [0, 1, 1, 0], 4)
  assert m["per_class"]["precision"] == [0.5, 0.5, 0.0, 0.0]
  assert m["per_class"]["recall"] == [1.0, 1.0, 0.0, 0.0]
  assert m["macro_precision"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
  assert m["macro_recall"] == pytest.approx(2 / 3)
  assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0.0) / 3)


def test_perfect_and_constant_classifiers():
  y = np.array([0, 1, 2, 3, 1])
  perfect = classification_metrics(y, y, 4)
  assert perfect["accuracy"] == perfect["macro_f1"] == 1.0
  constant = classification_metrics(y, np.ones_like(y), 4)
  assert constant["accuracy"] == pytest.approx(2 / 5)
  assert constant["macro_recall"] == pytest.approx(1 / 4)  # only class 1 is recalled, fully.


@pytest.mark.parametrize("labels,preds,match", [
    ([0, 1], [0], "equal-length 1-D"),
    ([0, 3], [0, 1], r"in \[0, 3\)"),
    ([0.0, 1.0], [0, 1], "integer class ids"),
    ([], [], "no examples"),
])
def test_bad_inputs_are_named(labels, preds, match):
  with pytest.raises(ValueError, match=match):
    classification_metrics(np.asarray(labels), np.asarray(preds), 3)
