"""Calibration of a classifier's probabilities: expected calibration error (ECE), maximum
calibration error (MCE), negative log-likelihood and the reliability diagram's data.

Guo et al. 2017, "On Calibration of Modern Neural Networks": the confidence of a prediction is
its top probability; predictions fall into `num_bins` equal-width bins ((m-1)/M, m/M] by
confidence (15 bins by default, as in the paper); ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|
and MCE = max_m |acc(B_m) - conf(B_m)| over the non-empty bins.
"""

import numpy as np


def _check(probs, labels, num_bins):
  probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
  if probs.ndim != 2 or labels.shape != probs.shape[:1] or probs.shape[0] == 0:
    raise ValueError(f"probs {probs.shape} must be [n, classes] and labels {labels.shape} [n], "
                     "with n > 0.")
  if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or \
      labels.max() >= probs.shape[1]:
    raise ValueError(f"labels must be integer class ids in [0, {probs.shape[1]}).")
  if not np.all(np.isfinite(probs)) or probs.min() < 0 or \
      not np.allclose(probs.sum(1), 1.0, atol=1e-3):
    raise ValueError("probs must be finite, non-negative and sum to 1 over classes (softmax "
                     "outputs, not logits).")
  if not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
    raise ValueError(f"num_bins={num_bins!r}; valid: an integer >= 1.")
  return probs, labels.astype(np.int64)


def reliability_diagram(probs, labels, num_bins: int = 15) -> dict:
  """probs float [n, classes] (rows sum to 1), labels int [n] ->
  {"bin_edges": [num_bins + 1] floats; per bin "bin_count" (ints), "bin_confidence" (mean top
  probability) and "bin_accuracy" (lists of num_bins, None for an empty bin); and the scalars
  "ece", "mce", "nll" (mean -log p(label)), "accuracy", "confidence" (mean top probability),
  "n"}."""
  probs, labels = _check(probs, labels, num_bins)
  confidence = probs.max(1)
  correct = (probs.argmax(1) == labels).astype(np.float64)
  # Bin m holds confidences in ((m-1)/M, m/M]; a confidence of exactly 0 joins the first bin.
  bins = np.clip(np.ceil(confidence * num_bins).astype(np.int64) - 1, 0, num_bins - 1)
  count = np.bincount(bins, minlength=num_bins)
  conf_sum = np.bincount(bins, confidence, minlength=num_bins)
  acc_sum = np.bincount(bins, correct, minlength=num_bins)
  seen = count > 0
  mean_conf = np.divide(conf_sum, count, out=np.zeros(num_bins), where=seen)
  mean_acc = np.divide(acc_sum, count, out=np.zeros(num_bins), where=seen)
  gap = np.abs(mean_acc - mean_conf)
  per_bin = lambda x: [float(v) if s else None for v, s in zip(x, seen)]
  # float64 and a floor on p: a confident mistake gives a large, finite NLL.
  p_label = np.maximum(probs[np.arange(len(labels)), labels], 1e-12)
  return {"bin_edges": np.linspace(0.0, 1.0, num_bins + 1).tolist(),
          "bin_count": count.tolist(), "bin_confidence": per_bin(mean_conf),
          "bin_accuracy": per_bin(mean_acc),
          "ece": float(np.sum(count * gap) / len(labels)), "mce": float(gap[seen].max()),
          "nll": float(-np.mean(np.log(p_label))), "accuracy": float(correct.mean()),
          "confidence": float(confidence.mean()), "n": int(len(labels))}


def expected_calibration_error(probs, labels, num_bins: int = 15) -> float:
  """ECE (Guo et al. 2017) of probs float [n, classes] against labels int [n]; in [0, 1]."""
  return reliability_diagram(probs, labels, num_bins)["ece"]
