"""Expected calibration error and the reliability diagram against hand computations."""

import math

import numpy as np
import pytest

from mmjax.evaluate.calibration import expected_calibration_error, reliability_diagram

# Confidences are binary fractions so that bin edges are hit exactly. With 4 bins
# ((0, .25], (.25, .5], (.5, .75], (.75, 1]):
#   ex  probs               label  confidence  correct  bin
#   0   .875 .125 0         0      .875        yes      3
#   1   .75  .25  0         1      .75         no       2  (an upper edge belongs to its bin)
#   2   .25  .625 .125      1      .625        yes      2
#   3   .5   .25  .25       2      .5          no       1
#   4   0    0    1         2      1.0         yes      3
PROBS = np.array([[.875, .125, 0], [.75, .25, 0], [.25, .625, .125], [.5, .25, .25], [0, 0, 1.]])
LABELS = np.array([0, 1, 1, 2, 2])


def test_hand_computed_example():
  r = reliability_diagram(PROBS, LABELS, num_bins=4)
  assert r["bin_edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
  assert r["bin_count"] == [0, 1, 2, 2]
  assert r["bin_accuracy"] == [None, 0.0, 0.5, 1.0]
  assert r["bin_confidence"] == [None, 0.5, 0.6875, 0.9375]
  # ECE = (1 * |0 - .5| + 2 * |.5 - .6875| + 2 * |1 - .9375|) / 5 = (.5 + .375 + .125) / 5.
  assert r["ece"] == pytest.approx(0.2)
  assert r["mce"] == pytest.approx(0.5)
  assert r["accuracy"] == pytest.approx(0.6) and r["confidence"] == pytest.approx(0.75)
  nll = -(math.log(.875) + math.log(.25) + math.log(.625) + math.log(.25) + math.log(1.0)) / 5
  assert r["nll"] == pytest.approx(nll) and r["n"] == 5
  assert expected_calibration_error(PROBS, LABELS, 4) == r["ece"]


def test_default_is_15_bins_and_the_weighted_bin_gaps_sum_to_the_ece():
  rng = np.random.default_rng(0)
  logits = rng.normal(0, 2, (200, 5))
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  labels = rng.integers(0, 5, 200)
  r = reliability_diagram(probs, labels)
  assert len(r["bin_count"]) == 15 and sum(r["bin_count"]) == 200
  gaps = [c * abs(a - f) for c, a, f in zip(r["bin_count"], r["bin_accuracy"],
                                            r["bin_confidence"]) if c]
  assert r["ece"] == pytest.approx(sum(gaps) / 200)
  assert r["mce"] == pytest.approx(max(abs(a - f) for c, a, f in zip(
      r["bin_count"], r["bin_accuracy"], r["bin_confidence"]) if c))
  assert 0 < r["ece"] <= r["mce"] <= 1


def test_calibrated_is_zero_and_confidently_wrong_is_one():
  # 10 predictions at confidence .8, 8 of them right: calibrated.
  probs = np.tile([[.8, .2]], (10, 1))
  labels = np.array([0] * 8 + [1] * 2)
  assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)
  wrong = reliability_diagram(np.tile([[1.0, 0.0]], (4, 1)), np.ones(4, np.int64))
  assert wrong["ece"] == pytest.approx(1.0) and wrong["mce"] == pytest.approx(1.0)
  assert np.isfinite(wrong["nll"]) and wrong["nll"] > 20  # log of the 1e-12 floor


@pytest.mark.parametrize("probs,labels,bins,match", [
    (PROBS * 3, LABELS, 15, "sum to 1"),                 # logits, not probabilities
    (PROBS, LABELS[:4], 15, r"must be \[n, classes\]"),
    (PROBS, LABELS + 1, 15, r"class ids in \[0, 3\)"),
    (PROBS, LABELS, 0, "num_bins=0; valid: an integer >= 1"),
])
def test_bad_input_is_named(probs, labels, bins, match):
  with pytest.raises(ValueError, match=match):
    reliability_diagram(probs, labels, bins)
