"""What a reproduction target declares: the runs it needs and how their results become a row.

A `Row` is one line of the README's results table. Its result cell is a template such as
`"accuracy {acc} (chance {chance})"` whose every `{placeholder}` is a `Metric`: a field of one
run's results.json (or of a `FollowUp`'s output) and its format. Each of the row's runs is
repeated for every seed in
`Row.seeds` (`--config.seed=k`, workdir `<run>_s<k>`); a checked metric shows the mean and the
sample standard deviation over the seeds, "0.773 ± 0.010", a shown-only one (tol=None, e.g.
chance) the mean. The same template both writes the cell and reads the expected numbers back
out of README.md, so the README is the one place the expected values live; `tables.check`
derives each metric's tolerance from the spread written there. A `Sweep` is a
`python -m mmjax.sweep` run shown as its summary.md table (its trials have their own seeds).
"""

import dataclasses
import os
import re
import string
import sys
from typing import Mapping, Optional

# Flags every run gets: the tqdm bar would fill the log with carriage returns.
COMMON_OVERRIDES = {"progress_bar": "False"}
NUMBER = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|-?inf"
PLUS_MINUS = " ± "
SEEDS = (0, 1, 2)


def _overrides(pairs: Mapping[str, str]) -> list:
  return [f"--config.{k}={v}" for k, v in pairs.items()]


@dataclasses.dataclass(frozen=True)
class FollowUp:
  """A command run on a run's workdir once it has finished, `python {args} --workdir <run>`
  (e.g. `-m mmjax.interpret --method gradcam`), or on `<run>/<subdir>` (one stage of a
  multi-stage experiment), which writes the JSON file `output` (relative to the run's
  workdir). The row's metrics read its fields as `<key>.<field>` of the run's results."""
  key: str
  args: tuple
  output: str
  subdir: str = ""

  def command(self, workdir: str) -> list:
    where = os.path.join(workdir, self.subdir) if self.subdir else workdir
    return [sys.executable, *self.args, "--workdir", where]


@dataclasses.dataclass(frozen=True)
class Run:
  """One experiment run, `python {script} --config {config} --config.k=v ...` in its own
  workdir. The cheap variant (`--cheap`, CI) uses `cheap_config` (default: the file's `:tiny`
  preset), then `cheap_overrides`, then the run's own `overrides`, which say what the run is
  (e.g. a unimodal baseline) and so win."""
  name: str
  script: str
  config: str  # "configs/x.py" or "configs/x.py:preset"
  overrides: Mapping[str, str] = dataclasses.field(default_factory=dict)
  cheap_config: Optional[str] = None
  cheap_overrides: Mapping[str, str] = dataclasses.field(default_factory=dict)
  done_file: str = "results.json"
  # Real data: the folder under --data_dir whose manifests the run reads (data.source.manifest).
  data: Optional[str] = None
  # Commands on the finished run's workdir whose outputs join its results (FollowUp).
  then: tuple = ()

  def with_seed(self, seed: int) -> "Run":
    """This run with `--config.seed=seed`, named `<name>_s<seed>`."""
    return dataclasses.replace(self, name=f"{self.name}_s{seed}",
                               overrides={**self.overrides, "seed": str(seed)})

  def command(self, workdir: str, cheap: bool, data_dir: Optional[str] = None) -> list:
    if cheap:
      config = self.cheap_config or self.config.split(":")[0] + ":tiny"
      pairs = {**COMMON_OVERRIDES, **self.cheap_overrides, **self.overrides}
    else:
      config, pairs = self.config, {**COMMON_OVERRIDES, **self.overrides}
    if self.data:
      if not data_dir:
        raise ValueError(f"run {self.name!r} reads real data: pass --data_dir (the folder "
                         f"holding {self.data}/).")
      pairs["data.source.manifest.dir"] = os.path.join(data_dir, self.data)
    return [sys.executable, self.script, "--config", config, *_overrides(pairs),
            "--workdir", workdir]


@dataclasses.dataclass(frozen=True)
class Metric:
  """`field` of run `run`'s results.json (a key, or `a.b` into a nested dict), printed with
  `fmt`. tol=None shows the value (its mean over seeds) without checking it. Otherwise `--check`
  compares it: a row of several seeds with the tolerance its spread gives (`tables.tolerance`);
  a single-seed row (the real-data rows) with |got - README| <= tol + half a unit of the
  README's last digit, tol a hand-set margin for one seed's run-to-run noise."""
  run: str
  field: str
  fmt: str = ".3f"
  tol: Optional[float] = 0.0
  # False: a number no seed changes (chance, a Bayes rate, a data baseline): shown without a
  # spread, checked to the README's rounding (tol 0).
  varies: bool = True

  def value(self, results: dict) -> float:
    if self.field in results:
      return results[self.field]
    node = results
    for part in self.field.split("."):
      if not isinstance(node, dict) or part not in node:
        raise KeyError(self.field)
      node = node[part]
    return node


def placeholders(template: str) -> list:
  return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]


@dataclasses.dataclass(frozen=True)
class Row:
  """One README results row: `| experiment | command | result | wall time |`. The wall time is
  the first run's (the row's main run, first seed), with all runs' total when there are
  several."""
  name: str
  experiment: str
  command: str
  runs: tuple
  result: str
  metrics: Mapping[str, Metric]
  seeds: tuple = SEEDS

  def __post_init__(self):
    fields, runs = placeholders(self.result), {r.name for r in self.runs}
    if sorted(fields) != sorted(self.metrics) or len(set(fields)) != len(fields):
      raise ValueError(f"row {self.name!r}: the result template's placeholders {fields} must "
                       f"be the metrics {sorted(self.metrics)}, each once.")
    for key, m in self.metrics.items():
      if m.run not in runs:
        raise ValueError(f"row {self.name!r}: metric {key!r} reads run {m.run!r}; valid: "
                         f"{', '.join(sorted(runs))}.")
    if any("|" in cell for cell in (self.experiment, self.command, self.result)):
      raise ValueError(f"row {self.name!r}: a table cell cannot contain '|'.")
    if not self.seeds:
      raise ValueError(f"row {self.name!r}: seeds must name at least one seed.")

  def seeded_runs(self, seeds: Optional[tuple] = None) -> tuple:
    """The runs to execute: each of `runs` once per seed (default: the row's own seeds)."""
    return tuple(r.with_seed(k) for r in self.runs for k in (seeds or self.seeds))

  def render(self, values: Mapping[str, tuple]) -> str:
    """The result cell from {placeholder: (mean, std, n)}: "mean ± std" for a checked metric
    of several seeds, else the mean."""
    cells = {}
    for k, m in self.metrics.items():
      mean, std, n = values[k]
      spread = m.tol is not None and m.varies and n > 1
      cells[k] = format(mean, m.fmt) + (f"{PLUS_MINUS}{std:{m.fmt}}" if spread else "")
    return self.result.format(**cells)

  def parse(self, cell: str) -> dict:
    """The numbers of a rendered result cell, as {placeholder: (mean text, std text or None)};
    None if it does not match the template."""
    spread = f"(?:{re.escape(PLUS_MINUS)}(?P<{{0}}__std>{NUMBER}))?"
    pattern = "".join(
        re.escape(lit) + (f"(?P<{f}>{NUMBER})" + spread.format(f) if f is not None else "")
        for lit, f, _, _ in string.Formatter().parse(self.result))
    match = re.fullmatch(pattern, cell.strip())
    if not match:
      return None
    return {k: (match[k], match[f"{k}__std"]) for k in self.metrics}


@dataclasses.dataclass(frozen=True)
class Sweep:
  """`python -m mmjax.sweep --config {config} --workdir W {args}`, which exits 0 when every
  trial succeeded and leaves W/summary.csv and W/summary.md; shown as its summary.md under a
  bold title. `program` replaces `-m mmjax.sweep` (tests inject a fake)."""
  name: str
  title: str
  config: str
  cheap_config: str
  args: tuple = ()
  cheap_args: tuple = ()
  program: tuple = ("-m", "mmjax.sweep")
  done_file: str = "summary.md"

  @property
  def runs(self):
    return (self,)

  def seeded_runs(self, seeds: Optional[tuple] = None) -> tuple:
    del seeds  # the sweep's trials carry their own seeds
    return (self,)

  def command(self, workdir: str, cheap: bool, data_dir: Optional[str] = None) -> list:
    del data_dir  # the sweeps run on the synthetic world
    config, args = (self.cheap_config, self.cheap_args) if cheap else (self.config, self.args)
    return [sys.executable, *self.program, "--config", config, "--workdir", workdir, *args]
