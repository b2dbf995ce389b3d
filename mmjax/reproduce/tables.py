"""The results block in the README's format, its check against README.md, and the README
block replacement (also used by the benchmarks and the evaluation suite to write their own
blocks). Pure functions of the targets, the results and the run records, but for `machine` and
`update_readme`."""

import datetime
import math
import os
import re
import shlex

from mmjax.reproduce.spec import Row, Sweep

BEGIN = "<!-- reproduce:results:begin -->"
END = "<!-- reproduce:results:end -->"
# The block of the real-data results (python -m mmjax.reproduce --data_dir DIR).
REAL_BEGIN = "<!-- reproduce:real_data:begin -->"
REAL_END = "<!-- reproduce:real_data:end -->"
HEADER = "| experiment | command | result | wall time |\n|---|---|---|---|"


def duration(seconds: float) -> str:
  """95 s, 3 min 17 s, 1 h 05 min."""
  s = int(round(seconds))
  if s < 120:
    return f"{s} s"
  if s < 3600:
    return f"{s // 60} min {s % 60} s"
  return f"{s // 3600} h {s % 3600 // 60:02d} min"


def wall_cell(records: list, cpus: int) -> str:
  """The first (main) run's wall time, all runs' total when there are several, and the mean
  load average: times on a shared machine mean little without it."""
  if not records or not all(r.get("finished") for r in records):
    return "failed"
  walls = [r["wall_seconds"] for r in records]
  load = sum(r["mean_load"] * w for r, w in zip(records, walls)) / max(sum(walls), 1e-9)
  total = f"; all {len(walls)} runs {duration(sum(walls))}" if len(walls) > 1 else ""
  return f"{duration(walls[0])}{total} (load {load:.1f} on {cpus} cores)"


def row_values(row: Row, results: dict) -> tuple:
  """({placeholder: value}, [error]) from {run name: results.json dict}."""
  values, errors = {}, []
  for key, m in row.metrics.items():
    if m.run not in results:
      errors.append(f"{row.name}: {key}: run {m.run} has no results.json")
      continue
    try:
      values[key] = float(m.value(results[m.run]))
    except KeyError:
      errors.append(f"{row.name}: {key}: results.json of run {m.run} has no field {m.field!r}")
    except (TypeError, ValueError):
      errors.append(f"{row.name}: {key}: {m.run}'s {m.field!r} is not a number")
  return values, errors


def render_row(row: Row, results: dict, records: list, cpus: int) -> str:
  values, errors = row_values(row, results)
  result = row.render(values) if not errors else row.result.format(
      **{k: format(values[k], m.fmt) if k in values else "n/a" for k, m in row.metrics.items()})
  return f"| {row.experiment} | {row.command} | {result} | {wall_cell(records, cpus)} |"


def sweep_command(sweep: Sweep) -> str:
  return " ".join(["python -m mmjax.sweep", "--config", sweep.config, "--workdir",
                   f"runs/{sweep.name}", *sweep.args])


def render_block(targets, results: dict, records: dict, summaries: dict, cpus: int) -> str:
  """What goes between the README's markers: the results table of the rows, then each sweep's
  summary.md under a bold title with its command and wall time."""
  rows = [t for t in targets if isinstance(t, Row)]
  parts = [HEADER + "".join("\n" + render_row(r, results, [records.get(x.name, {})
                                                            for x in r.runs], cpus)
                            for r in rows)] if rows else []
  for s in (t for t in targets if isinstance(t, Sweep)):
    parts.append(f"**{s.title}** (`{sweep_command(s)}`; "
                 f"{wall_cell([records.get(s.name, {})], cpus)}):\n\n"
                 + (summaries.get(s.name) or "(no summary.md: the sweep failed)").strip())
  return "\n\n".join(parts)


def readme_cells(readme: str, experiment: str):
  """The cells of README's results row whose first cell is `experiment`, or None."""
  for line in readme.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
    if line.startswith("|") and cells[0] == experiment:
      return cells
  return None


def _slack(text: str) -> float:
  """Half a unit of the last printed digit: the README's own rounding."""
  decimals = len(text.split(".")[1]) if "." in text else 0
  return 0.5 * 10.0 ** -decimals


def check(rows, results: dict, readme: str) -> list:
  """Every checked metric of `rows` against README.md's number; a list of mismatches, each
  naming the metric, the expected and measured values and the tolerance (empty: all pass)."""
  problems = []
  for row in rows:
    values, errors = row_values(row, results)
    problems += errors
    cells = readme_cells(readme, row.experiment)
    if cells is None:
      problems.append(f"{row.name}: README.md has no results row '| {row.experiment} | ...'")
      continue
    expected = row.parse(cells[2]) if len(cells) == 4 else None
    if expected is None:
      problems.append(f"{row.name}: README.md's result cell\n    {cells[2:3]}\n  does not match "
                      f"the template\n    {row.result!r}")
      continue
    for key, m in row.metrics.items():
      if m.tol is None or key not in values:
        continue
      want, got = float(expected[key]), values[key]
      if not (math.isfinite(got) and abs(got - want) <= m.tol + _slack(expected[key]) + 1e-12):
        problems.append(f"{row.name}: {key} ({m.run} {m.field}): expected {expected[key]} "
                        f"(README), got {got:{m.fmt}} ({got:.6g}), tolerance {m.tol}")
  return problems


def block_parts(block: str, targets) -> dict:
  """{target name: its text} of a results block: a row's table line, a sweep's section (its
  bold title line up to the next sweep's or the end)."""
  parts = {}
  for row in (t for t in targets if isinstance(t, Row)):
    line = next((x for x in block.splitlines() if x.startswith(f"| {row.experiment} | ")), None)
    if line is not None:
      parts[row.name] = line
  starts = sorted((m.start(), s.name) for s in targets if isinstance(s, Sweep)
                  for m in [re.search(rf"^\*\*{re.escape(s.title)}\*\* \(", block, re.M)] if m)
  for (start, name), end in zip(starts, [s for s, _ in starts[1:]] + [len(block)]):
    parts[name] = block[start:end].strip()
  return parts


def merge_block(old: str, new: str, targets, selected) -> str:
  """The results block of every target, in the targets' order: the `selected` targets' parts
  from `new` (just regenerated), the others' kept from `old` (README's), so that a reproduction
  run of some targets (--only) updates just their rows and sweep tables. A target that neither
  block shows is left out."""
  old_parts, new_parts = block_parts(old, targets), block_parts(new, targets)
  chosen = {t.name for t in selected}
  parts = {t.name: (new_parts if t.name in chosen else old_parts).get(t.name) for t in targets}
  rows = [parts[t.name] for t in targets if isinstance(t, Row) and parts[t.name]]
  sweeps = [parts[t.name] for t in targets if isinstance(t, Sweep) and parts[t.name]]
  return "\n\n".join(([HEADER + "".join("\n" + r for r in rows)] if rows else []) + sweeps)


def _check_markers(readme: str, begin: str, end: str):
  if readme.count(begin) != 1 or readme.count(end) != 1 or readme.index(begin) > readme.index(end):
    raise ValueError(f"README.md needs exactly one {begin} line before one {end} line around "
                     f"the block (found {readme.count(begin)} and {readme.count(end)}).")


def current_block(readme: str, begin: str = BEGIN, end: str = END) -> str:
  """The text between README's markers."""
  _check_markers(readme, begin, end)
  return readme.split(begin)[1].split(end)[0].strip()


def replace_block(readme: str, block: str, begin: str = BEGIN, end: str = END) -> str:
  """README with the text between the markers replaced by `block`."""
  _check_markers(readme, begin, end)
  head, rest = readme.split(begin)
  tail = rest.split(end)[1]
  return f"{head}{begin}\n{block}\n{end}{tail}"


def markers(name: str) -> tuple:
  """The (begin, end) markers of README's block `name`, e.g. benchmark:train_throughput."""
  return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def update_readme(path: str, name: str, block: str) -> bool:
  """Writes `block` between README's markers of `name` (see `markers`); True if it changed."""
  with open(path) as f:
    text = f.read()
  new = replace_block(text, block.strip(), *markers(name))
  if new != text:
    with open(path, "w") as f:
      f.write(new)
  return new != text


def shown_command(prog: str, argv: list, drop: tuple, switches=("--update_readme",)) -> str:
  """The command as README shows it: `prog` and its arguments without the output flags in
  `drop` (with their values; `switches` take none), so that it reads as what was measured."""
  out, skip = [], False
  for a in argv:
    flag = a.split("=")[0]
    if skip or flag in drop:
      skip = not skip and flag in drop and "=" not in a and flag not in switches
      continue
    out.append(a)
  return " ".join([prog] + [shlex.quote(a) for a in out])


def machine() -> str:
  """This CPU and its cores, and today's date: a benchmark's figures belong to the machine (XLA
  emits other vector code for AVX-512 and bf16 instructions than for AVX2)."""
  name, flags = "unknown CPU", set()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == "unknown CPU":
          name = " ".join(value.split())
        elif key.strip() == "flags" and not flags:
          flags = set(value.split())
  except OSError:
    pass
  isa = ", ".join(x for x in ("avx512f", "avx512_bf16", "amx_bf16") if x in flags) or (
      "AVX2, no AVX-512" if "avx2" in flags else "")
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  return (f"{name}{f' ({isa})' if isa else ''}, {cores} cores, "
          f"{datetime.date.today().isoformat()}")


def read_summary(workdir: str):
  path = os.path.join(workdir, "summary.md")
  return open(path).read() if os.path.exists(path) else None
