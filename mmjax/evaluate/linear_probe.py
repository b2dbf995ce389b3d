"""Linear probe: multinomial logistic regression on frozen features (the CLIP paper's
representation-learning evaluation, Radford et al. 2021, appendix A.3).

Features are standardised with the fitting split's statistics; the L2 weight is chosen from a
small grid by accuracy on a held-out validation split, then the probe is refitted on fit +
validation data and scored on the test set. Full-batch L-BFGS (scipy) makes it deterministic.
"""

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax


def _fit(x, y, num_classes, l2, max_iter):
  n, d = x.shape
  onehot = np.eye(num_classes)[y]

  def loss_and_grad(theta):
    w, b = theta[:d * num_classes].reshape(d, num_classes), theta[d * num_classes:]
    logits = x @ w + b
    loss = -np.mean(np.sum(onehot * log_softmax(logits, axis=1), axis=1)) + l2 * np.sum(w * w)
    g = (softmax(logits, axis=1) - onehot) / n  # d mean CE / d logits
    return loss, np.concatenate([(x.T @ g + 2 * l2 * w).ravel(), g.sum(0)])

  theta0 = np.zeros(d * num_classes + num_classes)
  res = minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B",
                 options={"maxiter": max_iter})
  return res.x[:d * num_classes].reshape(d, num_classes), res.x[d * num_classes:]


def _accuracy(x, y, w, b):
  return float(np.mean(np.argmax(x @ w + b, axis=1) == y))


def linear_probe(features, labels, test_features, test_labels, num_classes: int, *,
                 val_fraction: float = 0.2, l2_grid=(1e-4, 1e-3, 1e-2, 1e-1), seed: int = 0,
                 max_iter: int = 200) -> dict:
  """features: [n, dim] and labels: int [n] to fit and validate on; test_features: [m, dim],
  test_labels: int [m]. Returns {"accuracy": test accuracy, "val_accuracy": best validation
  accuracy, "l2": the chosen weight, "chance": the majority-class rate of the test labels}."""
  x, y = np.asarray(features, np.float64), np.asarray(labels)
  tx, ty = np.asarray(test_features, np.float64), np.asarray(test_labels)
  if x.ndim != 2 or tx.ndim != 2 or x.shape[1] != tx.shape[1]:
    raise ValueError(f"features {x.shape} and test_features {tx.shape} must be [n, dim] with "
                     "the same dim.")
  if y.shape != (len(x),) or ty.shape != (len(tx),):
    raise ValueError(f"labels {y.shape} / test_labels {ty.shape} must be [n] / [m] for "
                     f"{len(x)} / {len(tx)} feature rows.")
  for name, v in (("labels", y), ("test_labels", ty)):
    if v.size == 0 or v.min() < 0 or v.max() >= num_classes:
      raise ValueError(f"{name} must be non-empty class ids in [0, {num_classes}).")
  if not 0.0 < val_fraction < 1.0 or not l2_grid:
    raise ValueError(f"val_fraction={val_fraction} (valid: in (0, 1)), l2_grid={l2_grid} "
                     "(valid: a non-empty sequence of weights).")
  order = np.random.default_rng(seed).permutation(len(x))
  n_val = max(1, int(round(val_fraction * len(x))))
  if n_val >= len(x):
    raise ValueError(f"{len(x)} examples leave none to fit on with val_fraction={val_fraction}.")
  val, fit = order[:n_val], order[n_val:]

  def standardise(ref):
    mu, sd = ref.mean(0), ref.std(0) + 1e-6
    return lambda a: (a - mu) / sd

  s = standardise(x[fit])
  scores = [_accuracy(s(x[val]), y[val], *_fit(s(x[fit]), y[fit], num_classes, l2, max_iter))
            for l2 in l2_grid]
  best = int(np.argmax(scores))  # first of equals: the smallest weight in an ascending grid
  s = standardise(x)
  w, b = _fit(s(x), y, num_classes, l2_grid[best], max_iter)
  return {"accuracy": _accuracy(s(tx), ty, w, b), "val_accuracy": scores[best],
          "l2": float(l2_grid[best]),
          "chance": float(np.bincount(ty, minlength=num_classes).max() / len(ty))}
