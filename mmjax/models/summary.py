r"""Parameter counts of the model zoo's components and of an experiment config's model.

  python -m mmjax.models.summary                                    # every registered component
  python -m mmjax.models.summary --config configs/contrastive.py:clip_tiny

Components are built with their default options (plus the presets in `VARIANTS`) on small example
inputs; shapes come from `jax.eval_shape`, so nothing is allocated or computed.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import models

B, DIM = 2, 64  # example batch and feature width fed to fusions, heads and decoders.


def _images(size=64):
  return (jnp.zeros((B, size, size, 3)),)


def _tokens(length=16):
  return (jnp.ones((B, length), jnp.int32),)


def _feature_lists():
  pooled = [jnp.zeros((B, DIM)), jnp.zeros((B, DIM))]
  tokens = [jnp.zeros((B, 5, DIM)), jnp.zeros((B, 7, DIM))]
  return (pooled, tokens)


# registry -> example positional inputs for a component of that kind.
EXAMPLE_INPUTS: dict = {
    "image encoder": lambda name: _images(),
    "text encoder": lambda name: _tokens(),
    "audio encoder": lambda name: (jnp.zeros((B, 8000)),),
    "video encoder": lambda name: (jnp.zeros((B, 8, 64, 64, 3)),),
    "fusion": lambda name: _feature_lists(),
    "head": lambda name: ((jnp.zeros((B, 10, DIM)),) if name == "ctc" else (jnp.zeros((B, DIM)),)),
    "caption decoder": lambda name: (_tokens(8)[0], jnp.zeros((B, 5, DIM))),
    "text-to-image generator": lambda name: (jnp.zeros((B, 32, 32, 3)), jnp.zeros((B,), jnp.int32),
                                             jnp.zeros((B, DIM))),
}
# Options a component needs beyond its defaults.
REQUIRED = {("head", "classification"): dict(num_classes=10), ("head", "ctc"): dict(vocab_size=32)}
# Named presets worth a row of their own: (registry, name, options).
VARIANTS = {
    "resnet18": ("image encoder", "resnet", dict(depth=18)),
    "resnet34": ("image encoder", "resnet", dict(depth=34)),
    "resnet50": ("image encoder", "resnet", dict(depth=50)),
    "vivit_joint": ("video encoder", "vivit", dict(variant="joint")),
    "frames_transformer": ("video encoder", "frames", dict(temporal="transformer")),
    "bert_minilm_l6": ("text encoder", "transformer", dict(
        vocab_size=30522, max_len=512, width=384, depth=6, num_heads=12, mlp_dim=1536,
        causal=False, pool="mean", norm_position="post", ln_eps=1e-12, type_vocab_size=2,
        embed_norm=True)),
}
REGISTRIES = (models.IMAGE_ENCODERS, models.TEXT_ENCODERS, models.AUDIO_ENCODERS,
              models.VIDEO_ENCODERS, models.FUSIONS, models.HEADS, models.CAPTION_DECODERS,
              models.GENERATORS)


def count_params(module, *inputs, **kwargs) -> dict:
  """{top-level parameter group: count} of `module` initialised on `inputs` (shapes only)."""
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), *inputs, **kwargs))
  params = variables.get("params", {})
  return {k: int(sum(np.prod(x.shape) for x in jax.tree.leaves(v))) for k, v in params.items()}


def component_rows() -> list:
  """[(kind, name or variant, options, parameter count)] for every registered component and
  variant."""
  todo = [(r.kind, n, n, REQUIRED.get((r.kind, n), {})) for r in REGISTRIES for n in r.names()]
  todo += [(kind, label, name, opts) for label, (kind, name, opts) in VARIANTS.items()]
  by_kind = {r.kind: r for r in REGISTRIES}
  rows = []
  for kind, label, name, opts in todo:
    module = by_kind[kind].build(name, **opts)
    inputs = EXAMPLE_INPUTS[kind](name)
    if kind == "text encoder" and "max_len" in opts:
      inputs = _tokens(min(16, opts["max_len"]))
    rows.append((kind, label, opts, sum(count_params(module, *inputs).values())))
  return rows


def config_counts(config_arg: str) -> dict:
  """Per-tower parameter counts of the TwoTower a contrastive config ('FILE.py[:preset]')
  describes: its model section as mmjax.tasks.image_text.two_tower builds it, with the text
  tower's default vocabulary (8192 words) unless the config sets one."""
  from mmjax import experiment  # here: the component summary needs neither.
  from mmjax.tasks import image_text
  c = experiment.get_config(config_arg)
  if not {"image", "text"} <= set(c.get("model", {}).keys()):
    raise ValueError(f"{config_arg}: the summary knows two-tower configs (model.image and "
                     f"model.text); this one has model keys {sorted(c.get('model', {}).keys())}.")
  model = image_text.two_tower(c.model, vocab_size=8192, text_len=c.data.text_len)
  s = c.data.image_size
  return count_params(model, jnp.zeros((1, s, s, 3)), jnp.ones((1, c.data.text_len), jnp.int32))


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--config", help="an experiment config, path.py[:preset]")
  args = p.parse_args(argv)
  if args.config:
    counts = config_counts(args.config)
    for k, v in counts.items():
      print(f"{k:24s} {v:>14,d}")
    print(f"{'total':24s} {sum(counts.values()):>14,d}")
    return
  print(f"{'kind':24s} {'name':18s} {'params':>12s}  options")
  for kind, name, opts, n in component_rows():
    print(f"{kind:24s} {name:18s} {n:>12,d}  {opts or ''}")


if __name__ == "__main__":
  main()
