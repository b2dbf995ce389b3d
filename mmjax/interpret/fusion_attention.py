"""Which image regions a text token attends to in a cross-attention fusion: the maps of a
fusion_classification run with model.fusion.name=cross_attention over image + text, drawn and
scored (`python -m mmjax.interpret --method cross_attention` on such a run).

The fusion's text-as-query blocks (bidirectional=True, or query_index on the text) attend over
the image encoder's token grid; a text token's map is that attention averaged over heads and
blocks. A caption word naming the colour or the shape of exactly one object the image shows
plays the pointing game (pointing_game.py) on that object's pixels, as the caption decoder's
words do (captions.py); other words are not scored. `untrained_model` is the hit rate of the
same model as initialised: attention over a CNN's tokens tends to the bright, busy ones, so it
finds objects before any training, and that, not only a random map, is the bar.
"""

import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.interpret import attention, overlay, pointing_game
from mmjax.interpret.captions import grid_of, named_objects, score_words
from mmjax.interpret.explain import (check_counts, in_batches, synthetic_world, untrained,
                                     write_scores)
from mmjax.registry import ConfigError
from mmjax.tasks import classification


def text_query_maps(model, variables, inputs: dict, text: int) -> jnp.ndarray:
  """float32 [batch, text tokens, image tokens]: the cross-attention of the fusion's blocks
  whose queries are modality `text`'s tokens (ids "query{text}_block{d}"), averaged over heads
  and blocks. The model fuses exactly two modalities, so the context is the other one's
  tokens."""
  layers = attention.attention_weights(model, variables, inputs, "fuse")
  mine = [w for path, w in layers.items() if f"/query{text}_block" in f"/{path}"]
  if not mine:
    raise ConfigError(f"the fusion has no block whose queries are the text (layers: "
                      f"{', '.join(layers)}): train with "
                      "model.fusion.cross_attention.bidirectional=True or query_index on the "
                      "text.")
  return jnp.mean(jnp.stack([w.mean(axis=1) for w in mine]), axis=0)


def explain_fusion_attention(workdir: str, out: Optional[str] = None, split: str = "test",
                             num_examples: int = 200, num_drawn: int = 12,
                             tolerance: float = 0.0, batch_size: int = 50) -> dict:
  """Text-to-image cross-attention maps of a fusion run's first `num_examples` examples of
  `split`; writes <out>/maps.png (the first `num_drawn` scored words) and scores.json (the
  pointing game over every scored word, and per kind); returns the scores. out:
  <workdir>/interpret/cross_attention by default."""
  config = experiment.load_run_config(workdir)
  mods = classification.modalities_of(config)
  if sorted(mods) != ["image", "text"] or config.model.fusion.name != "cross_attention":
    raise ConfigError("--method=cross_attention on a fusion run needs model.modalities=image,"
                      f"text fused by cross_attention; the run has {tuple(mods)} fused by "
                      f"{config.model.fusion.name!r}.")
  check_counts(num_examples, num_drawn, batch_size, tolerance)
  world = synthetic_world(config)
  mods, source, task, info, tokenizer, model = classification.setup(
      config, os.path.join(workdir, "vocab.json"))
  n = min(num_examples, sources.size(source, split) or num_examples)
  data = classification.batch_maker(source, split, mods, tokenizer, config.data.text_len)(
      np.arange(n))
  inputs = {m: data[m] for m in mods}
  init_fn = classification.init_fn(model, inputs)
  state, step = train.restore_latest(config, workdir, init_fn)
  variables = classification.variables_of(state)
  # The same model untrained, as the trainer initialises it: attention that already favours
  # bright, busy tokens finds objects before any training, and the trained maps must beat it.
  at_init = untrained(init_fn, config.seed)
  text = list(mods).index("text")
  f = jax.jit(lambda v, x: {"map": text_query_maps(model, v, x, text)})
  maps = in_batches(f, variables, inputs, min(batch_size, n))["map"]
  maps_at_init = in_batches(f, at_init, inputs, min(batch_size, n))["map"]
  grid, size = grid_of(maps.shape[-1]), config.data.image_size

  rows = []  # (example, position, kind, word, caption, map, mask, map at init)
  for i in range(n):
    ids = [int(t) for t in data["text"][i]]
    words = [tokenizer.itos[t] for t in ids]
    caption = tokenizer.decode(ids)
    for t, kind, word, obj in named_objects(world.views(split, i).image, words):
      rows.append((i, t, kind, word, caption, maps[i, t].reshape(grid),
                   pointing_game.object_mask(obj, size), maps_at_init[i, t].reshape(grid)))
  if not rows:
    raise ValueError(f"none of the {n} captions names a shape or colour of exactly one object "
                     "its image shows: nothing to score.")
  words, game = score_words(np.stack([r[5] for r in rows]), np.stack([r[6] for r in rows]),
                            [r[2] for r in rows], tolerance,
                            untrained=np.stack([r[7] for r in rows]))
  scores = {"method": "cross_attention", "workdir": os.path.abspath(workdir), "step": step,
            "task": task, "split": split, "num_examples": n, "grid": list(grid), **words}

  out = write_scores(workdir, out, "cross_attention", scores)
  k = min(num_drawn, len(rows))
  if k:
    overlay.save_scored(
        os.path.join(out, "maps.png"),
        sources.denormalize(np.stack([inputs["image"][r[0]] for r in rows[:k]])),
        np.stack([r[5] for r in rows[:k]]), [f"'{r[3]}' in: {r[4]}" for r in rows[:k]],
        game["hits"][:k], game["peaks"][:k])
  scores["out"] = out
  return scores
