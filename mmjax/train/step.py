"""One pure loss function -> one train step (forward, backward, all-reduce, update, EMA).

A loss function has the signature

    loss_fn(params, model_state, batch, rng, axis_name) -> (loss, (metrics, new_model_state))

`loss` is the mean over the examples it is given; `metrics` a dict of scalars; `model_state`
the mutable collections (e.g. batch_stats, {} when none). Under pmap, `axis_name` names the
device axis, and a loss that couples examples (contrastive) gathers across it; under jit it is
None and the loss sees the global batch. Gradients, loss and metrics are then averaged across
devices, so both modes equal a single-device step on the same global batch, randomness aside.

BatchNorm couples examples too: under pmap the step itself makes every `batch_norm` layer
(`mmjax.models.batch_norm`) average its statistics over the device axis, so the loss need not.

Randomness: under jit the loss draws from one key per step over the global batch, and a jitted
draw does not depend on how its output is sharded (with jax_threefry_partitionable, the default,
each device computes only its part), so dropout equals a single-device step's. Under pmap each
device draws from that key folded with its index: the same distribution, other masks.
"""

import jax
import jax.numpy as jnp
import optax

from mmjax.models.batch_norm import batch_axis
from mmjax.train.state import TrainState


def _microbatches(batch, n):
  # Strided split: microbatch k holds rows k, k+n, k+2n, ... so that each one stays spread over
  # every device of a batch-sharded array instead of living on a few of them.
  return jax.tree.map(lambda x: jnp.swapaxes(x.reshape((-1, n) + x.shape[1:]), 0, 1), batch)


def make_train_step(loss_fn, optimizer: optax.GradientTransformation, schedule,
                    *, axis_name=None, grad_accum_steps: int = 1, ema_decay: float = 0.0,
                    gather_params=None):
  """Returns step(state, batch) -> (state, metrics) to be wrapped in jax.jit or jax.pmap.

  gather_params: (use, stored), two trees of shardings of the params (jit with fsdp): the
  forward and backward passes see the params gathered to `use` (replicated; a scanned stack of
  layers stays sharded and gathers each layer as the scan reaches it, under the stored
  shardings' mesh), and the gradients go back to `stored` (the sharded layout) before the
  optimizer. Without it, GSPMD meets each
  weight split on its largest dimension and all-gathers the activations over the global batch
  instead (measured: `[global batch x tokens, width]` gathers, README's memory table)."""
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  if gather_params is not None:
    use, stored = gather_params
    constrain = jax.lax.with_sharding_constraint
    mesh = jax.tree.leaves(stored)[0].mesh

    def grad_fn(params, *args, _grad_fn=grad_fn):
      # The mesh, for the layers that gather their own params (transformer.gather_layer).
      with jax.sharding.use_abstract_mesh(mesh.abstract_mesh):
        out, grads = _grad_fn(constrain(params, use), *args)
      return out, constrain(grads, stored)

  def step(state: TrainState, batch):
    with batch_axis(axis_name):  # BatchNorm statistics of the global batch under pmap
      return _step(state, batch)

  def _step(state: TrainState, batch):
    rng = state.step_rng(jax.lax.axis_index(axis_name)) if axis_name else state.step_rng()
    if grad_accum_steps == 1:
      (loss, (metrics, model_state)), grads = grad_fn(
          state.params, state.model_state, batch, rng, axis_name)
    else:
      def accumulate(carry, xs):
        model_state, grad_sum, loss_sum, metric_sum = carry
        micro, i = xs
        (loss, (metrics, model_state)), grads = grad_fn(
            state.params, model_state, micro, jax.random.fold_in(rng, i), axis_name)
        add = lambda a, b: jax.tree.map(jnp.add, a, b)
        return (model_state, add(grad_sum, grads), loss_sum + loss, add(metric_sum, metrics)), None

      micro = _microbatches(batch, grad_accum_steps)
      first = jax.tree.map(lambda x: x[0], micro)
      _, (metrics0, _) = jax.eval_shape(
          lambda *a: grad_fn(*a, axis_name), state.params, state.model_state, first, rng)[0]
      zeros = lambda t: jax.tree.map(lambda x: jnp.zeros(x.shape, jnp.float32), t)
      init = (state.model_state, zeros(state.params), jnp.zeros((), jnp.float32), zeros(metrics0))
      (model_state, grads, loss, metrics), _ = jax.lax.scan(
          accumulate, init, (micro, jnp.arange(grad_accum_steps)))
      scale = 1.0 / grad_accum_steps
      grads, loss, metrics = jax.tree.map(lambda x: x * scale, (grads, loss, metrics))

    if axis_name:
      grads, loss, metrics, model_state = jax.lax.pmean(
          (grads, loss, metrics, model_state), axis_name)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema_params
    if ema is not None:
      ema = optax.incremental_update(params, ema, 1.0 - ema_decay)
    metrics = dict(metrics, loss=loss, grad_norm=optax.tree.norm(grads),
                   lr=schedule(state.step))
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              model_state=model_state, ema_params=ema)
    return new_state, metrics

  return step
