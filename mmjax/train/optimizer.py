"""optax optimizers and learning-rate schedules built from `config.optimizer` and
`config.schedule`."""

import re

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


def frozen_patterns(frozen) -> tuple:
  """`optimizer.frozen` (one regex, a comma-separated string of them, or a sequence) -> tuple."""
  if isinstance(frozen, str):
    frozen = frozen.split(",")
  return tuple(p.strip() for p in (frozen or ()) if p and p.strip())


def param_paths(params) -> list:
  """The '/'-joined paths of a param tree's leaves, e.g. 'img_tower/encoder/block0/ln1/scale'."""
  return ["/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
          for path, _ in jax.tree_util.tree_leaves_with_path(params)]


def frozen_mask(params, patterns):
  """A bool tree like `params`: True where the leaf's path fully matches one of `patterns`.
  A pattern that matches no parameter is a ValueError listing some of the paths."""
  patterns = frozen_patterns(patterns)
  try:
    regexes = [re.compile(p) for p in patterns]
  except re.error as e:
    raise ValueError(f"optimizer.frozen has an invalid regex: {e}.") from None
  paths = param_paths(params)
  for p, r in zip(patterns, regexes):
    if not any(r.fullmatch(path) for path in paths):
      raise ValueError(
          f"optimizer.frozen pattern {p!r} matches no parameter (patterns must match the whole "
          f"'/'-joined path). Some parameter paths: {', '.join(paths[:8])}"
          f"{' ...' if len(paths) > 8 else ''}.")
  flags = [any(r.fullmatch(path) for r in regexes) for path in paths]
  return jax.tree.unflatten(jax.tree.structure(params), flags)


def stop_frozen_gradients(params, patterns):
  """params with stop_gradient on the frozen leaves: their (zero) gradients and the backward
  pass through a frozen tower are then never computed. Use inside the loss function."""
  if not frozen_patterns(patterns):
    return params
  return jax.tree.map(lambda p, f: jax.lax.stop_gradient(p) if f else p, params,
                      frozen_mask(params, patterns))


def freeze(opt: optax.GradientTransformation, patterns) -> optax.GradientTransformation:
  """`opt` for the trainable params; exactly zero updates (no weight decay, no optimizer state)
  for the leaves whose path matches `patterns`, like big_vision's schedule `None`. Gradient
  clipping inside `opt` sees only the trainable gradients, as in big_vision."""
  if not frozen_patterns(patterns):
    return opt
  label = lambda params: jax.tree.map(lambda f: "frozen" if f else "trainable",
                                      frozen_mask(params, patterns))
  return optax.multi_transform({"trainable": opt, "frozen": optax.set_to_zero()}, label)


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
  return freeze(opt, o.get("frozen", ())), schedule
