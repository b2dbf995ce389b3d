"""Writes an evaluation report: report.json (everything), report.md (tables a person reads) and
one PNG per robustness curve plus the reliability diagram, into one directory.

The report is the dict `experiments/evaluate.py` builds: "run" (what was evaluated), "metrics"
(accuracy, macro F1, ...), "calibration" (calibration.reliability_diagram), "robustness"
({modality: {corruption: robustness.sweep}}), "dropped" ({modality: scores with it removed}),
"modality_contribution", "compositional"; a section that is absent is skipped.
"""

import json
import os

import matplotlib

matplotlib.use("Agg")  # files only; never a display.
import matplotlib.pyplot as plt  # noqa: E402

CURVE_METRICS = ("accuracy", "macro_f1")


def _fmt(v):
  return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _table(header, rows):
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  return lines + ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]


def plot_curve(curve: dict, title: str, path: str, clean=None, dropped=None, chance=None):
  """One robustness curve (accuracy and macro F1 against the level) with reference lines."""
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for metric in CURVE_METRICS:
    if metric in curve:
      ax.plot(curve["levels"], curve[metric], marker="o", label=metric)
  for value, label, style in ((clean, "clean accuracy", "--"), (dropped, "modality dropped", ":"),
                              (chance, "chance", "-.")):
    if value is not None:
      ax.axhline(value, linestyle=style, color="grey", linewidth=1, label=label)
  if curve["levels"][0] > curve["levels"][-1]:  # e.g. SNR: severity grows as the level falls
    ax.invert_xaxis()
  ax.set(xlabel=curve["level_name"], ylabel="score", title=title, ylim=(0, 1.02))
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_reliability(cal: dict, path: str):
  """Reliability diagram (Guo et al. 2017): accuracy per confidence bin against the diagonal."""
  edges = cal["bin_edges"]
  width = edges[1] - edges[0]
  acc = [0.0 if a is None else a for a in cal["bin_accuracy"]]
  fig, ax = plt.subplots(figsize=(4, 4))
  ax.bar(edges[:-1], acc, width=width, align="edge", edgecolor="black", label="accuracy")
  ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
  ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
         title=f"ECE {cal['ece']:.3f} ({len(acc)} bins, n={cal['n']})")
  ax.legend(fontsize=7, loc="upper left")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def markdown(report: dict, images: dict) -> str:
  """report.md's text; `images` maps a curve's (modality, corruption) or "calibration" to its
  PNG file name."""
  run, out = report.get("run", {}), []
  out += [f"# Evaluation of {run.get('experiment', 'a run')} at step {run.get('step', '?')}", ""]
  out += [f"- {k}: {v}" for k, v in run.items()] + [""]
  m = report.get("metrics")
  if m:
    out += ["## Task metrics", ""]
    out += _table(["accuracy", "macro F1", "macro precision", "macro recall", "chance",
                   "Bayes-optimal"],
                  [[m["accuracy"], m["macro_f1"], m["macro_precision"], m["macro_recall"],
                    run.get("chance"), run.get("bayes_optimal")]]) + [""]
  for mod, curves in report.get("robustness", {}).items():
    for name, c in curves.items():
      out += [f"## Robustness: {mod} {name}", ""]
      rows = [[f"{lv:g}", *(c[k][i] for k in CURVE_METRICS)] for i, lv in enumerate(c["levels"])]
      if m:
        rows.insert(0, ["clean", *(m[k] for k in CURVE_METRICS)])
      dropped = report.get("dropped", {}).get(mod)
      if dropped:
        rows.append(["dropped", *(dropped[k] for k in CURVE_METRICS)])
      out += _table([c["level_name"], *CURVE_METRICS], rows)
      out += ["", f"Relative robustness (area under the accuracy curve): "
              f"{c['relative_robustness']['accuracy']:.3f}", "",
              f"![{mod} {name}]({images[(mod, name)]})", ""]
  contrib = report.get("modality_contribution")
  if contrib:
    out += ["## Modality contribution (accuracy)", ""]
    out += _table(["modality", "zeroed", "drop when zeroed", "shuffled", "drop when shuffled"],
                  [[mod, c["zeroed"]["accuracy"], c["drop_zeroed"]["accuracy"],
                    c["shuffled"]["accuracy"], c["drop_shuffled"]["accuracy"]]
                   for mod, c in contrib.items()]) + [""]
  comp = report.get("compositional")
  if comp:
    out += ["## Compositional generalisation", ""]
    if comp.get("available"):
      out += _table(["split", "accuracy", "macro F1"],
                    [[s, comp[s]["accuracy"], comp[s]["macro_f1"]]
                     for s in ("test", "test_compositional")])
      out += ["", f"Held-out pairs: {comp['held_out']}; accuracy gap {comp['gap']:.3f}.", ""]
    else:
      out += [f"Not measured: {comp['reason']}", ""]
  cal = report.get("calibration")
  if cal:
    out += ["## Calibration", ""]
    out += _table(["ECE", "MCE", "NLL", "accuracy", "mean confidence"],
                  [[cal["ece"], cal["mce"], cal["nll"], cal["accuracy"], cal["confidence"]]])
    out += ["", f"![reliability diagram]({images['calibration']})", ""]
  return "\n".join(out)


def summary_table(report: dict) -> str:
  """The report's headline numbers as one Markdown table (accuracy throughout) and a sentence
  naming the modality the model leans on most: what README shows of an evaluation."""
  run, m, rows = report.get("run", {}), report["metrics"], []
  ref = ", ".join(f"{label} {run[k]:.3f}" for k, label in (("chance", "chance"),
                                                             ("bayes_optimal", "Bayes-optimal"))
                  if run.get(k) is not None)
  rows.append([f"test split, {run.get('num_test_examples', '?')} examples" +
               (f" ({ref})" if ref else ""),
               f"{m['accuracy']:.3f} (macro F1 {m['macro_f1']:.3f})"])
  cal = report.get("calibration")
  if cal:
    rows.append([f"calibration: ECE over {len(cal['bin_count'])} confidence bins",
                 f"{cal['ece']:.3f}"])
  for mod, curves in report.get("robustness", {}).items():
    for name, c in curves.items():
      levels = " / ".join(f"{lv:g}" for lv in c["levels"])
      accs = " / ".join(f"{a:.3f}" for a in c["accuracy"])
      rows.append([f"{mod} {name}, {c['level_name']} {levels}",
                   f"{accs} (area {c['relative_robustness']['accuracy']:.3f})"])
  contrib = report.get("modality_contribution", {})
  for mod, c in contrib.items():
    rows.append([f"{mod} zeroed / shuffled across examples",
                 f"{c['zeroed']['accuracy']:.3f} / {c['shuffled']['accuracy']:.3f}"])
  comp = report.get("compositional", {})
  if comp.get("available"):
    pairs = ", ".join("(" + ", ".join(p) + ")" for p in comp["held_out"])
    rows.append([f"held-out pairs {pairs}: test_compositional, {comp['num_examples']} examples",
                 f"{comp['test_compositional']['accuracy']:.3f} (test "
                 f"{comp['test']['accuracy']:.3f}, gap {comp['gap']:.3f})"])
  lines = ["| test | accuracy |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
  if len(contrib) > 1:  # the drop when zeroed: which modality the fused model needs most
    most = max(contrib, key=lambda k: contrib[k]["drop_zeroed"]["accuracy"])
    lines += ["", f"Zeroing {most} costs the most accuracy "
              f"({contrib[most]['drop_zeroed']['accuracy']:.3f}): the model leans on {most}."]
  return "\n".join(lines)


def write_report(report: dict, directory: str) -> dict:
  """Writes report.json, report.md and the PNGs into `directory`; returns {what: path}."""
  os.makedirs(directory, exist_ok=True)
  run, images = report.get("run", {}), {}
  clean = report.get("metrics", {}).get("accuracy")
  for mod, curves in report.get("robustness", {}).items():
    for name, curve in curves.items():
      images[(mod, name)] = f"robustness_{mod}_{name}.png"
      plot_curve(curve, f"{mod}: {name}", os.path.join(directory, images[(mod, name)]), clean,
                 report.get("dropped", {}).get(mod, {}).get("accuracy"), run.get("chance"))
  if "calibration" in report:
    images["calibration"] = "reliability.png"
    plot_reliability(report["calibration"], os.path.join(directory, images["calibration"]))
  paths = {"json": os.path.join(directory, "report.json"),
           "markdown": os.path.join(directory, "report.md")}
  with open(paths["json"], "w") as f:
    json.dump(report, f, indent=2)
  with open(paths["markdown"], "w") as f:
    f.write(markdown(report, images))
  paths.update({f"png:{k if isinstance(k, str) else '/'.join(k)}": os.path.join(directory, v)
                for k, v in images.items()})
  return paths
