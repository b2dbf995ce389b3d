"""orbax checkpoints of the train state together with the data iterator's position.

Each checkpoint is one step directory holding two items: `state` (the TrainState pytree,
sharded arrays written by every process) and `data` (the iterator state as JSON), so a resumed
run continues with exactly the batches an uninterrupted one would have seen. orbax writes a
step into `<step>.orbax-checkpoint-tmp-*` and renames it when complete, so a run killed at any
moment leaves only whole checkpoints to resume from (tests/test_crash_safety.py measures it).
"""

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves every `every_steps` (and when forced), keeps the newest `keep`, restores the latest."""

  def __init__(self, directory: str, every_steps: int, keep: int, async_save: bool = True,
               trainer: bool = False):
    """trainer: this is the one process group writing here (not an evaluation reading it), so
    the unfinished saves of a killed run (`*.orbax-checkpoint-tmp-*`, never restored) are
    deleted; an evaluation must not delete the save a live trainer is writing."""
    self.directory = os.path.abspath(directory)
    self.every_steps = every_steps
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, save_interval_steps=1, enable_async_checkpointing=async_save,
            create=True, cleanup_tmp_directories=trainer),
        item_names=("state", "data"))

  def latest_step(self):
    return self._manager.latest_step()

  def due(self, step: int) -> bool:
    return step % self.every_steps == 0

  def save(self, step: int, state, data_state: dict) -> None:
    """Starts an (async) save; the arrays are copied before this returns, so the caller may
    donate or overwrite `state` right away."""
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state)), force=True)

  def restore(self, step: int, abstract_state):
    """abstract_state: a pytree of jax.ShapeDtypeStruct (with .sharding) to restore into."""
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
    return restored.state, restored.data

  def wait(self):
    self._manager.wait_until_finished()

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()


def abstract_like(tree, shardings):
  """ShapeDtypeStructs carrying the shardings a restored tree should have."""
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      tree, shardings)
