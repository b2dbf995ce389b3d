r"""One command that reruns every experiment behind the README's results tables.

  python -m mmjax.reproduce --workdir runs/reproduce                  # all targets
  python -m mmjax.reproduce --workdir runs/reproduce --check          # ... and compare
  python -m mmjax.reproduce --workdir runs/reproduce --update_readme  # ... and rewrite README
  python -m mmjax.reproduce --workdir runs/reproduce --only fusion_sweep_unique --update_readme
  python -m mmjax.reproduce --workdir runs/smoke --cheap --only fusion_unique,captioning

Each target in `targets.TARGETS` (a README row: its runs, the result-cell template, one
`Metric` per number with its tolerance; or a `Sweep`) runs as a subprocess in
`<workdir>/<run name>`. Rerunning resumes: finished runs are skipped (delete
`<workdir>/<run name>` to rerun one), an interrupted one resumes from its checkpoint.
`<workdir>/results.md` gets exactly the block between README.md's
`<!-- reproduce:results:begin -->` / `<!-- reproduce:results:end -->` markers. `--check` reads
the expected numbers out of README.md with each row's template and exits 1 naming every metric
outside its tolerance, and any missing one. `--update_readme` writes the regenerated rows and
sweep tables between the markers; with `--only`, just those targets' parts are replaced and the
others kept, so a long reproduction can land in pieces (each part names its own wall time).
`--cheap` runs each target's tiny variant: every cell filled, nothing checked (what CI runs).
`--list` prints the commands. `--data_dir DATA` reproduces the real-data block instead
(`targets.REAL_DATA_TARGETS`, between the `<!-- reproduce:real_data:... -->` markers): its runs
read the manifests prepared into DATA/f8k and DATA/avm (README's "Real data" section).

Expected wall time on 2 CPU cores, from the README's recorded times: the 17 runs of the results
rows about 1 h 05 min (on a machine shared with other jobs; roughly half that on quiet cores);
the sweeps: captioning 14 min, contrastive (18 trials) about 1.5 h, the fusion sweep (117 trials)
25-45 min per task (43 min redundant, 24 min unique, 18 min synergy).
"""

from mmjax.reproduce.spec import Metric, Row, Run, Sweep
from mmjax.reproduce.targets import TARGETS
