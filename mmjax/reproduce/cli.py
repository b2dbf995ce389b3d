"""`python -m mmjax.reproduce`: run every target, write results.md, optionally check it against
README.md or write it into README.md. See the package docstring."""

import argparse
import json
import os

from mmjax.reproduce import expected as cheap_expected
from mmjax.reproduce import provenance, runner, tables
from mmjax.reproduce.spec import Row
from mmjax.reproduce.real_data_targets import REAL_DATA_TARGETS
from mmjax.reproduce.targets import TARGETS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv):
  p = argparse.ArgumentParser(prog="python -m mmjax.reproduce",
                              description="Reproduce the README's results tables.")
  p.add_argument("--workdir", required=True, help="Each target runs in <workdir>/<run name>.")
  p.add_argument("--only", default="", help="Comma-separated target names (default: all).")
  p.add_argument("--cheap", action="store_true",
                 help="Each run's cheap variant (tiny presets); with --check, compared with the "
                      "stored expected values (mmjax/reproduce/cheap_expected.json).")
  p.add_argument("--check", action="store_true",
                 help="Exit 1 naming every metric or sweep cell outside its tolerance of "
                      "README.md's number. Needs runs that did not write README.md: use a "
                      "fresh --workdir.")
  p.add_argument("--seeds", default="",
                 help="Comma-separated seeds for the rows' runs instead of each row's own "
                      "(e.g. 0 for a quick --check; not with --update_readme).")
  p.add_argument("--update_expected", action="store_true",
                 help="With --cheap: write the rows' mean and spread over seeds into "
                      "mmjax/reproduce/cheap_expected.json (what CI compares).")
  p.add_argument("--update_readme", action="store_true",
                 help="Write the regenerated rows and sweep tables into README.md's results "
                      "block (with --only: just those targets'; the others are kept).")
  p.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
  p.add_argument("--list", action="store_true", help="Print the targets' commands and exit.")
  p.add_argument("--data_dir", default=None,
                 help="Reproduce the real-data results instead (README's 'Real data' block): the "
                      "folder holding the prepared manifests, f8k/ and avm/ (see README).")
  args = p.parse_args(argv)
  if args.cheap and args.update_readme:
    p.error("--cheap runs do not reach the README's numbers: use --update_readme with full "
            "runs (--cheap --update_expected stores the cheap runs' values).")
  if args.update_expected and not args.cheap:
    p.error("--update_expected writes the cheap runs' expected values: add --cheap.")
  try:
    args.seeds = tuple(int(x) for x in args.seeds.split(",") if x.strip()) or None
  except ValueError:
    p.error(f"--seeds takes comma-separated integers, e.g. 0,1,2; got {args.seeds!r}.")
  if args.seeds and args.update_readme:
    p.error("--update_readme writes each row over its own seeds: drop --seeds.")
  if args.update_expected and args.seeds and len(args.seeds) < 2:
    p.error("--update_expected measures the spread over seeds: give at least 2 (or no --seeds).")
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


def run_all(selected, workdir: str, cheap: bool, cwd: str, code: dict, data_dir=None,
            seeds=None, for_check=False) -> list:
  """Runs each selected target's runs in turn, skipping ones this code finished, setting aside
  (and rerunning) ones of other code; returns the failures. `for_check`: refuse runs whose
  results wrote the README, which checking against it could not catch."""
  runs = [r for t in selected for r in t.seeded_runs(seeds)]
  commands = commands_of(runs, workdir, cheap, data_dir)
  workdirs = [os.path.join(workdir, r.name) for r in runs]
  stale = [wd for wd in workdirs if runner.is_stale(wd, code)]
  for wd, cmd in zip(workdirs, commands):  # refuse before anything runs
    if wd not in stale:
      runner.check_workdir(wd, cmd)
  sources = [r.name for r, wd in zip(runs, workdirs)
             if wd not in stale and runner.read_record(wd).get("wrote_readme")]
  if for_check and sources:
    raise runner.ReproduceError(
        f"the runs {', '.join(sources)} in {workdir} wrote README.md (--update_readme): "
        "comparing README with them proves nothing. Check with a fresh --workdir.")
  for wd in stale:
    print(f"{wd} holds a run of "
          f"{provenance.describe(runner.read_record(wd).get('code'))}, not of the current "
          f"{provenance.describe(code)}: moved to {runner.set_aside(wd)}; it reruns.",
          flush=True)
  failures = []
  for i, (r, cmd, wd) in enumerate(zip(runs, commands, workdirs)):
    head = f"[{i + 1}/{len(runs)}] {r.name}:"
    if runner.is_done(wd, r.done_file, code):
      print(f"{head} done earlier ({tables.duration(runner.read_record(wd)['wall_seconds'])})",
            flush=True)
      continue
    print(f"{head} {' '.join(cmd[1:])}\n  log: {os.path.join(wd, 'reproduce.log')}", flush=True)
    record = runner.run(cmd, wd, r.done_file, cwd, code)
    if record["finished"]:
      print(f"  done in {tables.duration(record['wall_seconds'])}", flush=True)
    else:
      failures.append(f"{r.name}: exit code {record['returncode']} (log: "
                      f"{os.path.join(wd, 'reproduce.log')})")
      print(f"  FAILED, exit code {record['returncode']}; the log ends:\n"
            f"{runner.log_tail(wd)}", flush=True)
  for r, wd in zip(runs, workdirs):  # follow-ups of the finished runs, where not yet written
    for f in getattr(r, "then", ()):
      if not runner.is_done(wd, r.done_file, code) or os.path.exists(
          os.path.join(wd, f.output)):
        continue
      print(f"{r.name} then {' '.join(f.args)}", flush=True)
      returncode = runner.follow_up(f.command(wd), wd, cwd)
      if returncode or not os.path.exists(os.path.join(wd, f.output)):
        failures.append(f"{r.name} then {' '.join(f.args)}: exit code {returncode} (log: "
                        f"{os.path.join(wd, 'reproduce.log')})")
  return failures


def collect(selected, workdir: str, code: dict, seeds=None):
  """{run: results.json}, {run: record}, {sweep: summary.md text} of the runs this code
  finished."""
  results, records, summaries = {}, {}, {}
  for t in selected:
    for r in t.seeded_runs(seeds):
      wd = os.path.join(workdir, r.name)
      records[r.name] = runner.read_record(wd)
      if not runner.is_done(wd, r.done_file, code):
        continue
      if not isinstance(t, Row):
        summaries[r.name] = tables.read_summary(wd)
      elif all(os.path.exists(os.path.join(wd, f.output)) for f in r.then):
        with open(os.path.join(wd, "results.json")) as f:
          results[r.name] = json.load(f)
        for follow in r.then:
          with open(os.path.join(wd, follow.output)) as f:
            results[r.name][follow.key] = json.load(f)
  return results, records, summaries


def check_readme(selected, targets, results, summaries, readme: str, markers, seeds) -> list:
  """The rows' metrics and the sweeps' "mean ± std" cells against README's."""
  rows = [t for t in selected if isinstance(t, Row)]
  problems = tables.check(rows, results, readme, seeds)
  try:
    parts = tables.block_parts(tables.current_block(readme, *markers), targets)
  except ValueError as e:
    return problems + [str(e)]
  for s in (t for t in selected if not isinstance(t, Row)):
    problems += tables.check_sweep(s, summaries.get(s.name), parts.get(s.name))
  return problems


def main(argv=None, targets=None, cwd=ROOT, expected_path=None) -> int:
  args = parse_args(argv)
  data_dir = os.path.abspath(args.data_dir) if args.data_dir else None
  if targets is None:
    targets = REAL_DATA_TARGETS if data_dir else TARGETS
  expected_path = expected_path or cheap_expected.PATH
  markers = (tables.REAL_BEGIN, tables.REAL_END) if data_dir else (tables.BEGIN, tables.END)
  code = provenance.code_version(cwd)
  try:
    selected = select(targets, args.only)
    if args.list:
      runs = [r for t in selected for r in t.seeded_runs(args.seeds)]
      for r, cmd in zip(runs, commands_of(runs, args.workdir, args.cheap, data_dir)):
        wd = os.path.join(args.workdir, r.name)
        status = ("done" if runner.is_done(wd, r.done_file, code) else
                  "stale: reruns" if runner.is_stale(wd, code) else "to run")
        print(f"{r.name} ({status}): {' '.join(cmd)}")
      return 0
    if args.update_readme or (args.check and not args.cheap):  # fail now, not after the runs
      with open(args.readme) as f:
        try:
          tables.current_block(f.read(), *markers)
        except ValueError as e:
          raise runner.ReproduceError(f"{args.readme}: {e}") from None
    workdir = os.path.abspath(args.workdir)
    print(f"Running {provenance.describe(code)}.", flush=True)
    failures = run_all(selected, workdir, args.cheap, cwd, code, data_dir, args.seeds,
                       for_check=args.check and not args.cheap)
  except runner.ReproduceError as e:
    print(f"error: {e}")
    return 2
  results, records, summaries = collect(selected, workdir, code, args.seeds)
  cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  block = tables.render_block(selected, results, records, summaries, cpus, args.seeds)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(f"<!-- {provenance.describe(code)} -->\n{block}\n")
  total = sum(r.get("wall_seconds", 0.0) for r in records.values())
  print(f"\n{block}\n\nWrote {os.path.join(workdir, 'results.md')}; total wall time of the runs "
        f"{tables.duration(total)}.")
  rows = [t for t in selected if isinstance(t, Row)]
  if args.check and args.cheap:
    problems = failures + cheap_expected.check(rows, results, expected_path, args.seeds)
  elif args.check:
    with open(args.readme) as f:
      problems = failures + check_readme(selected, targets, results, summaries, f.read(),
                                         markers, args.seeds)
  else:
    problems = failures + [e for row in rows for e in tables.row_values(row, results,
                                                                         args.seeds)[1]]
  if problems:
    print(f"\n{len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return 1
  if args.check:
    print("Every checked metric is within its tolerance of "
          f"{expected_path if args.cheap else args.readme}.")
  if args.update_expected:
    cheap_expected.write(rows, results, expected_path, args.seeds)
    print(f"Wrote {expected_path}.")
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
    for t in selected:  # these results are now README's: a later --check must not reuse them
      for r in t.seeded_runs():
        runner.update_record(os.path.join(workdir, r.name), wrote_readme=True)
    print(f"{'Updated' if new != text else 'Unchanged:'} {args.readme}")
  return 0
