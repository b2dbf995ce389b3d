"""Two processes of 2 host CPU devices each, joined as a multi-host run would be, train the
fusion experiment's tiny preset with jit and with pmap, stop at step 3 (a checkpoint), and rerun
to step 6, restoring it; the final train state and results equal one process with the same 4
devices and the same global batch trained to step 6 without stopping.

Tolerance: the 2-process runs all-reduce gradients across processes (gloo) in another order
than one process does across its devices, so float32 sums may round differently; after 6 Adam
steps the measured difference is a few float32 ulps (up to 6e-8). ATOL, 1e-6, is far below what
a real fault moves: one Adam step changes a parameter by up to lr = 2e-3, so a process reading
the other's slice of the batch, gradients not averaged over processes, or a wrong step or
learning rate after the restore fail it by orders of magnitude.
"""

import json

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from mmjax.registry import ConfigError
from mmjax.train import parallel
from tests import multihost
from tests.scripts import preset

ATOL = 1e-6
MODES = ("jit", "pmap")
# A constant learning rate after the warmup: the stopped run's schedule (total_steps=3) is then
# the uninterrupted run's.
ARGS = ["-m", "tests.multihost", "--config", "configs/fusion.py:tiny", "--parallelism",
        ",".join(MODES), "--config.progress_bar=False", "--config.schedule.name=constant"]


def train_state(workdir, step):
  """The checkpointed TrainState as numpy (whichever devices wrote it)."""
  path = workdir / "checkpoints" / str(step) / "state"
  checkpointer = ocp.PyTreeCheckpointer()
  tree = checkpointer.metadata(path).item_metadata.tree
  restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
  return checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Workdirs {"two_processes", "one_process"}, each with a subdirectory per parallelism."""
  root = tmp_path_factory.mktemp("multihost")
  both = multihost.launch([*ARGS, "--workdir", str(root / "two_processes"), "--stages=2"],
                          num_processes=2, devices=2)
  # Started alongside: the 2-core CI machine overlaps one run's start-up with the other's steps.
  one = multihost.start([*ARGS, "--workdir", str(root / "one_process")], devices=4)
  multihost.wait([*both, one], timeout=600)
  return {name: root / name for name in ("two_processes", "one_process")}


@pytest.mark.parametrize("mode", MODES)
def test_two_processes_resumed_equal_one_process(runs, mode):
  two, one = runs["two_processes"] / mode, runs["one_process"] / mode
  # The stopped run checkpointed step 3 and the rerun resumed there (its setup row is at 3).
  assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["3", "6"]
  rows = [json.loads(line) for line in open(two / "metrics.jsonl")]
  assert [r["step"] for r in rows if "setup/compile_time_s" in r] == [0, 3]
  a, b = train_state(two, 6), train_state(one, 6)
  assert int(a["step"]) == int(b["step"]) == 6
  assert jax.tree.structure(a) == jax.tree.structure(b)
  diff = max(float(np.max(np.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  print(f"{mode}: max |two processes - one process| over the train state = {diff:.3g}")
  assert diff <= ATOL
  # Training moved the params by far more than the tolerance (the comparison can fail).
  halfway = train_state(two, 3)["params"]
  assert max(float(np.max(np.abs(x - y))) for x, y in
             zip(jax.tree.leaves(halfway), jax.tree.leaves(a["params"]))) > 1000 * ATOL
  # Only process 0 wrote results.json; every evaluation number equals the one-process run's.
  ra, rb = (json.load(open(d / "results.json")) for d in (two, one))
  assert ra["step"] == rb["step"] == 6
  assert ra["confusion_matrix"] == rb["confusion_matrix"]
  for key in ("accuracy", "macro_f1", "compositional/accuracy"):
    assert ra[key] == pytest.approx(rb[key], abs=1e-6), key


@pytest.mark.parametrize("overrides,match", [
    (dict(coordinator_address="host0:1234", num_processes=2, process_id=0),
     "distributed.enabled=False"),
    (dict(enabled=True, coordinator_address="host0:1234"), "needs distributed.num_processes"),
    (dict(enabled=True, num_processes=2, process_id=2), r"process_id=2 must be in 0 \.\.\. 1"),
    (dict(enabled=True, num_processes=0), "num_processes=0"),
])
def test_bad_distributed_keys_fail_before_jax_starts(overrides, match):
  config = preset("configs/fusion.py:tiny")
  config.distributed.update(overrides)
  with pytest.raises(ConfigError, match=match):
    parallel.initialize_distributed(config)


def test_num_processes_must_match_the_processes_that_joined():
  from mmjax import train
  config = preset("configs/fusion.py:tiny")
  config.distributed.update(enabled=True, num_processes=2)  # this test runs one process
  with pytest.raises(ConfigError, match=r"num_processes=2, but 1 processes joined"):
    train.validate(config)
