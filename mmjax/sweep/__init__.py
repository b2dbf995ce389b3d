"""Ablation sweeps over config keys, presets and seeds: `python -m mmjax.sweep` (see __main__).

spec.py (a config's get_sweep -> trials), runner.py (trials as subprocesses, resumable),
aggregate.py (summary.csv, summary.md, plots).
"""

from mmjax.sweep.spec import Sweep, SweepError, Trial, expand, load_sweep
