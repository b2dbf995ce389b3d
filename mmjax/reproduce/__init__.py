r"""One command that reruns every experiment behind the README's results tables.

  python -m mmjax.reproduce --workdir runs/reproduce                  # all targets
  python -m mmjax.reproduce --workdir runs/check --check              # fresh runs vs README
  python -m mmjax.reproduce --workdir runs/reproduce --update_readme  # ... and rewrite README
  python -m mmjax.reproduce --workdir runs/reproduce --only fusion_sweep_unique --update_readme
  python -m mmjax.reproduce --workdir runs/smoke --cheap --only fusion_unique,captioning

Each target in `targets.TARGETS` (a README row: its runs, the result-cell template, one
`Metric` per number; or a `Sweep`; inspection_targets.py holds the rows that look inside a
model) runs as a subprocess: a row's runs once per seed (0, 1, 2) in
`<workdir>/<run name>_s<seed>`, a sweep in `<workdir>/<sweep name>`. A row shows each number's
mean ± sample std over its seeds.

Provenance: every run records the code that produced it (`provenance.code_version`: the git
commit and a hash of mmjax/, experiments/, configs/ and pyproject.toml as they are on disk).
Rerunning resumes: runs this code finished are skipped, an interrupted one resumes from its
checkpoint, and a run of other code is stale: it is moved to `<run>.stale-<hash>` (kept) and
rerun, so no table mixes code versions. `--list` shows each run's state.

`<workdir>/results.md` gets exactly the block between README.md's
`<!-- reproduce:results:begin -->` / `<!-- reproduce:results:end -->` markers. `--check` reads
the expected numbers out of README.md with each row's template, and the sweep tables' cells,
and exits 1 naming every number further from README's than its tolerance
(`tables.tolerance`: 3 standard errors of the difference of two seed means, from the spreads
shown), and any missing one. It refuses runs whose results wrote README.md: check in a fresh
workdir. `--update_readme` writes the regenerated rows and sweep tables between the markers;
with `--only`, just those targets' parts are replaced and the others kept, so a long
reproduction can land in pieces (each part names its own wall time). `--seeds 0` runs one
seed of each row (a quicker --check). `--cheap` runs each target's tiny variant;
`--cheap --update_expected` stores their mean and spread over seeds in
`cheap_expected.json`, and `--cheap --check` compares against it (what CI runs, `expected.py`).
`--list` prints the commands. `--data_dir DATA` reproduces the real-data block instead
(`real_data_targets.py`, between the `<!-- reproduce:real_data:... -->` markers, one seed per
row, hand-set tolerances): its runs read the manifests prepared into DATA/f8k and DATA/avm
(README's "Real data" section).

Expected wall time on 2 CPU cores, from the README's recorded times: one seed of the results
rows' 17 runs about 1 h 05 min on a machine shared with other jobs (roughly half that on quiet
cores), three seeds three times that; the sweeps: captioning 14 min, contrastive (18 trials)
about 1.5 h, the fusion sweep (117 trials) 25-45 min per task.
"""

from mmjax.reproduce.spec import FollowUp, Metric, Row, Run, Sweep
from mmjax.reproduce.targets import TARGETS
