"""`python -m mmjax.reproduce`: run every target, write results.md, optionally check it against
README.md or write it into README.md. See the package docstring."""

import argparse
import json
import os

from mmjax.reproduce import runner, tables
from mmjax.reproduce.spec import Row
from mmjax.reproduce.targets import REAL_DATA_TARGETS, TARGETS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv):
  p = argparse.ArgumentParser(prog="python -m mmjax.reproduce",
                              description="Reproduce the README's results tables.")
  p.add_argument("--workdir", required=True, help="Each target runs in <workdir>/<run name>.")
  p.add_argument("--only", default="", help="Comma-separated target names (default: all).")
  p.add_argument("--cheap", action="store_true",
                 help="Each run's cheap variant (tiny presets): fills every cell, checks nothing.")
  p.add_argument("--check", action="store_true",
                 help="Exit 1 naming every metric outside its tolerance of README.md's number.")
  p.add_argument("--update_readme", action="store_true",
                 help="Write the regenerated rows and sweep tables into README.md's results "
                      "block (with --only: just those targets'; the others are kept).")
  p.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
  p.add_argument("--list", action="store_true", help="Print the targets' commands and exit.")
  p.add_argument("--data_dir", default=None,
                 help="Reproduce the real-data results instead (README's 'Real data' block): the "
                      "folder holding the prepared manifests, f8k/ and avm/ (see README).")
  args = p.parse_args(argv)
  if args.cheap and (args.check or args.update_readme):
    p.error("--cheap runs do not reach the README's numbers: use --check / --update_readme "
            "with full runs.")
  return args


def select(targets, only: str):
  names = [t.name for t in targets]
  wanted = [n.strip() for n in only.split(",") if n.strip()]
  unknown = [n for n in wanted if n not in names]
  if unknown:
    raise runner.ReproduceError(f"--only has unknown target(s) {', '.join(unknown)}; valid: "
                                f"{', '.join(names)}.")
  return [t for t in targets if not wanted or t.name in wanted]


def commands_of(runs, workdir: str, cheap: bool, data_dir) -> list:
  """Each run's command line; a real-data run without data_dir (or its folder) fails first."""
  try:
    commands = [r.command(os.path.join(workdir, r.name), cheap, data_dir) for r in runs]
  except ValueError as e:
    raise runner.ReproduceError(str(e)) from None
  for r in runs:
    folder = os.path.join(data_dir or "", getattr(r, "data", None) or "")
    if getattr(r, "data", None) and not os.path.isfile(os.path.join(folder, "train.jsonl")):
      raise runner.ReproduceError(f"run {r.name} reads the manifests in {folder}, which has no "
                                  f"train.jsonl; prepare them as README's 'Real data' says.")
  return commands


def run_all(selected, workdir: str, cheap: bool, cwd: str, data_dir=None) -> list:
  """Runs each selected target's runs in turn, skipping finished ones; returns the failures."""
  runs = [r for t in selected for r in t.runs]
  commands = commands_of(runs, workdir, cheap, data_dir)
  for r, cmd in zip(runs, commands):  # refuse before anything runs
    runner.check_workdir(os.path.join(workdir, r.name), cmd)
  failures = []
  for i, (r, cmd) in enumerate(zip(runs, commands)):
    wd = os.path.join(workdir, r.name)
    head = f"[{i + 1}/{len(runs)}] {r.name}:"
    if runner.is_done(wd, r.done_file):
      print(f"{head} done earlier ({tables.duration(runner.read_record(wd)['wall_seconds'])})",
            flush=True)
      continue
    print(f"{head} {' '.join(cmd[1:])}\n  log: {os.path.join(wd, 'reproduce.log')}", flush=True)
    record = runner.run(cmd, wd, r.done_file, cwd)
    if record["finished"]:
      print(f"  done in {tables.duration(record['wall_seconds'])}", flush=True)
    else:
      failures.append(f"{r.name}: exit code {record['returncode']} (log: "
                      f"{os.path.join(wd, 'reproduce.log')})")
      print(f"  FAILED, exit code {record['returncode']}; the log ends:\n"
            f"{runner.log_tail(wd)}", flush=True)
  return failures


def collect(selected, workdir: str):
  """{run: results.json}, {run: record}, {sweep: summary.md text} of the finished runs."""
  results, records, summaries = {}, {}, {}
  for t in selected:
    for r in t.runs:
      wd = os.path.join(workdir, r.name)
      records[r.name] = runner.read_record(wd)
      if not isinstance(t, Row):
        summaries[r.name] = tables.read_summary(wd)
      elif os.path.exists(os.path.join(wd, "results.json")) and records[r.name].get("finished"):
        with open(os.path.join(wd, "results.json")) as f:
          results[r.name] = json.load(f)
  return results, records, summaries


def main(argv=None, targets=None, cwd=ROOT) -> int:
  args = parse_args(argv)
  data_dir = os.path.abspath(args.data_dir) if args.data_dir else None
  if targets is None:
    targets = REAL_DATA_TARGETS if data_dir else TARGETS
  markers = (tables.REAL_BEGIN, tables.REAL_END) if data_dir else (tables.BEGIN, tables.END)
  try:
    selected = select(targets, args.only)
    if args.list:
      runs = [r for t in selected for r in t.runs]
      for r, cmd in zip(runs, commands_of(runs, args.workdir, args.cheap, data_dir)):
        print(f"{r.name}: {' '.join(cmd)}")
      return 0
    if args.update_readme:  # a README without markers fails now, not after the runs
      with open(args.readme) as f:
        try:
          tables.replace_block(f.read(), "", *markers)
        except ValueError as e:
          raise runner.ReproduceError(f"{args.readme}: {e}") from None
    workdir = os.path.abspath(args.workdir)
    failures = run_all(selected, workdir, args.cheap, cwd, data_dir)
  except runner.ReproduceError as e:
    print(f"error: {e}")
    return 2
  results, records, summaries = collect(selected, workdir)
  cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  block = tables.render_block(selected, results, records, summaries, cpus)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(block + "\n")
  total = sum(r.get("wall_seconds", 0.0) for r in records.values())
  print(f"\n{block}\n\nWrote {os.path.join(workdir, 'results.md')}; total wall time of the runs "
        f"{tables.duration(total)}.")
  rows = [t for t in selected if isinstance(t, Row)]
  if args.check:  # names failed runs' metrics as missing too
    with open(args.readme) as f:
      problems = failures + tables.check(rows, results, f.read())
  else:
    problems = failures + [e for row in rows for e in tables.row_values(row, results)[1]]
  if problems:
    print(f"\n{len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return 1
  if args.check:
    print(f"Every checked metric is within its tolerance of {args.readme}.")
  if args.update_readme:
    with open(args.readme) as f:
      text = f.read()
    try:
      merged = tables.merge_block(tables.current_block(text, *markers), block, targets, selected)
      new = tables.replace_block(text, merged, *markers)
    except ValueError as e:
      print(f"error: {args.readme}: {e}")
      return 2
    if new != text:
      with open(args.readme, "w") as f:
        f.write(new)
    print(f"{'Updated' if new != text else 'Unchanged:'} {args.readme}")
  return 0
