"""Linear probe: separable features are learnt perfectly, random labels stay at chance, and the
regularisation weight is chosen on the validation split."""

import numpy as np
import pytest

from mmjax.evaluate.linear_probe import linear_probe


def blobs(rng, n, num_classes=3, dim=5, spread=0.3):
  centres = 3.0 * np.eye(num_classes, dim)
  y = rng.integers(0, num_classes, n)
  return centres[y] + spread * rng.normal(size=(n, dim)), y


def test_separable_classes_reach_full_accuracy():
  rng = np.random.default_rng(0)
  x, y = blobs(rng, 300)
  tx, ty = blobs(rng, 300)
  out = linear_probe(x, y, tx, ty, 3)
  assert out["accuracy"] == 1.0 and out["val_accuracy"] == 1.0
  assert out["l2"] in (1e-4, 1e-3, 1e-2, 1e-1)
  assert 1 / 3 - 0.1 < out["chance"] < 1 / 3 + 0.1


def test_random_labels_stay_near_chance():
  rng = np.random.default_rng(1)
  x, tx = rng.normal(size=(400, 8)), rng.normal(size=(2000, 8))
  out = linear_probe(x, rng.integers(0, 4, 400), tx, rng.integers(0, 4, 2000), 4)
  assert abs(out["accuracy"] - 0.25) < 0.05


def test_only_the_informative_dimension_is_needed_and_scale_does_not_matter():
  # Label = sign of a feature scaled by 1e3 among pure-noise ones: standardisation makes it
  # as easy as at unit scale.
  rng = np.random.default_rng(2)
  x = rng.normal(size=(600, 6))
  x[:, 3] *= 1e3
  y = (x[:, 3] > 0).astype(int)
  out = linear_probe(x[:400], y[:400], x[400:], y[400:], 2)
  assert out["accuracy"] > 0.97


def test_heavy_regularisation_loses_on_validation_and_is_not_chosen():
  rng = np.random.default_rng(3)
  x, y = blobs(rng, 300, spread=1.2)
  tx, ty = blobs(rng, 300, spread=1.2)
  out = linear_probe(x, y, tx, ty, 3, l2_grid=(1e-4, 1e3))
  assert out["l2"] == 1e-4 and out["accuracy"] > 0.8


def test_bad_inputs_name_the_problem():
  x, y = np.zeros((10, 2)), np.zeros(10, int)
  with pytest.raises(ValueError, match="same dim"):
    linear_probe(x, y, np.zeros((4, 3)), np.zeros(4, int), 2)
  with pytest.raises(ValueError, match="class ids in \\[0, 2\\)"):
    linear_probe(x, y + 2, x, y, 2)
  with pytest.raises(ValueError, match="val_fraction"):
    linear_probe(x, y, x, y, 2, val_fraction=1.5)
