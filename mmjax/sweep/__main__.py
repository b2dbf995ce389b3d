r"""Ablation sweeps: run every trial of a config's `get_sweep(arg)`, then summarise them.

  python -m mmjax.sweep --config configs/fusion.py:synergy --workdir runs/fusion_ablation

Each trial runs `python <experiment> --config <file>:<preset> --config.<key>=<value> ...
--workdir <workdir>/<trial name>` (e.g. runs/fusion_ablation/preset=synergy,fusion=gated,seed=1)
as a subprocess; then <workdir>/summary.csv, summary.md and plots/ are written. Flags:
  --config FILE[:ARG]    the config file; ARG goes to get_sweep (mmjax/sweep/spec.py: its format)
  --workdir DIR          the sweep's folder: one sub-folder per trial, trials.jsonl, summaries
  --overrides K=V ...    added to every trial as --config.K=V (e.g. total_steps=20 for CI)
  --parallel N           N trials at once on this machine (default 1)
  --trial_index I        run only trial I (a SLURM array task); no summary (use --aggregate_only)
  --match REGEX          run only the trials whose name matches, e.g. 'fusion=gated,'
  --list                 print "index<TAB>status<TAB>name" per trial and exit
  --aggregate_only       only (re)write summary.csv, summary.md and plots/ from what is done

Re-running the same command resumes: trials with results.json are skipped, interrupted ones
resume from their checkpoint. A failing trial leaves <trial>/error.txt (exit code, stderr tail)
and a line in trials.jsonl, and the others go on. Trials share JAX's compilation cache in
<workdir>/xla_cache (unless JAX_COMPILATION_CACHE_DIR is set), so each program compiles once.
Exit status: 0 when every trial run is done, 1 when some failed, 128 + signal when stopped by
SIGTERM / SIGINT, 2 for a bad sweep or flag.

On a SLURM cluster, one array task per trial (save as sweep.sbatch; `--list | wc -l` gives N):
  #!/bin/bash
  #SBATCH --job-name=mmjax-sweep
  #SBATCH --cpus-per-task=8
  #SBATCH --mem=16G
  #SBATCH --time=02:00:00
  #SBATCH --signal=TERM@120          # the trial saves a checkpoint before the time limit
  #SBATCH --output=slurm-%A_%a.out
  SWEEP="--config configs/fusion.py --workdir runs/fusion_ablation"
  srun python -m mmjax.sweep $SWEEP --trial_index "$SLURM_ARRAY_TASK_ID"
submitted from the repository root, with the summary written once every task has ended:
  SWEEP="--config configs/fusion.py --workdir runs/fusion_ablation"
  N=$(python -m mmjax.sweep $SWEEP --list | wc -l)
  JOB=$(sbatch --parsable --array=0-$((N - 1))%20 sweep.sbatch)
  sbatch --dependency=afterany:$JOB --wrap "python -m mmjax.sweep $SWEEP --aggregate_only"
Submitting the same array again reruns only what is not done, resuming from checkpoints.
"""

import argparse
import json
import os
import re
import sys

from mmjax.sweep import aggregate, runner
from mmjax.sweep.spec import SweepError, check_cli_overrides, load_sweep


def parse(argv):
  p = argparse.ArgumentParser(prog="python -m mmjax.sweep", description=__doc__.split("\n")[0])
  p.add_argument("--config", required=True, help="FILE[:ARG], e.g. configs/fusion.py:synergy")
  p.add_argument("--workdir", required=True)
  p.add_argument("--overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
  p.add_argument("--parallel", type=int, default=1)
  p.add_argument("--trial_index", type=int)
  p.add_argument("--match")
  p.add_argument("--list", action="store_true")
  p.add_argument("--aggregate_only", action="store_true")
  return p.parse_args(argv)


def select(sweep, trial_index, match):
  trials = sweep.trials
  if trial_index is not None:
    if not 0 <= trial_index < len(trials):
      raise SweepError(f"--trial_index={trial_index}; valid: 0 to {len(trials) - 1} "
                       f"({len(trials)} trials; --list prints them).")
    trials = (trials[trial_index],)
  if match:
    trials = tuple(t for t in trials if re.search(match, t.name))
    if not trials:
      raise SweepError(f"--match={match!r} matches no trial name; --list prints them.")
  return trials


def main(argv=None) -> int:
  args = parse(argv)
  try:
    sweep = load_sweep(args.config)
    cli = check_cli_overrides(sweep, args.overrides)
    trials = select(sweep, args.trial_index, args.match)
    if args.list:
      for t in trials:
        print(f"{t.index}\t{runner.status(args.workdir, t)}\t{t.name}")
      return 0
    if not args.aggregate_only:
      runner.check_workdir(trials, args.workdir, cli)  # before anything is written
      os.makedirs(args.workdir, exist_ok=True)
      info = {"config": args.config, "experiment": sweep.experiment, "overrides": cli,
              "trials": [t.name for t in sweep.trials]}
      aggregate.write_atomic(os.path.join(args.workdir, "sweep.json"),
                             lambda f: json.dump(info, f, indent=2))
      print(f"{len(trials)} of {len(sweep.trials)} trials of {args.config} -> {args.workdir}",
            flush=True)
      outcome, signum = runner.run(sweep, trials, args.workdir, cli, args.parallel,
                                   log=lambda s: print(s, flush=True))
  except SweepError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if not args.aggregate_only:
    counts = {s: sum(v == s for v in outcome.values()) for s in dict.fromkeys(outcome.values())}
    print("Trials: " + ", ".join(f"{n} {s}" for s, n in counts.items()), flush=True)
  if args.aggregate_only or args.trial_index is None:
    paths = aggregate.aggregate(sweep, args.workdir)
    print(f"Wrote {paths['csv']}, {paths['md']} and {len(paths['plots'])} plot(s).")
  if args.aggregate_only:
    return 0
  if signum is not None:
    return 128 + signum
  return 0 if set(outcome.values()) <= {"ok", "skipped"} else 1


if __name__ == "__main__":
  sys.exit(main())
