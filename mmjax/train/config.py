"""The trainer's config keys, their defaults, and validation that runs before any compile.

Experiment configs start from `defaults()` and add their own `model` / `data` / `eval`
sections; `validate` checks every trainer key so a typo or an impossible value fails in
seconds with the key and the valid choices named, not after a long compile.
"""

import re

import jax
import ml_collections

from mmjax import config_keys
from mmjax.registry import ConfigError
from mmjax.train import host_memory
from mmjax.train import optimizer as optim

PARALLELISM = ("jit", "pmap")
COMPUTE_DTYPES = ("float32", "bfloat16")


def defaults(**overrides) -> ml_collections.ConfigDict:
  """Every trainer key with its default, updated with `overrides` (nested sections merge:
  optimizer=dict(lr=1e-3) keeps the optimizer's other keys)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.parallelism = "jit"      # "jit": jax.jit over a Mesh; "pmap": jax.pmap, replicated state.
  c.fsdp = False             # jit only: shard params and optimizer state over the data axis
  #                            (scanned layers are then gathered one at a time: ZeRO-3).
  c.batch_size = 128         # global: per-process batch x processes.
  c.grad_accum_steps = 1
  c.total_steps = 1000
  c.compute_dtype = "float32"  # "bfloat16": bf16 matmuls, float32 params/optimizer/loss.
  c.ema_decay = 0.0          # 0 turns the EMA of params off.

  c.optimizer = ml_collections.ConfigDict(dict(
      name="adamw", lr=1e-3, weight_decay=1e-4, b1=0.9, b2=0.999, eps=1e-8,
      momentum=0.9, nesterov=False, grad_clip_norm=1.0, decay_mask="matrices",
      # Regexes over '/'-joined param paths (full match), e.g. ("img_tower/.*",): those params
      # get exactly zero updates and no weight decay (LiT's locked tower). () freezes nothing.
      frozen=()))
  c.schedule = ml_collections.ConfigDict(dict(name="cosine", warmup_steps=0, end_lr_fraction=0.0))
  c.checkpoint = ml_collections.ConfigDict(dict(every_steps=500, keep=2, async_save=True))
  c.log_every_steps = 50
  c.eval_every_steps = 0     # 0: evaluate only at the end.
  c.progress_bar = True
  c.prefetch_to_device = 2   # batches transferred to the devices ahead of the step; 0 = none.
  # Threads decoding train batches ahead on the host (mmjax.data.pipeline.Batches.workers);
  # 0 builds each batch when the step asks for it.
  c.data_workers = 2
  # CPU: keep freed host memory in the process (mmjax.train.host_memory): bf16 steps ~15 %
  # faster, at ~2x the resident memory. "auto": for a low-precision compute_dtype; "on"; "off".
  # Read by experiment.main before jax starts.
  c.keep_freed_host_memory = "auto"
  # Multi-host: set enabled=True on every process; the addresses come from the cluster
  # environment (SLURM, TPU pods) unless given here.
  c.distributed = ml_collections.ConfigDict(dict(
      enabled=False, coordinator_address="", num_processes=-1, process_id=-1))
  c.update(overrides)
  return c


def layer_options(**overrides) -> dict:
  """How a transformer tower's layers run (transformer.Encoder), for a ViT / text transformer /
  AST options dict: the attention implementation ("auto": einsum on CPU,
  jax.nn.dot_product_attention, with cuDNN flash attention where it applies, elsewhere; or
  "einsum", "xla", "cudnn"), activation remat ("none", "full", "dots", "dots_no_batch") and
  nn.scan over layers. None changes the maths; remat and scan trade compute and compile time
  for memory."""
  return dict(dict(attention="auto", remat="none", scan=False), **overrides)


def smoke(batch_size: int = 16, total_steps: int = 4, **overrides) -> dict:
  """The trainer keys of a seconds-long smoke run (the configs' `tiny` presets, run by CI): a
  log line every 2 steps, one checkpoint at the end, one warmup step; `overrides` as in
  `defaults`. Apply with `config.update(smoke(...))`."""
  out = dict(batch_size=batch_size, total_steps=total_steps, log_every_steps=2,
             checkpoint=dict(every_steps=total_steps), schedule=dict(warmup_steps=1))
  for key, value in overrides.items():
    out[key] = {**out[key], **value} if isinstance(value, dict) and key in out else value
  return out


def _check_keys(config, reference, prefix=""):
  for key in config.keys():
    if key not in reference:
      raise config_keys.unknown_key(prefix + key, reference.keys())
    if isinstance(reference[key], ml_collections.ConfigDict):
      _check_keys(config[key], reference[key], f"{prefix}{key}.")


def _choice(value, key, choices):
  if value not in choices:
    raise ConfigError(f"{key}={value!r} is not valid. Valid choices: {', '.join(choices)}.")


def _positive(value, key, allow_zero=False):
  if not isinstance(value, int) or value < (0 if allow_zero else 1):
    raise ConfigError(f"{key}={value!r} must be an integer >= {0 if allow_zero else 1}.")


def validate(config, experiment_sections=("model", "data", "eval", "eval_only")):
  """Raises ConfigError naming the key (and valid choices) for any invalid trainer value."""
  ref = defaults()
  for name in experiment_sections:
    if name in config:
      ref[name] = config[name]  # the experiment validates its own sections.
  missing = [k for k in ref.keys() if k not in config]
  if missing:
    raise ConfigError(f"Config is missing trainer keys {missing}; start configs from "
                      f"mmjax.train.defaults().")
  _check_keys(config, ref)
  _choice(config.parallelism, "parallelism", PARALLELISM)
  _choice(config.compute_dtype, "compute_dtype", COMPUTE_DTYPES)
  _choice(config.keep_freed_host_memory, "keep_freed_host_memory", host_memory.SETTINGS)
  _choice(config.optimizer.name, "optimizer.name", optim.OPTIMIZERS)
  _choice(config.optimizer.decay_mask, "optimizer.decay_mask", optim.DECAY_MASKS)
  _choice(config.schedule.name, "schedule.name", optim.SCHEDULES)
  for key in ("batch_size", "grad_accum_steps", "total_steps", "log_every_steps"):
    _positive(config[key], key)
  _positive(config.checkpoint.every_steps, "checkpoint.every_steps")
  _positive(config.checkpoint.keep, "checkpoint.keep")
  _positive(config.eval_every_steps, "eval_every_steps", allow_zero=True)
  _positive(config.prefetch_to_device, "prefetch_to_device", allow_zero=True)
  _positive(config.data_workers, "data_workers", allow_zero=True)
  _positive(config.schedule.warmup_steps, "schedule.warmup_steps", allow_zero=True)
  if config.schedule.warmup_steps >= config.total_steps and config.schedule.name != "constant":
    raise ConfigError(f"schedule.warmup_steps={config.schedule.warmup_steps} must be below "
                      f"total_steps={config.total_steps}.")
  if not 0.0 <= config.ema_decay < 1.0:
    raise ConfigError(f"ema_decay={config.ema_decay} must be in [0, 1).")
  frozen = config.optimizer.frozen
  if not (isinstance(frozen, str) or (isinstance(frozen, (tuple, list))
                                      and all(isinstance(p, str) for p in frozen))):
    raise ConfigError(f"optimizer.frozen={frozen!r} must be a regex or a tuple of regexes over "
                      f"'/'-joined param paths, e.g. ('img_tower/.*',).")
  for p in optim.frozen_patterns(frozen):
    try:
      re.compile(p)
    except re.error as e:
      raise ConfigError(f"optimizer.frozen has an invalid regex {p!r}: {e}.") from None
  if config.optimizer.lr <= 0:
    raise ConfigError(f"optimizer.lr={config.optimizer.lr} must be > 0.")
  if config.fsdp and config.parallelism != "jit":
    raise ConfigError("fsdp=True needs parallelism='jit' (pmap keeps a full replica per device).")
  check_distributed(config.distributed)
  n = config.distributed.num_processes
  if config.distributed.enabled and n != -1 and n != jax.process_count():
    raise ConfigError(f"distributed.num_processes={n}, but {jax.process_count()} processes "
                      f"joined: start one process per distributed.process_id 0 ... {n - 1}.")
  check_batch(config)


def check_distributed(d):
  """The `distributed` section alone (run before JAX starts, so no device is touched)."""
  for key in ("num_processes", "process_id"):
    if not isinstance(d[key], int) or d[key] < -1:
      raise ConfigError(f"distributed.{key}={d[key]!r} must be an integer >= 0 (or -1: from the "
                        f"cluster environment).")
  if not d.enabled:
    # Otherwise every host would silently train its own copy into the same workdir.
    if d.coordinator_address or d.num_processes != -1 or d.process_id != -1:
      raise ConfigError("distributed.coordinator_address / num_processes / process_id are set "
                        "but distributed.enabled=False; set --config.distributed.enabled=True.")
    return
  if d.num_processes == 0:
    raise ConfigError("distributed.num_processes=0 must be >= 1.")
  if d.coordinator_address and -1 in (d.num_processes, d.process_id):
    raise ConfigError(f"distributed.coordinator_address={d.coordinator_address!r} needs "
                      f"distributed.num_processes and distributed.process_id too (got "
                      f"{d.num_processes} and {d.process_id}).")
  if d.num_processes != -1 and not -1 <= d.process_id < d.num_processes:
    raise ConfigError(f"distributed.process_id={d.process_id} must be in 0 ... "
                      f"{d.num_processes - 1} (distributed.num_processes={d.num_processes}).")


def check_batch(config):
  """The global batch must split evenly over processes, devices and accumulation steps."""
  b, accum = config.batch_size, config.grad_accum_steps
  nproc, ndev = jax.process_count(), jax.device_count()
  if b % nproc:
    raise ConfigError(f"batch_size={b} is not divisible by the number of processes ({nproc}).")
  if b % ndev:
    raise ConfigError(f"batch_size={b} is not divisible by the number of devices ({ndev}); "
                      f"use a multiple of {ndev}.")
  if (b // ndev) % accum:
    raise ConfigError(f"batch_size={b} over {ndev} devices gives {b // ndev} per device, which "
                      f"grad_accum_steps={accum} does not divide.")
