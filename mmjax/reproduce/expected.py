"""The cheap runs' expected values: what CI compares a regression against.

`python -m mmjax.reproduce --cheap --workdir W --update_expected` runs every row's tiny variant
over its seeds and stores each checked metric's mean, sample std and seed count in
`cheap_expected.json` beside this file, with the code that measured them. `--cheap --check`
(CI: tests/test_reproduce_values.py, one seed) fails when a value leaves
`tables.tolerance` of the stored mean: the tolerance comes from the measured spread, so a
metric that every seed puts at the same value must match exactly.
"""

import json
import math
import os

from mmjax.reproduce import tables

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cheap_expected.json")
# Floats in the file are rounded here: far below any tolerance, and readable in a diff.
DIGITS = 6


def write(rows, results: dict, path: str, seeds=None):
  """Stores {row: {metric: {mean, std, seeds}}} of the checked metrics; rows not run are kept."""
  stored = load(path) if os.path.exists(path) else {}
  for row in rows:
    values, errors = tables.row_values(row, results, seeds)
    if errors:
      raise ValueError("; ".join(errors))
    stored[row.name] = {k: {"mean": round(v[0], DIGITS), "std": round(v[1], DIGITS),
                            "seeds": v[2]}
                        for k, v in values.items() if row.metrics[k].tol is not None}
  with open(path + ".tmp", "w") as f:
    json.dump(dict(sorted(stored.items())), f, indent=1)
    f.write("\n")
  os.replace(path + ".tmp", path)


def load(path: str) -> dict:
  with open(path) as f:
    return json.load(f)


def check(rows, results: dict, path: str, seeds=None) -> list:
  """Every checked metric of `rows` against the stored values; a list of mismatches."""
  if not os.path.exists(path):
    return [f"{path} does not exist: write it with --cheap --update_expected"]
  stored, problems = load(path), []
  for row in rows:
    values, errors = tables.row_values(row, results, seeds)
    problems += errors
    if row.name not in stored:
      problems.append(f"{row.name}: {path} has no expected values: rerun --cheap "
                      "--update_expected")
      continue
    for key, m in row.metrics.items():
      if m.tol is None or key not in values:
        continue
      if key not in stored[row.name]:
        problems.append(f"{row.name}: {key}: {path} has no expected value")
        continue
      want, (got, got_std, n_got) = stored[row.name][key], values[key]
      tol = tables.tolerance(want["std"], want["seeds"], got_std, n_got)
      if not (math.isfinite(got) and abs(got - want["mean"]) <= tol + 10.0 ** -DIGITS):
        problems.append(f"{row.name}: {key} ({m.run} {m.field}): expected {want['mean']:.6g} "
                        f"± {want['std']:.3g} over {want['seeds']} seeds, got {got:.6g} "
                        f"({n_got} seed(s)), tolerance {tol:.3g}")
  return problems
