"""A sweep's results -> summary.csv, summary.md (mean ± std over seeds) and plots/*.png.

summary.csv: one row per trial: trial, status (done / failed / incomplete / pending), its swept
  values (short labels as columns) and every numeric value of its results.json (nested dicts
  flattened with '/', lists left out).
summary.md:  one row per variant with results (its swept values but the seed): seeds done, and
  mean ± sample standard deviation (n - 1) over them of each metric; the best mean per column
  in bold (the highest, or the lowest for `minimize` metrics), per table when `tables_by`
  splits them. No headings: the README embeds it (mmjax.reproduce).
plots/<metric>_vs_<key>.png: the mean (± std) metric against each swept key with more than one
  value, one line per combination of the other swept keys.
"""

import csv
import json
import math
import os
import re

import numpy as np

from mmjax.sweep.runner import status, trial_dir
from mmjax.sweep.spec import Sweep, format_value


def flatten(results: dict, prefix: str = "") -> dict:
  """Numeric leaves of a results dict, nested keys joined with '/'."""
  out = {}
  for k, v in results.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}/"))
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
      out[prefix + k] = float(v)
  return out


def cell(value):
  """A swept value in summary.csv: numbers stay numbers."""
  return value if isinstance(value, (int, float)) and not isinstance(value, bool) \
      else format_value(value)


def collect(sweep: Sweep, workdir: str) -> tuple[list, list]:
  """-> (rows, metric columns): one row per trial of the sweep, in trial order."""
  rows, metrics = [], {}
  for trial in sweep.trials:
    row = {"trial": trial.name, "status": status(workdir, trial)}
    row.update({sweep.labels[k]: cell(v) for k, v in trial.values.items()})
    if row["status"] == "done":
      with open(os.path.join(trial_dir(workdir, trial), "results.json")) as f:
        for k, v in flatten(json.load(f)).items():
          key = f"results/{k}" if k in row else k  # never shadow a swept column.
          row[key] = v
          metrics.setdefault(key, None)
    rows.append(row)
  return rows, list(metrics)


def summary_metrics(rows, metrics, chosen=()) -> list:
  """The spec's metrics, else those that differ between done trials (all if none differ)."""
  if chosen:
    return [m for m in chosen if m in metrics]
  done = [r for r in rows if r["status"] == "done"]
  varying = [m for m in metrics if m != "step" and len({r.get(m) for r in done}) > 1]
  return varying or [m for m in metrics if m != "step"]


def group(rows, keys, metrics) -> list[dict]:
  """Rows grouped by their `keys` values -> one dict per group, in the rows' order: the keys'
  values, "n" (done rows), and per metric (mean, sample std) over the done rows (nan when
  there are none, std nan when n = 1)."""
  groups = {}
  for r in rows:
    members = groups.setdefault(tuple(r[k] for k in keys), [])
    if r["status"] == "done":
      members.append(r)
  out = []
  for values, members in groups.items():
    g = dict(zip(keys, values), n=len(members))
    for m in metrics:
      x = np.array([r[m] for r in members if r.get(m) is not None], np.float64)
      g[m] = (float(x.mean()) if x.size else math.nan,
              float(x.std(ddof=1)) if x.size > 1 else math.nan)
    out.append(g)
  return out


def best(groups, metric, minimize=False) -> set:
  """Indices of the groups whose mean `metric` is the best (ties all count)."""
  means = [g[metric][0] for g in groups]
  valid = [m for m in means if not math.isnan(m)]
  if not valid:
    return set()
  target = min(valid) if minimize else max(valid)
  return {i for i, m in enumerate(means) if m == target}


def _mean_std(mean: float, std: float) -> str:
  """Both in the mean's format, so that a rounding-level std reads 0.000."""
  fmt = ".3f" if mean == 0 or 1e-3 <= abs(mean) < 1e4 else ".3g"
  if math.isnan(mean):
    return "–"
  return f"{mean:{fmt}}" + ("" if math.isnan(std) else f" ± {std:{fmt}}")


def table(groups, keys, metrics, minimize=()) -> list[str]:
  bold = {m: best(groups, m, m in minimize) for m in metrics}
  lines = ["| " + " | ".join([*keys, "seeds", *metrics]) + " |",
           "|" + "---|" * (len(keys) + 1 + len(metrics))]
  for i, g in enumerate(groups):
    cells = [str(g[k]) for k in keys] + [str(g["n"])]
    for m in metrics:
      text = _mean_std(*g[m])
      cells.append(f"**{text}**" if i in bold[m] else text)
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def markdown(sweep: Sweep, rows, metrics, title: str) -> str:
  keys = [sweep.labels[k] for k in sweep.axes if k != "seed"]
  counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "incomplete",
                                                              "pending")}
  lines = [f"{title}: {counts['done']} of {len(rows)} trials done" +
           "".join(f", {n} {s}" for s, n in counts.items() if n and s != "done") + ". "
           f"Mean ± sample std (n-1) over seeds; the best mean per column in bold"
           f"{' (lower is better: ' + ', '.join(sweep.minimize) + ')' if sweep.minimize else ''}"
           "."]
  failed = [r["trial"] for r in rows if r["status"] == "failed"]
  if failed:
    lines += ["", "Failed (see <trial>/error.txt): " + ", ".join(failed)]
  split = sweep.labels.get(sweep.tables_by)
  parts = [(None, rows)] if split is None else [
      (v, [r for r in rows if r[split] == v]) for v in dict.fromkeys(r[split] for r in rows)]
  for value, part in parts:
    if split is not None:
      lines += ["", f"**{split} = {value}**"]
    groups = [g for g in group(part, [k for k in keys if k != split], metrics) if g["n"]]
    lines += [""] + table(groups, [k for k in keys if k != split], metrics, sweep.minimize)
  return "\n".join(lines) + "\n"


def _safe(name: str) -> str:
  return re.sub(r"[^\w.+-]", "_", name)


def plot(sweep: Sweep, rows, metrics, folder: str) -> list[str]:
  """One PNG per (metric, swept key with several values); returns their paths."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  keys = [sweep.labels[k] for k in sweep.axes if k != "seed"]
  groups = [g for g in group(rows, keys, metrics) if g["n"]]
  multi = [k for k in keys if len({g[k] for g in groups}) > 1]
  paths = []
  for x_key in multi:
    xs = list(dict.fromkeys(g[x_key] for g in groups))
    numeric = all(isinstance(x, (int, float)) for x in xs)
    if numeric:
      xs = sorted(xs)
    pos = {x: (x if numeric else i) for i, x in enumerate(xs)}
    others = [k for k in multi if k != x_key]
    lines = {}
    for g in groups:
      lines.setdefault(tuple(g[k] for k in others), []).append(g)
    for metric in metrics:
      fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(xs) + 3), 3.8))
      # Distinct colours (and markers) for up to 20 lines, e.g. one per fusion.
      colours = plt.get_cmap("tab10" if len(lines) <= 10 else "tab20")
      for i, (line_key, members) in enumerate(lines.items()):
        members = sorted(members, key=lambda g: pos[g[x_key]])
        mean = np.array([g[metric][0] for g in members])
        std = np.nan_to_num(np.array([g[metric][1] for g in members]))
        label = ",".join(f"{k}={v}" for k, v in zip(others, line_key)) or None
        ax.errorbar([pos[g[x_key]] for g in members], mean, yerr=std, capsize=3, label=label,
                    color=colours(i % colours.N), marker="osD^vPX"[i % 7])
      if not numeric:
        ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=30 if len(xs) > 4 else 0,
                      ha="right" if len(xs) > 4 else "center")
        ax.set_xlim(-0.5, len(xs) - 0.5)
      elif min(xs) > 0 and max(xs) / min(xs) > 10:
        ax.set_xscale("log")
      ax.set_xlabel(x_key)
      ax.set_ylabel(metric)
      ax.set_title(f"{metric} vs {x_key} (mean ± std over seeds)", fontsize=10)
      ax.grid(alpha=0.3)
      if others:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
      fig.tight_layout()
      path = os.path.join(folder, f"{_safe(metric)}_vs_{_safe(x_key)}.png")
      fig.savefig(path, dpi=100)
      plt.close(fig)
      paths.append(path)
  return paths


def write_atomic(path: str, write):
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w", newline="") as f:
    write(f)
  os.replace(tmp, path)  # readers never see a half-written summary.


def aggregate(sweep: Sweep, workdir: str, plots: bool = True) -> dict:
  """Writes summary.csv, summary.md and plots/ into workdir; returns their paths."""
  rows, metric_columns = collect(sweep, workdir)
  columns = [k for k in rows[0] if k not in metric_columns] + metric_columns

  def write_csv(f):
    writer = csv.DictWriter(f, columns, restval="")
    writer.writeheader()
    writer.writerows(rows)

  os.makedirs(workdir, exist_ok=True)
  paths = {"csv": os.path.join(workdir, "summary.csv"), "md": os.path.join(workdir, "summary.md")}
  write_atomic(paths["csv"], write_csv)
  metrics = summary_metrics(rows, metric_columns, sweep.metrics)
  title = f"Sweep `{os.path.relpath(sweep.config_file, sweep.root)}" + (
      f":{sweep.arg}`" if sweep.arg else "`")
  write_atomic(paths["md"], lambda f: f.write(markdown(sweep, rows, metrics, title)))
  paths["plots"] = []
  if plots and any(r["status"] == "done" for r in rows):
    os.makedirs(os.path.join(workdir, "plots"), exist_ok=True)
    paths["plots"] = plot(sweep, rows, metrics, os.path.join(workdir, "plots"))
  return paths
