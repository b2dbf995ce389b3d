"""optax optimizers and learning-rate schedules built from `config.optimizer` / `config.schedule`."""

import jax
import optax

OPTIMIZERS = ("adamw", "sgd", "adafactor")
SCHEDULES = ("constant", "cosine", "linear")
DECAY_MASKS = ("matrices", "all", "none")


def make_schedule(cfg, base_lr: float, total_steps: int) -> optax.Schedule:
  """Linear warmup from 0 over `cfg.warmup_steps`, then constant / cosine / linear decay to
  `base_lr * cfg.end_lr_fraction` at `total_steps`."""
  warmup = cfg.warmup_steps
  end = base_lr * cfg.end_lr_fraction
  decay_steps = max(total_steps - warmup, 1)
  if cfg.name == "constant":
    main = optax.constant_schedule(base_lr)
  elif cfg.name == "cosine":
    main = optax.cosine_decay_schedule(base_lr, decay_steps, alpha=cfg.end_lr_fraction)
  elif cfg.name == "linear":
    main = optax.linear_schedule(base_lr, end, decay_steps)
  else:
    raise ValueError(f"unknown schedule {cfg.name!r}; valid: {SCHEDULES}")
  if warmup == 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, base_lr, warmup), main], [warmup])


def decay_mask(kind: str):
  """'matrices': decay kernels and embeddings (ndim >= 2), skip biases, norm scales and
  scalars such as a temperature; 'all'; 'none'."""
  if kind == "matrices":
    return lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)
  if kind == "all":
    return lambda params: jax.tree.map(lambda p: True, params)
  if kind == "none":
    return lambda params: jax.tree.map(lambda p: False, params)
  raise ValueError(f"unknown decay mask {kind!r}; valid: {DECAY_MASKS}")


def make_optimizer(config, total_steps: int):
  """Returns (optimizer, schedule) from `config.optimizer` and `config.schedule`."""
  o = config.optimizer
  schedule = make_schedule(config.schedule, o.lr, total_steps)
  mask = decay_mask(o.decay_mask)
  if o.name == "adamw":
    opt = optax.adamw(schedule, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=o.weight_decay, mask=mask)
  elif o.name == "sgd":
    opt = optax.chain(optax.add_decayed_weights(o.weight_decay, mask),
                      optax.sgd(schedule, momentum=o.momentum or None, nesterov=o.nesterov))
  elif o.name == "adafactor":
    opt = optax.adafactor(schedule, weight_decay_rate=o.weight_decay or None,
                          weight_decay_mask=mask, momentum=o.momentum or None)
  else:
    raise ValueError(f"unknown optimizer {o.name!r}; valid: {OPTIMIZERS}")
  if o.grad_clip_norm:
    opt = optax.chain(optax.clip_by_global_norm(o.grad_clip_norm), opt)
  return opt, schedule
