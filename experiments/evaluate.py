r"""Evaluates the newest checkpoint of a finished classification run with a battery of tests and
writes <workdir>/evaluation/report.json, report.md and one PNG per curve:

  python experiments/evaluate.py --workdir runs/fusion    # a fusion_classification.py run

  task metrics   accuracy, macro precision / recall / F1 and confusion matrix on the test split.
  robustness     each modality corrupted at increasing levels while the others stay clean (image:
                 Gaussian pixel noise; audio: white noise at an SNR; text: token dropout and
                 replacement), and dropped: the per-modality curves of MultiBench (Liang et al.
                 2021), with their relative robustness (area under the curve).
  contribution   the metric drop when a modality is zeroed, or shuffled across examples.
  compositional  accuracy on test_compositional (scenes with a held-out (shape, colour) pair)
                 against test; needs a run whose data.source.shapes.held_out lists the
                 pairs kept out of training (configs/fusion.py holds out two by default).
  calibration    ECE with 15 equal-width confidence bins and the reliability diagram (Guo et al.
                 2017, "On Calibration of Modern Neural Networks").

The battery (`battery`) sees a run only through a `Subject` (mmjax/evaluate/subject.py): a
probabilities function, the test inputs {modality: array} and labels, per-modality corruptions
and drops, and optionally the compositional split. To evaluate another classification
experiment (vqa, av_mnist), write one adapter `workdir, num_examples -> Subject` beside
`fusion_subject` and register it in EXPERIMENTS: read the run's config with
`experiment.load_run_config`, rebuild its model and test data with the library's builders
(mmjax.tasks.classification, as `fusion_subject` does), restore the weights with
`train.restore_latest`, and pick its modalities' corruptions from mmjax/evaluate/robustness.py.
Then `--experiment=<name>` evaluates its runs.

evaluation/readme.md gets the headline numbers as one table, under a line naming the command,
the run, the machine and the wall time (with the load average: the machine may be shared);
--update_readme writes exactly that between README.md's <!-- evaluation:<experiment>:begin -->
and <!-- evaluation:<experiment>:end --> markers (--readme another file).
"""

import os
import sys
import time
from typing import Callable, Optional

from absl import app, flags, logging
import numpy as np

from mmjax.evaluate import robustness
from mmjax.evaluate.calibration import reliability_diagram
from mmjax.evaluate.classification import classification_metrics
from mmjax.evaluate.modality_contribution import modality_contribution
from mmjax.evaluate.report import summary_table, write_report
from mmjax.evaluate.subject import Subject, fusion_subject
from mmjax.registry import ConfigError, Registry
from mmjax.reproduce import tables

EXPERIMENTS = Registry("experiment")
EXPERIMENTS.register("fusion_classification")(fusion_subject)


def scorer(num_classes: int) -> Callable:
  """score(labels, probs) -> {"accuracy", "macro_f1"}: what every curve and ablation reports."""
  def score(labels, probs):
    m = classification_metrics(labels, np.argmax(probs, -1), num_classes)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
  return score


def battery(subject: Subject, seed: int = 0, num_bins: int = 15) -> dict:
  """Runs every test on `subject`; returns the report (see mmjax/evaluate/report.py)."""
  s, score = subject, scorer(subject.num_classes)
  probs = s.probabilities(s.inputs)
  metrics = classification_metrics(s.labels, probs.argmax(-1), s.num_classes)
  contribution = modality_contribution(s.probabilities, s.inputs, s.labels, s.drops, score, seed,
                                       clean=metrics)
  report = {"run": s.run, "metrics": metrics,
            "calibration": reliability_diagram(probs, s.labels, num_bins),
            "robustness": robustness.robustness_curves(s.probabilities, s.inputs, s.labels,
                                                      s.corruptions, score, seed),
            "dropped": {m: c["zeroed"] for m, c in contribution.items()},
            "modality_contribution": contribution}
  if s.compositional is None:
    report["compositional"] = {"available": False, "reason": s.compositional_note}
  else:
    comp = score(s.compositional[1], s.probabilities(s.compositional[0]))
    report["compositional"] = {
        "available": True, "held_out": s.run.get("held_out"),
        "test": {k: metrics[k] for k in comp}, "test_compositional": comp,
        "num_examples": len(s.compositional[1]),
        "gap": metrics["accuracy"] - comp["accuracy"]}
  return report


def evaluate(workdir: str, experiment: str = "fusion_classification",
             num_examples: Optional[int] = None, seed: int = 0, num_bins: int = 15) -> dict:
  """Builds the run's Subject, runs the battery, writes <workdir>/evaluation/; returns the
  report."""
  adapter = EXPERIMENTS.get(experiment, "--experiment")
  # Checked now, not after minutes of predictions.
  if num_bins < 1:
    raise ConfigError(f"--num_bins={num_bins}; valid: an integer >= 1.")
  if num_examples is not None and num_examples < 2:
    raise ConfigError(f"--num_examples={num_examples}; valid: >= 2 (shuffling a modality "
                      "across examples needs two), or 0 for the run's eval.num_examples.")
  report = battery(adapter(workdir, num_examples), seed, num_bins)
  report["run"].update(seed=seed, num_bins=num_bins)
  write_report(report, os.path.join(workdir, "evaluation"))
  return report


def summary(report: dict) -> str:
  """A few lines for the terminal."""
  m, cal, out = report["metrics"], report["calibration"], []
  out.append(f"step {report['run']['step']}: accuracy {m['accuracy']:.3f}, macro F1 "
             f"{m['macro_f1']:.3f} (chance {report['run']['chance']:.3f}); ECE "
             f"{cal['ece']:.3f}")
  for mod, curves in report["robustness"].items():
    for name, c in curves.items():
      points = ", ".join(f"{lv:g}: {a:.3f}" for lv, a in zip(c["levels"], c["accuracy"]))
      out.append(f"  {mod} {name} ({c['level_name']}) accuracy {points}")
  for mod, c in report["modality_contribution"].items():
    out.append(f"  without {mod}: zeroed {c['zeroed']['accuracy']:.3f}, shuffled "
               f"{c['shuffled']['accuracy']:.3f} (drops {c['drop_zeroed']['accuracy']:.3f}, "
               f"{c['drop_shuffled']['accuracy']:.3f})")
  comp = report["compositional"]
  out.append(f"  compositional: test {comp['test']['accuracy']:.3f}, test_compositional "
             f"{comp['test_compositional']['accuracy']:.3f}" if comp["available"]
             else f"  compositional: not measured; {comp['reason']}")
  return "\n".join(out)


def readme_block(report: dict, command: str, wall_seconds: float, load: float) -> str:
  """evaluation/readme.md's text and README's block: the command, the run, the machine, the
  wall time, then the report's summary table."""
  run = report["run"]
  what = ", ".join(f"{k} {run[k]}" for k in ("task", "fusion") if run.get(k))
  cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  return (f"`{command}` (the run at step {run.get('step', '?')}{'; ' + what if what else ''}) "
          f"on {tables.machine()}, {tables.duration(wall_seconds)} (load {load:.1f} on {cpus} "
          f"cores):\n\n{summary_table(report)}\n")


def evaluate_and_summarise(workdir: str, command: str, readme: Optional[str] = None,
                           **kwargs) -> tuple:
  """`evaluate`, then evaluation/readme.md, and with `readme` its block there; returns the
  report and the block's text."""
  t0, load0 = time.monotonic(), os.getloadavg()[0]
  report = evaluate(workdir, **kwargs)
  wall, load = time.monotonic() - t0, (load0 + os.getloadavg()[0]) / 2
  text = readme_block(report, command, wall, load)
  with open(os.path.join(workdir, "evaluation", "readme.md"), "w") as f:
    f.write(text)
  if readme:
    name = f"evaluation:{kwargs.get('experiment', 'fusion_classification')}"
    changed = tables.update_readme(readme, name, text)
    print(f"{'Updated' if changed else 'Unchanged:'} {readme} ({name})")
  return report, text


FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  name = f"evaluation:{FLAGS.experiment}"
  if FLAGS.update_readme:  # missing markers fail now, not after minutes of predictions
    with open(FLAGS.readme) as f:
      tables.replace_block(f.read(), "", *tables.markers(name))
  command = tables.shown_command("python experiments/evaluate.py", sys.argv[1:],
                                 ("--update_readme", "--readme"))
  report, _ = evaluate_and_summarise(
      FLAGS.workdir, command, FLAGS.readme if FLAGS.update_readme else None,
      experiment=FLAGS.experiment, num_examples=FLAGS.num_examples or None, seed=FLAGS.seed,
      num_bins=FLAGS.num_bins)
  print(summary(report))
  print(f"Report: {os.path.join(FLAGS.workdir, 'evaluation', 'report.md')}")


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "The workdir of a finished run (holds config.json).")
  flags.DEFINE_string("experiment", "fusion_classification",
                      f"The run's experiment; valid: {', '.join(EXPERIMENTS.names())}.")
  flags.DEFINE_integer("num_examples", 0, "Test examples (0: the run's eval.num_examples).")
  flags.DEFINE_integer("seed", 0, "Seed of the corruptions and shuffles.")
  flags.DEFINE_integer("num_bins", 15, "Confidence bins of the ECE.")
  flags.DEFINE_bool("update_readme", False, "Write evaluation/readme.md into README's "
                    "<!-- evaluation:<experiment>:begin/end --> block.")
  flags.DEFINE_string("readme", os.path.join(ROOT, "README.md"), "The README to update.")
  flags.mark_flags_as_required(["workdir"])
  app.run(main)
