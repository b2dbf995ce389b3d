"""Runs made of several training stages (pretrain then fine-tune; translation's classifiers,
generator and captioner), each trained by `fit` in its own sub-workdir: one rule for each stage's
config.

A multi-stage config holds the run-wide keys at its top level (the trainer keys in SHARED, and
`data`, `eval`, `eval_only` and the experiment's own sections) and one section per stage under
`stages`, each a complete set of the other trainer keys plus the stage's `model`:

  c = stages.base()                                  # SHARED trainer keys + eval_only
  c.stages = ml_collections.ConfigDict(dict(
      pretrain=stages.stage(dict(image=...), batch_size=128, optimizer=dict(lr=1e-3)),
      finetune=stages.stage(dict(head=...), total_steps=300, schedule=dict(warmup_steps=30))))

The rule: stage `name`'s config is the run's SHARED keys, `data`, `eval` and `eval_only`, plus
`stages.<name>` (its model and trainer keys). A stage's key is set on the command line where it
lives (--config.stages.finetune.optimizer.lr=3e-4), a run-wide one once for every stage
(--config.compute_dtype=bfloat16). `configs(config)` builds and validates every stage's config
once, before anything trains, and the experiment uses what it returns.
"""

import ml_collections

from mmjax.registry import ConfigError
from mmjax.train.config import defaults, validate

# Trainer keys that are one per run: every stage of a run trains with the same ones.
SHARED = ("seed", "parallelism", "fsdp", "compute_dtype", "progress_bar", "prefetch_to_device",
          "data_workers", "keep_freed_host_memory", "distributed")
RUN_SECTIONS = ("data", "eval", "eval_only")  # copied into each stage's config


def base() -> ml_collections.ConfigDict:
  """A multi-stage config's top level: the SHARED trainer keys (defaults) and eval_only."""
  d, c = defaults(), ml_collections.ConfigDict()
  for key in SHARED:
    c[key] = d[key]
  c.eval_only = False
  return c


def stage(model: dict, **trainer) -> ml_collections.ConfigDict:
  """A stage section: the trainer keys of `defaults()` outside SHARED, updated with `trainer`
  (nested sections merge: optimizer=dict(lr=1e-3) keeps the optimizer's other defaults), and the
  stage's `model`."""
  s = defaults()
  for key in SHARED:
    del s[key]
  s.update(trainer)
  s.model = ml_collections.ConfigDict(model)
  return s


def configs(config, names=None) -> dict:
  """{stage name: its trainer config} for `names` (default: every stage), each built and
  validated once; an invalid value fails naming stages.<name>.<key>."""
  out = {}
  for name in names or config.stages.keys():
    if name not in config.stages:
      raise ConfigError(f"stages has no {name!r}; the config's stages: "
                        f"{', '.join(config.stages.keys())}.")
    c = ml_collections.ConfigDict()
    for key in SHARED + RUN_SECTIONS:
      if key in config:
        c[key] = config[key]
    for key, value in config.stages[name].items():
      if key in SHARED:
        raise ConfigError(f"stages.{name}.{key}: {key} is one per run (it applies to every "
                          f"stage); set it at the top level.")
      c[key] = value
    try:
      validate(c)
    except ConfigError as e:
      raise ConfigError(f"stages.{name}: {e}") from None
    out[name] = ml_collections.ConfigDict(c.to_dict())
    out[name].lock()
  return out
