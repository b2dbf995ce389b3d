"""`fit`: the training loop every experiment shares.

It validates the config, builds or restores the TrainState, compiles the step once (jit over
a mesh, or pmap), then loops: feed a batch, step, check the loss is finite, log, checkpoint,
evaluate. SIGTERM / SIGINT save a checkpoint and return with `interrupted=True`; a batch that
fails to load mid-run saves the state trained so far and raises DataError; a NaN or Inf
loss raises `NonFiniteLossError` and leaves the last good checkpoint in place.
"""

import dataclasses
import logging
import math
import os
import signal
import threading
import time
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np

from mmjax import experiment
from mmjax.train import parallel
from mmjax.train.checkpoint import Checkpointer, abstract_like
from mmjax.train.config import validate
from mmjax.train.device_prefetch import DevicePrefetch
from mmjax.train.metrics_writer import MetricWriter, Throughput
from mmjax.train.optimizer import make_optimizer
from mmjax.train.state import TrainState
from mmjax.train.step import make_train_step

log = logging.getLogger("mmjax")


class NonFiniteLossError(FloatingPointError):
  """The loss or gradient norm became NaN/Inf; the message names the step."""


class DataError(RuntimeError):
  """Reading a training batch failed mid-run (a file changed or vanished after validation,
  ...); the trained state up to then was saved first, and the message names its step."""


@dataclasses.dataclass
class FitResult:
  state: TrainState  # replicated over every device (pmap too): plain jax on any process.
  step: int
  interrupted: bool  # True when stopped by SIGTERM/SIGINT after saving a checkpoint.
  signal: Optional[int] = None
  # The last evaluation's full dict: scalars (also logged) and artifacts (arrays, captions,
  # confusion matrices: returned, never logged). None when interrupted.
  eval_metrics: Optional[dict] = None


class _Setup:
  """What `fit` and `restore_latest` share: the state's layout for the chosen parallelism."""

  def __init__(self, config, init_fn):
    self.config = config
    self.pmap = config.parallelism == "pmap"
    self.optimizer, self.schedule = make_optimizer(config, config.total_steps)
    use_ema = config.ema_decay > 0
    self.create = lambda rng: TrainState.create(*init_fn(rng), self.optimizer, rng, use_ema)
    self.rng = jax.random.key(config.seed)
    self.abstract = jax.eval_shape(self.create, self.rng)
    if self.pmap:  # outside the step, the state is replicated over every device, as under jit
      sharding = jax.sharding.NamedSharding(parallel.pmap_mesh(), jax.P())
      self.shardings = jax.tree.map(lambda _: sharding, self.abstract)
    else:
      self.mesh = parallel.make_mesh()
      self.shardings = parallel.state_shardings(self.abstract, self.mesh, config.fsdp)

  def init_state(self):
    return jax.jit(self.create, out_shardings=self.shardings)(self.rng)

  def restore(self, ckpt: Checkpointer, step: int):
    return ckpt.restore(step, abstract_like(self.abstract, self.shardings))

  def to_devices(self, state):
    return parallel.replicate(state) if self.pmap else state

  def to_host(self, state):
    return parallel.unreplicate(state) if self.pmap else state

  def put_batch(self, batch):
    return parallel.split_for_pmap(batch) if self.pmap else parallel.global_batch(batch, self.mesh)

  def step_fn(self, loss_fn):
    """The train step as `fit` compiles it: pmapped, or jitted with the state's and the
    batch's shardings; the state is donated."""
    c = self.config
    replicated = None if self.pmap else jax.sharding.NamedSharding(self.mesh, jax.P())
    gather = None
    if c.fsdp:  # each weight gathered for use; the state stays sharded
      gather = (parallel.gather_shardings(self.shardings.params, self.mesh),
                self.shardings.params)
    step = make_train_step(loss_fn, self.optimizer, self.schedule,
                           axis_name=parallel.PMAP_AXIS if self.pmap else None,
                           grad_accum_steps=c.grad_accum_steps, ema_decay=c.ema_decay,
                           gather_params=gather)
    if self.pmap:
      return jax.pmap(step, axis_name=parallel.PMAP_AXIS, donate_argnums=0)
    return jax.jit(step, donate_argnums=0,
                   in_shardings=(self.shardings, parallel.batch_sharding(self.mesh)),
                   out_shardings=(self.shardings, replicated))


def lower_step(config, init_fn, loss_fn, batch) -> jax.stages.Lowered:
  """`fit`'s train step lowered for abstract inputs, to compile without running (memory and
  FLOPs of a config on devices it does not have, e.g. simulated CPU devices). Nothing is
  allocated: the state's shapes come from `jax.eval_shape` of its init.

  batch: a tree of jax.ShapeDtypeStruct with global shapes [batch_size, ...]. jit only (pmap
  keeps a full replica per device: the memory of `fsdp=False`)."""
  validate(config)
  if config.parallelism != "jit":
    raise ValueError(f"parallelism={config.parallelism!r}; lower_step compiles the jit step "
                     "only (pmap's per-device memory is jit's with fsdp=False).")
  setup = _Setup(config, init_fn)
  place = lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s)
  state = jax.tree.map(place, setup.abstract, setup.shardings)
  data = parallel.batch_sharding(setup.mesh)
  return setup.step_fn(loss_fn).lower(state, jax.tree.map(lambda x: place(x, data), batch))


def restore_latest(config, workdir: str, init_fn) -> tuple[TrainState, int]:
  """The newest checkpoint in `workdir` (for evaluating without training)."""
  setup = _Setup(config, init_fn)
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), 1, config.checkpoint.keep)
  step = ckpt.latest_step()
  if step is None:
    raise FileNotFoundError(f"No checkpoint in {workdir}/checkpoints; train first.")
  state, _ = setup.restore(ckpt, step)
  ckpt.close()
  return state, step


class _StopSignal:
  """Records SIGTERM/SIGINT instead of dying, so the loop can save first. A second SIGINT
  interrupts immediately."""

  def __init__(self):
    self.signum = None
    self._old = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for s in (signal.SIGTERM, signal.SIGINT):
        self._old[s] = signal.signal(s, self._handle)
    return self

  def _handle(self, signum, frame):
    if self.signum == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.signum = signum
    log.warning("Received signal %d: saving a checkpoint, then stopping.", signum)

  def __exit__(self, *exc):
    for s, h in self._old.items():
      signal.signal(s, h)

  def requested(self, sync_point: bool) -> bool:
    """Whether to stop now. With several processes, all must stop at the same step, so they
    agree only at sync points (log steps)."""
    flag = self.signum is not None
    if jax.process_count() == 1:
      return flag
    if not sync_point:
      return False
    from jax.experimental import multihost_utils
    return bool(np.any(multihost_utils.process_allgather(np.array(flag))))


def fit(config, workdir: str, *, init_fn: Callable, loss_fn: Callable, train_data,
        evaluate: Optional[Callable[[TrainState, int], dict]] = None,
        hooks: Sequence[Callable[[int], Any]] = ()) -> FitResult:
  """Trains to `config.total_steps`, resuming from the newest checkpoint in `workdir`.

  init_fn(rng) -> (params, model_state); loss_fn as in `mmjax.train.step`;
  train_data: an iterator of this process's numpy batches with `.state()` / `.restore(state)`
    (and `.workers`, set to config.data_workers, if it has one: `mmjax.data.pipeline.Batches`);
  evaluate(state, step) -> dict, run every `eval_every_steps` and at the end: its scalars are
    logged (metrics.jsonl, TensorBoard), the whole dict (artifacts too) is returned; a run
    resumed at an evaluation step evaluates it again (its predecessor may have died in it);
  hooks: called with the step number after each step (tests use them to inject signals).
  """
  validate(config)
  os.makedirs(workdir, exist_ok=True)
  experiment.write_config(workdir, config)
  setup = _Setup(config, init_fn)
  total = config.total_steps
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.checkpoint.every_steps,
                      config.checkpoint.keep, config.checkpoint.async_save, trainer=True)
  if hasattr(train_data, "workers"):  # a Batches: its read-ahead threads are a trainer choice.
    train_data.workers = config.data_workers
  start = ckpt.latest_step() or 0
  if start:
    state, data_state = setup.restore(ckpt, start)
    train_data.restore(data_state)
    log.info("Resumed from step %d in %s", start, ckpt.directory)
  else:
    state = setup.init_state()
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  state = setup.to_devices(state)

  compiled_fn = setup.step_fn(loss_fn)

  writer = MetricWriter(workdir, total, start, config.progress_bar)
  result = FitResult(state=None, step=start, interrupted=False)
  batches = DevicePrefetch(train_data, setup.put_batch, config.prefetch_to_device)
  try:
    if start >= total:
      log.info("Already trained to step %d.", start)
    else:
      batch, data_state = next(batches)
      t0 = time.perf_counter()
      args = parallel.host_local((state, batch)) if setup.pmap else (state, batch)
      compiled = compiled_fn.lower(*args).compile(
          parallel.compiler_options(config.compute_dtype))
      writer.write(start, {"compile_time_s": time.perf_counter() - t0, "params": n_params},
                   prefix="setup")
      if evaluate and config.eval_every_steps and 0 < start < total \
          and start % config.eval_every_steps == 0:
        # The stopped run may have died in this evaluation after saving the checkpoint: redo it
        # (the writer replaces its row if it was logged), so no evaluation goes missing.
        _evaluate(writer, evaluate, setup.to_host(state), start)
      with _StopSignal() as stop:
        state, result = _loop(config, compiled, state, batch, data_state, batches, setup,
                              ckpt, writer, evaluate, hooks, stop, start)
    state = setup.to_host(state)
    if not result.interrupted and evaluate is not None:
      result.eval_metrics = _evaluate(writer, evaluate, state, result.step)
  finally:  # even on a crash: finish the checkpoint being written, flush the logs.
    batches.close()
    ckpt.close()
    writer.close()
  result.state = state
  return result


def _loop(config, compiled, state, batch, data_state, batches, setup, ckpt, writer,
          evaluate, hooks, stop, step):
  total, every = config.total_steps, config.log_every_steps
  throughput = Throughput(step)
  window, pending = [], None

  def check(pending):
    s, metrics = pending
    # The first local device's value: every device holds the same all-reduced metrics, and
    # with several processes no process can fetch the others' devices.
    metrics = {k: float(np.asarray(v.addressable_data(0)).reshape(-1)[0])
               for k, v in metrics.items()}
    if not (math.isfinite(metrics["loss"]) and math.isfinite(metrics["grad_norm"])):
      writer.write(s, metrics)
      ckpt.wait()
      last = ckpt.latest_step()
      raise NonFiniteLossError(
          f"loss={metrics['loss']} grad_norm={metrics['grad_norm']} at step {s}: stopping. "
          f"The last good checkpoint (step {last}) is kept in {ckpt.directory}; lower "
          f"optimizer.lr or set optimizer.grad_clip_norm, then rerun to resume from it.")
    window.append(metrics)

  while step < total:
    state, metrics = compiled(state, batch)
    step += 1
    batch_state = data_state
    if step < total:  # already on the devices (DevicePrefetch) while this step runs.
      try:
        batch, data_state = next(batches)
      except Exception as e:  # noqa: BLE001 - any data failure: keep the work done so far
        for p in (pending, (step, metrics)):
          if p:
            check(p)  # a state with a NaN loss is not worth keeping
        ckpt.save(step, setup.to_host(state), batch_state)
        ckpt.wait()
        raise DataError(f"reading the training batch after step {step} failed: "
                        f"{type(e).__name__}: {e}\nThe state after step {step} is saved in "
                        f"{ckpt.directory}; fix the data and rerun to resume from it.") from e
    if pending:
      check(pending)
    pending = (step, metrics)
    for hook in hooks:
      hook(step)
    stopping = stop.requested(step % every == 0 or step == total)
    boundary = step % every == 0 or step == total or ckpt.due(step) or stopping or (
        config.eval_every_steps and step % config.eval_every_steps == 0)
    writer.progress(1)
    if not boundary:
      continue
    check(pending)
    pending = None
    if step % every == 0 or step == total:
      mean = {k: float(np.mean([m[k] for m in window])) for k in window[-1]}
      mean.update(throughput(step, config.batch_size))
      writer.write(step, mean)
      writer.progress(0, loss=mean["loss"], ex_per_s=mean["examples_per_s"])
      window.clear()
    if ckpt.due(step) or step == total or stopping:
      ckpt.save(step, setup.to_host(state), batch_state)
    if stopping:
      ckpt.wait()
      writer.write(step, {"signal": stop.signum}, prefix="interrupted")
      return state, FitResult(None, step, interrupted=True, signal=stop.signum)
    if evaluate and config.eval_every_steps and step % config.eval_every_steps == 0 \
        and step < total:
      _evaluate(writer, evaluate, setup.to_host(state), step)
  return state, FitResult(None, step, interrupted=False)


def _evaluate(writer, evaluate, state, step) -> dict:
  # Announced first: an evaluation can take minutes, and without the line a run looks stuck.
  writer.note(step, "evaluating")
  metrics = evaluate(state, step)
  writer.write(step, scalars(metrics), prefix="eval")
  return metrics


def scalars(metrics: dict) -> dict:
  """The entries of an evaluation that are single numbers (what the logs take)."""
  return {k: v for k, v in metrics.items()
          if isinstance(v, (int, float, np.number)) or (hasattr(v, "shape") and v.size == 1)}


def train_or_restore(config, workdir: str, *, init_fn, loss_fn, train_data, evaluate
                     ) -> FitResult:
  """What every experiment main does: with `config.eval_only` restore the newest checkpoint and
  evaluate it, else `fit` (which evaluates at the end). Returns the FitResult: the final state,
  step and evaluation (scalars and artifacts). A run stopped by SIGTERM/SIGINT has saved its
  checkpoint; the process then exits with 128+signal."""
  if config.eval_only:
    state, step = restore_latest(config, workdir, init_fn)
    return FitResult(state=state, step=step, interrupted=False,
                     eval_metrics=evaluate(state, step))
  result = fit(config, workdir, init_fn=init_fn, loss_fn=loss_fn, train_data=train_data,
               evaluate=evaluate)
  train_data.close()
  if result.interrupted:
    logging.warning("Interrupted at step %d; rerun the same command to resume.", result.step)
    raise SystemExit(128 + result.signal)
  return result
