"""Parameters from a finished run's checkpoint, to start another model from (pretrain ->
fine-tune): read the trainer's checkpoint without knowing the model that wrote it, then graft one
of its subtrees (e.g. a two-tower model's `img_tower`) into a fresh model's parameters.

>>> pretrained = checkpoint_params("runs/clip/checkpoints")       # {"img_tower": ..., ...}
>>> params = graft(fresh_params, "towers_image", pretrained["img_tower"])
"""

import os
from typing import Optional

import jax
import numpy as np
import orbax.checkpoint as ocp


def checkpoint_params(directory: str, step: Optional[int] = None, collection: str = "params",
                      use_ema: bool = True) -> dict:
  """The `collection` ("params" or "model_state") of the TrainState saved in `directory` (a
  run's `checkpoints/` folder) at `step` (default: the newest), as a nested dict of numpy
  arrays. With use_ema, params are the run's EMA when it kept one (what it evaluated)."""
  directory = os.path.abspath(directory)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"no checkpoint directory {directory}; train the run first.")
  manager = ocp.CheckpointManager(directory, item_names=("state",))
  try:
    step = manager.latest_step() if step is None else step
    if step is None or step not in manager.all_steps():
      raise FileNotFoundError(f"{directory} has no checkpoint at step "
                              f"{'(any)' if step is None else step}; steps: {manager.all_steps()}.")
    # No target tree: orbax rebuilds the saved pytree (a dict of the TrainState's fields).
    state = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state
  finally:
    manager.close()
  if collection not in state:
    raise ValueError(f"collection={collection!r}; valid: {', '.join(sorted(state))}.")
  tree = state[collection]
  if collection == "params" and use_ema and state.get("ema_params") is not None:
    tree = state["ema_params"]
  return jax.tree.map(np.asarray, tree)


def graft(params: dict, name: str, pretrained: dict) -> dict:
  """`params` with its top-level subtree `name` replaced by `pretrained`, which must have the
  same structure, shapes and dtypes (the same module with the same options); a ValueError names
  every leaf that differs."""
  if name not in params:
    raise ValueError(f"params has no subtree {name!r}; valid: {', '.join(sorted(params))}.")

  def leaves(tree):
    return {jax.tree_util.keystr(p): f"{tuple(np.shape(x))} {np.dtype(x.dtype).name}"
            for p, x in jax.tree_util.tree_leaves_with_path(tree)}

  want, got = leaves(params[name]), leaves(pretrained)
  bad = [f"{k}: pretrained {got.get(k, 'missing')} vs model {want.get(k, 'missing')}"
         for k in sorted(set(want) | set(got)) if got.get(k) != want.get(k)]
  if bad:
    raise ValueError(f"pretrained {name!r} does not fit the model (were both built with the same "
                     f"encoder options?): " + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
  return {**params, name: jax.tree.map(np.asarray, pretrained)}
