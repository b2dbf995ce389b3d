"""The train state: everything a run needs to continue exactly where it stopped."""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  """step: int32 []; params, opt_state: pytrees; rng: uint32 key data (base key of the run);
  model_state: mutable collections such as batch_stats ({} when none);
  ema_params: an exponential moving average of params (None when off)."""
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array
  model_state: Any
  ema_params: Any = None

  @classmethod
  def create(cls, params, model_state, optimizer: optax.GradientTransformation, rng,
             use_ema: bool = False):
    return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer.init(params),
               rng=jax.random.key_data(rng), model_state=model_state,
               ema_params=jax.tree.map(jnp.copy, params) if use_ema else None)

  @property
  def eval_params(self):
    """The parameters to evaluate: the moving average when the run keeps one."""
    return self.ema_params if self.ema_params is not None else self.params

  def step_rng(self, *fold_ins) -> jax.Array:
    """A fresh PRNG key for this step: the run's base key folded with the step (and
    e.g. the device index), so a resumed run draws exactly the same randomness."""
    key = jax.random.fold_in(jax.random.wrap_key_data(self.rng), self.step)
    for x in fold_ins:
      key = jax.random.fold_in(key, x)
    return key
