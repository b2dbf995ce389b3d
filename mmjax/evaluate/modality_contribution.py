"""How much each modality contributes: the metric drop when that modality is ablated.

Two ablations, because they answer different questions:
  zeroed    the modality replaced by a constant (zeros / padding). The model sees an input it
            never saw in training, so the drop mixes "lost information" with "out of
            distribution".
  shuffled  the modality permuted across examples, so each example gets another example's
            input. Its marginal distribution is unchanged and only its relation to the label
            (and to the other modalities) is destroyed: a permutation-importance test
            (Breiman 2001, "Random Forests"; used for modalities by Gat et al. 2021, "Perceptual
            Score").
"""

from typing import Callable, Mapping, Optional

import numpy as np


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
  """A random permutation of range(n) with no fixed point (n >= 2): every example receives
  another example's input."""
  if n < 2:
    raise ValueError(f"n={n}; shuffling across examples needs at least 2.")
  perm = rng.permutation(n)
  # perm[i] takes perm[i + 1]'s input: a single cycle through all n, so nothing maps to itself.
  out = np.empty(n, np.int64)
  out[perm] = np.roll(perm, -1)
  return out


def shuffle_across_examples(x, rng: np.random.Generator) -> np.ndarray:
  """x [n, ...] with its rows permuted so that no row stays in place."""
  x = np.asarray(x)
  return x[derangement(len(x), rng)]


def modality_contribution(probabilities: Callable, inputs: Mapping[str, np.ndarray], labels,
                          drops: Mapping[str, Callable], score: Callable, seed: int = 0,
                          clean: Optional[dict] = None) -> dict:
  """{modality: {"zeroed", "shuffled": {metric: value}, "drop_zeroed", "drop_shuffled":
  {metric: clean - ablated}}} for each modality of `inputs`.

  probabilities(inputs {modality: [n, ...]}) -> [n, classes]; drops: {modality: x -> x replaced
  by a constant}; score(labels, probs) -> {metric: float}; clean: the clean scores, if known.
  """
  missing = [m for m in inputs if m not in drops]
  if missing:
    raise ValueError(f"no drop function for modalities {missing}; drops has {list(drops)}.")
  clean = dict(score(labels, probabilities(inputs)) if clean is None else clean)
  out = {}
  for m in inputs:
    rng = np.random.default_rng(seed)
    zeroed = score(labels, probabilities(dict(inputs, **{m: drops[m](inputs[m])})))
    shuffled = score(labels, probabilities(
        dict(inputs, **{m: shuffle_across_examples(inputs[m], rng)})))
    out[m] = {"zeroed": {k: float(v) for k, v in zeroed.items()},
              "shuffled": {k: float(v) for k, v in shuffled.items()},
              "drop_zeroed": {k: float(clean[k] - zeroed[k]) for k in zeroed},
              "drop_shuffled": {k: float(clean[k] - shuffled[k]) for k in shuffled}}
  return out
