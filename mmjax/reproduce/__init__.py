r"""One command that reruns every experiment behind the README's results tables.

  python -m mmjax.reproduce --workdir runs/reproduce                  # all targets
  python -m mmjax.reproduce --workdir runs/reproduce --check          # ... and compare
  python -m mmjax.reproduce --workdir runs/reproduce --update_readme  # ... and rewrite README
  python -m mmjax.reproduce --workdir runs/smoke --cheap --only fusion_unique,captioning

Each target in `targets.TARGETS` (a README row: its runs, the result-cell template, one
`Metric` per number with its tolerance; or a `Sweep`) runs as a subprocess in
`<workdir>/<run name>`. Rerunning resumes: finished runs are skipped (delete
`<workdir>/<run name>` to rerun one), an interrupted one resumes from its checkpoint.
`<workdir>/results.md` gets exactly the block between README.md's
`<!-- reproduce:results:begin -->` / `<!-- reproduce:results:end -->` markers. `--check` reads
the expected numbers out of README.md with each row's template and exits 1 naming every metric
outside its tolerance, and any missing one. `--cheap` runs each target's tiny variant: every cell
filled, nothing checked (what CI runs). `--list` prints the commands.

Expected wall time of the full reproduction on 2 CPU cores, from the README's recorded times
(12 runs: the 7 rows' main runs plus 5 extra runs for baselines and the low-rank fusion):
about 22 min for the main runs (contrastive 6 min quiet, captioning 3.3 min, LSTM 2.7 min, speech
4.5 min, fusion 1.6 + 1.7 + 2.5 min), about 30 min with the extra fusion runs on quiet cores;
on a machine shared with ~8 jobs, 3-5 times that (the contrastive run alone took 29 min there).
"""

from mmjax.reproduce.spec import Metric, Row, Run, Sweep
from mmjax.reproduce.targets import TARGETS
