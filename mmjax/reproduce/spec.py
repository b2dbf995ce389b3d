"""What a reproduction target declares: the runs it needs and how their results become a row.

A `Row` is one line of the README's results table. Its result cell is a template such as
`"accuracy {acc} (chance {chance})"` whose every `{placeholder}` is a `Metric`: a field of one
run's results.json, its format, and the tolerance `--check` allows. The same template both
writes the cell and reads the expected numbers back out of README.md, so the README is the one
place the expected values live. A `Sweep` is a `python -m mmjax.sweep` run shown as its
summary.md table.
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


def _overrides(pairs: Mapping[str, str]) -> list:
  return [f"--config.{k}={v}" for k, v in pairs.items()]


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
  `fmt`. `--check` passes when |got - README| <= tol + half a unit of the README's last digit
  (the README's rounding); tol=None shows the value without checking it."""
  run: str
  field: str
  fmt: str = ".3f"
  tol: Optional[float] = 0.0

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
  the first run's (the row's main run), with all runs' total when there are several."""
  name: str
  experiment: str
  command: str
  runs: tuple
  result: str
  metrics: Mapping[str, Metric]

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

  def render(self, values: Mapping[str, float]) -> str:
    return self.result.format(**{k: format(values[k], m.fmt) for k, m in self.metrics.items()})

  def parse(self, cell: str) -> dict:
    """The numbers of a rendered result cell, as {placeholder: text}; None if it does not
    match the template."""
    pattern = "".join(re.escape(lit) + (f"(?P<{f}>{NUMBER})" if f is not None else "")
                      for lit, f, _, _ in string.Formatter().parse(self.result))
    match = re.fullmatch(pattern, cell.strip())
    return match.groupdict() if match else None


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

  def command(self, workdir: str, cheap: bool, data_dir: Optional[str] = None) -> list:
    del data_dir  # the sweeps run on the synthetic world
    config, args = (self.cheap_config, self.cheap_args) if cheap else (self.config, self.args)
    return [sys.executable, *self.program, "--config", config, "--workdir", workdir, *args]
