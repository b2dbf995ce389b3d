"""The results block in the README's format, its check against README.md, and the README
block replacement (also used by the benchmarks and the evaluation suite to write their own
blocks). Pure functions of the targets, the results and the run records, but for `machine` and
`update_readme`."""

import datetime
import json
import math
import os
import re
import shlex
import sys

import numpy as np

from mmjax.reproduce.spec import NUMBER, PLUS_MINUS, Row, Run, Sweep

BEGIN = "<!-- reproduce:results:begin -->"
END = "<!-- reproduce:results:end -->"
# The block of the real-data results (python -m mmjax.reproduce --data_dir DIR).
REAL_BEGIN = "<!-- reproduce:real_data:begin -->"
REAL_END = "<!-- reproduce:real_data:end -->"
HEADER = "| experiment | command | result | wall time |\n|---|---|---|---|"
# --check's tolerance in standard errors of the difference of two seed means (`tolerance`):
# a drift past 3 of them happens by chance about 3 times in 1,000 for normal noise.
Z_SCORE = 3.0


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


def row_values(row: Row, results: dict, seeds=None) -> tuple:
  """({placeholder: (mean, sample std, seeds)}, [error]) over the row's seeds (or `seeds`) from
  {seeded run name: results.json dict}."""
  values, errors, seeds = {}, [], seeds or row.seeds
  for key, m in row.metrics.items():
    got = []
    for name in (Run(m.run, "", "").with_seed(k).name for k in seeds):
      if name not in results:
        errors.append(f"{row.name}: {key}: run {name} has no results.json")
        continue
      try:
        got.append(float(m.value(results[name])))
      except KeyError:
        errors.append(f"{row.name}: {key}: results.json of run {name} has no field {m.field!r}")
      except (TypeError, ValueError):
        errors.append(f"{row.name}: {key}: {name}'s {m.field!r} is not a number")
    if len(got) == len(seeds):
      values[key] = (float(np.mean(got)), float(np.std(got, ddof=1)) if len(got) > 1 else 0.0,
                     len(got))
  return values, errors


def render_row(row: Row, results: dict, records: list, cpus: int, seeds=None) -> str:
  values, errors = row_values(row, results, seeds)
  result = row.render(values) if not errors else row.result.format(
      **{k: format(values[k][0], m.fmt) if k in values else "n/a"
         for k, m in row.metrics.items()})
  return f"| {row.experiment} | {row.command} | {result} | {wall_cell(records, cpus)} |"


def sweep_command(sweep: Sweep) -> str:
  return " ".join(["python -m mmjax.sweep", "--config", sweep.config, "--workdir",
                   f"runs/{sweep.name}", *sweep.args])


def render_block(targets, results: dict, records: dict, summaries: dict, cpus: int,
                 seeds=None) -> str:
  """What goes between the README's markers: the results table of the rows, then each sweep's
  summary.md under a bold title with its command and wall time."""
  rows = [t for t in targets if isinstance(t, Row)]
  parts = [HEADER + "".join("\n" + render_row(r, results, [records.get(x.name, {})
                                                            for x in r.seeded_runs(seeds)],
                                               cpus, seeds)
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


def tolerance(s_want: float, n_want: int, s_got: float, n_got: int) -> float:
  """How far a fresh mean of n_got seeds may sit from the expected mean of n_want seeds:
  Z_SCORE standard errors of the difference of two independent means,
  Z * sqrt(s_want^2 / n_want + s_got^2 / n_got), each s the sample std over seeds (a single
  fresh run borrows the expected s). Zero when both spreads are zero: numbers that no seed
  moves must match (to the README's rounding, which the caller adds)."""
  s_got = s_got if n_got > 1 else s_want
  return Z_SCORE * math.sqrt(s_want ** 2 / n_want + s_got ** 2 / n_got)


def check(rows, results: dict, readme: str, seeds=None) -> list:
  """Every checked metric of `rows` (run over their seeds, or `seeds`) against README.md's
  number; a list of mismatches, each naming the metric, the expected and measured values and
  the tolerance (empty: all pass)."""
  problems = []
  for row in rows:
    values, errors = row_values(row, results, seeds)
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
      (want, want_std), (got, got_std, n_got) = expected[key], values[key]
      if want_std is not None:
        # README's std is rounded: take it at the top of its rounding interval.
        tol = tolerance(float(want_std) + _slack(want_std), len(row.seeds), got_std, n_got)
        how = f"{Z_SCORE:g} standard errors of README's {want_std} over {len(row.seeds)} seeds"
      else:
        tol, how = m.tol, "a hand-set single-seed margin"
      if not (math.isfinite(got) and abs(got - float(want)) <= tol + _slack(want) + 1e-12):
        problems.append(f"{row.name}: {key} ({m.run} {m.field}): expected {want} (README), got "
                        f"{got:{m.fmt}} ({got:.6g}, {n_got} seed(s)), tolerance {tol:.3g} "
                        f"({how})")
  return problems


def sweep_cells(section: str) -> dict:
  """{(table number, row key, column): (mean text, std text, seeds)} of the "mean ± std" cells
  of a sweep's summary.md tables (a row's key: its non-metric cells, e.g. the fusion name)."""
  cells, number, header = {}, -1, None
  cell = re.compile(rf"\**({NUMBER}){re.escape(PLUS_MINUS)}({NUMBER})\**")
  for line in section.splitlines() + [""]:
    if not line.startswith("|"):
      header = None
      continue
    parts = [c.strip() for c in line.strip().strip("|").split("|")]
    if header is None:
      header, number = parts, number + 1
      continue
    if set(line) <= set("|-: "):
      continue
    row = dict(zip(header, parts))
    matches = {c: cell.fullmatch(v) for c, v in row.items()}
    key = tuple(v for c, v in row.items() if not matches[c] and c != "seeds")
    for c, m in matches.items():
      if m:
        cells[(number, key, c)] = (m[1], m[2], int(row.get("seeds", 1)))
  return cells


def check_sweep(sweep: Sweep, summary: str, readme_part: str) -> list:
  """Every "mean ± std" cell of a fresh sweep's summary.md against README's section of it, with
  `tolerance`; a list of mismatches (a cell on one side only is one too)."""
  if summary is None:
    return [f"{sweep.name}: no summary.md (the sweep failed)"]
  if readme_part is None:
    return [f"{sweep.name}: README.md has no section '**{sweep.title}** (...'"]
  want, got = sweep_cells(readme_part), sweep_cells(summary)
  problems = [f"{sweep.name}: table {t} row {' / '.join(k)} column {c}: in "
              f"{'README only' if (t, k, c) in want else 'the fresh summary only'}"
              for t, k, c in sorted(set(want) ^ set(got))]
  if not want:
    problems.append(f"{sweep.name}: README's section has no 'mean ± std' cells to check")
  for cell_key in sorted(set(want) & set(got)):
    (w_mean, w_std, w_n), (g_mean, g_std, g_n) = want[cell_key], got[cell_key]
    tol = (tolerance(float(w_std) + _slack(w_std), w_n, float(g_std) + _slack(g_std), g_n)
           + _slack(w_mean) + _slack(g_mean))
    if abs(float(g_mean) - float(w_mean)) > tol + 1e-12:
      t, k, c = cell_key
      problems.append(f"{sweep.name}: table {t} row {' / '.join(k)} column {c}: expected "
                      f"{w_mean} ± {w_std} (README), got {g_mean} ± {g_std}, tolerance "
                      f"{tol:.3g}")
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


def unknown_parts(block: str, targets, parts: dict) -> list:
  """The first cells of the rows, and the titles of the sweeps, in a results block that no
  target's part (`block_parts`) accounts for."""
  rows = []
  if block.startswith(HEADER):
    for line in block.splitlines()[2:]:
      if not line.startswith("| "):
        break
      rows.append(line)
  titles = {s.title for s in targets if isinstance(s, Sweep)}
  known = set(parts.values())
  return ([r[2:].split(" | ")[0] for r in rows if r not in known]
          + [t for t in re.findall(r"^\*\*(.+?)\*\* \(", block, re.M) if t not in titles])


def merge_block(old: str, new: str, targets, selected) -> str:
  """The results block of every target, in the targets' order: the `selected` targets' parts
  from `new` (just regenerated), the others' kept from `old` (README's), so that a reproduction
  run of some targets (--only) updates just their rows and sweep tables. A target that neither
  block shows is left out. A row or sweep of `old` that no target declares (README written by
  newer code) is a ValueError: merging would drop it."""
  old_parts, new_parts = block_parts(old, targets), block_parts(new, targets)
  unknown = unknown_parts(old, targets, old_parts)
  if unknown:
    raise ValueError(f"its results block has parts no target of this code declares: "
                     f"{'; '.join(unknown)}. Updating it would drop them: run --update_readme "
                     "from code whose targets include them.")
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


def markdown_table(rows, columns) -> str:
  """The benchmarks' Markdown table: a line per row dict, a cell per column (header, key,
  format[, scale]) holding the row's value times scale, "-" when the row lacks it; a failed row
  (an "error" key) says so in its last cell."""
  lines = ["| " + " | ".join(c[0] for c in columns) + " |", "|" + "---|" * len(columns)]
  for r in rows:
    cells = []
    for _, key, fmt, *scale in columns:
      value = r.get(key)
      cells.append("-" if value is None else fmt.format(value * scale[0] if scale else value))
    if "error" in r:
      cells[-1] += f" (failed: {r['error']})"
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def add_readme_flags(parser, block: str, readme: str):
  """--markdown / --update_readme / --readme / --block: where a benchmark writes its table."""
  parser.add_argument("--markdown", default=None,
                      help="also write the table, under the command and machine, to this file")
  parser.add_argument("--update_readme", action="store_true",
                      help="write what --markdown writes into README's benchmark:BLOCK block")
  parser.add_argument("--readme", default=readme)
  parser.add_argument("--block", default=block,
                      help="README's block: <!-- benchmark:BLOCK:begin --> ... end -->")


def check_readme_block(args) -> None:
  """With --update_readme, fails now if README lacks the benchmark's markers, not after minutes
  of measuring (`add_readme_flags`'s args)."""
  if args.update_readme:
    with open(args.readme) as f:
      replace_block(f.read(), "", *markers(f"benchmark:{args.block}"))


def write_benchmark(args, text: str, rows: list) -> None:
  """A benchmark's outputs (`add_readme_flags`'s args): --json the rows (when the benchmark has
  that flag), --markdown the text, and --update_readme the text into README's block. A row
  that failed (an "error" key) exits 1 before README is touched."""
  if getattr(args, "json", None):
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=2)
  if args.markdown:
    with open(args.markdown, "w") as f:
      f.write(text)
  if any("error" in r for r in rows):
    sys.exit(1)  # a failed row never lands in README
  if args.update_readme:
    changed = update_readme(args.readme, f"benchmark:{args.block}", text)
    print(f"{'Updated' if changed else 'Unchanged:'} {args.readme} (benchmark:{args.block})")


def update_readme(path: str, name: str, block: str) -> bool:
  """Writes `block` between README's markers of `name` (see `markers`); True if it changed."""
  with open(path) as f:
    text = f.read()
  new = replace_block(text, block.strip(), *markers(name))
  if new != text:
    with open(path, "w") as f:
      f.write(new)
  return new != text


def shown_command(prog: str, argv: list, drop: tuple, switches=("--update_readme",),
                  placeholders=None) -> str:
  """The command as README shows it: `prog` and its arguments without the output flags in
  `drop` (with their values; `switches` take none), so that it reads as what was measured.
  `placeholders` {flag: shown value}: a flag whose value is a path on this machine (a data
  folder) shows the placeholder instead; no machine path goes into README."""
  out, skip, placeholders = [], False, placeholders or {}
  for i, a in enumerate(argv):
    flag = a.split("=")[0]
    if skip or flag in drop:
      skip = not skip and flag in drop and "=" not in a and flag not in switches
      continue
    if i and argv[i - 1] in placeholders and "=" not in argv[i - 1]:
      a = placeholders[argv[i - 1]]
    elif "=" in a and flag in placeholders:
      a = f"{flag}={placeholders[flag]}"
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
