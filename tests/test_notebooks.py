"""Every notebook in notebooks/ executes top to bottom in a fresh kernel, as a reader runs it
(from the repository root, on one CPU device; the tests' other XLA flags are kept), so none can
rot silently. A failing cell fails its notebook's test with the cell's source and error."""

import glob
import os
import re

import nbclient
from nbclient.exceptions import CellExecutionError
import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
# Run after a notebook's "parameters"-tagged cell (papermill's convention): shorter training,
# the same code path.
QUICK_PARAMETERS = {"quickstart.ipynb": "CONTRASTIVE_STEPS = 20\nCAPTIONER_STEPS = 10"}


def kernel_env():
  """This environment without conftest's 8 simulated devices: a reader's kernel has one device
  (and the notebooks' batch sizes need not divide by 8)."""
  flags = re.sub(r"--xla_force_host_platform_device_count=\S*", "",
                 os.environ.get("XLA_FLAGS", "")).strip()
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  return dict(env, XLA_FLAGS=flags) if flags else env


def test_notebooks_are_found():
  assert any(p.endswith("quickstart.ipynb") for p in NOTEBOOKS), NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_executes(path):
  nb = nbformat.read(path, as_version=4)
  # Saved without outputs: diffs stay readable and the repository small.
  stale = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
  assert not stale, f"{os.path.basename(path)}: cells {stale} were saved with outputs"
  quick = QUICK_PARAMETERS.get(os.path.basename(path))
  if quick:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", ())]
    assert len(tagged) == 1, f"{os.path.basename(path)}: one cell must be tagged 'parameters'"
    nb.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(quick))
  client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                   resources={"metadata": {"path": ROOT}})
  try:
    client.execute(env=kernel_env())
  except CellExecutionError as e:  # its message: the cell and traceback.
    pytest.fail(f"{os.path.basename(path)} failed:\n{e}", pytrace=False)
