"""Single-label classification metrics: accuracy, macro precision / recall / F1, confusion matrix.

Macro averages follow scikit-learn's defaults: per-class precision, recall and F1 (F1 = 2PR /
(P + R)), a 0/0 counted as 0, averaged with equal weight over the classes that occur in the
labels or the predictions (a class absent from both says nothing about the classifier).
"""

import numpy as np


def _check(labels, predictions, num_classes):
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  if labels.ndim != 1 or labels.shape != predictions.shape:
    raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} must be equal-"
                     "length 1-D arrays of class ids.")
  if labels.size == 0:
    raise ValueError("no examples: labels and predictions are empty.")
  for name, x in (("labels", labels), ("predictions", predictions)):
    if not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() >= num_classes:
      raise ValueError(f"{name} must be integer class ids in [0, {num_classes}); got dtype "
                       f"{x.dtype}, range [{x.min()}, {x.max()}].")
  return labels.astype(np.int64), predictions.astype(np.int64)


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
  """int64 [num_classes, num_classes]: entry [t, p] counts examples of true class t predicted p."""
  labels, predictions = _check(labels, predictions, num_classes)
  return np.bincount(labels * num_classes + predictions,
                     minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(a, b):
  return np.divide(a, b, out=np.zeros(a.shape, np.float64), where=b > 0)


def classification_metrics(labels, predictions, num_classes: int) -> dict:
  """labels, predictions: int [n] class ids -> {"accuracy", "macro_precision", "macro_recall",
  "macro_f1": float; "per_class": {"precision", "recall", "f1", "support"}: lists of
  num_classes; "confusion_matrix": [num_classes][num_classes] list of ints (rows: true)}."""
  cm = confusion_matrix(labels, predictions, num_classes)
  tp = np.diag(cm).astype(np.float64)
  support, predicted = cm.sum(1), cm.sum(0)
  precision, recall = _ratio(tp, predicted), _ratio(tp, support)
  f1 = _ratio(2 * precision * recall, precision + recall)
  seen = (support + predicted) > 0
  return {"accuracy": float(tp.sum() / cm.sum()),
          "macro_precision": float(precision[seen].mean()),
          "macro_recall": float(recall[seen].mean()),
          "macro_f1": float(f1[seen].mean()),
          "per_class": {"precision": precision.tolist(), "recall": recall.tolist(),
                        "f1": f1.tolist(), "support": support.tolist()},
          "confusion_matrix": cm.tolist()}
