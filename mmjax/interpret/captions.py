"""Where a caption decoder looks: the Transformer caption decoder's cross-attention over the
image encoder's tokens for each word it generates, drawn and scored (`python -m mmjax.interpret
--method cross_attention` on a captioning run).

The run captions the images greedily; the captions are fed back (teacher forcing, which gives
the same positions) with "intermediates" mutable, and the decoder position that produced each
word gives its map: the cross-attention averaged over layers and heads, on the encoder's
token grid (a ViT's patches). A generated word that names a shape or a colour of exactly one
object of the scene plays the pointing game (pointing_game.py) on that object's pixels; words
naming no object of the scene, or several, are not scored (the counts say how many were).
"""

import math
import os
from typing import Optional

import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic.scenes import COLOURS, SHAPES
from mmjax.data.tokenizer import WordTokenizer
from mmjax.interpret import attention, overlay, pointing_game
from mmjax.interpret.explain import check_counts, synthetic_world, write_scores
from mmjax.registry import ConfigError
from mmjax.tasks import captioning
from mmjax.tasks.classification import variables_of

WORD_KINDS = {"shape": SHAPES, "colour": tuple(COLOURS)}


def vocab_path(workdir: str) -> str:
  """The run's vocab.json: in its workdir, or for a stage of a multi-stage experiment (the
  captioner of translation.py), in the experiment's workdir above it."""
  here = os.path.join(workdir, "vocab.json")
  above = os.path.join(os.path.dirname(os.path.normpath(workdir)), "vocab.json")
  return above if not os.path.exists(here) and os.path.exists(above) else here


def word_maps(model, variables, images, tokens, bos_id: int) -> jnp.ndarray:
  """The decoder's cross-attention for each token of `tokens` int [n, length] (what it
  generated), from the position that produced it, averaged over layers and heads: float32
  [n, length, encoder tokens]. images: normalised [n, s, s, 3]."""
  tokens_in = jnp.concatenate([jnp.full((tokens.shape[0], 1), bos_id, tokens.dtype),
                               tokens[:, :-1]], axis=1)
  _, state = model.apply(variables, images, tokens_in, mutable=["intermediates"])
  layers = attention.collect(state["intermediates"], "text_decoder")
  return jnp.mean(jnp.stack([w.mean(axis=1) for w in layers.values()]), axis=0)


def grid_of(num_tokens: int) -> tuple:
  """The (rows, columns) of a square token grid (a ViT's patches)."""
  side = math.isqrt(num_tokens)
  if side * side != num_tokens:
    raise ConfigError(f"the image encoder gives {num_tokens} tokens, not a square grid of "
                      "patches: cross-attention maps need a ViT (model.image.name=vit).")
  return side, side


def named_objects(scene, words) -> list:
  """[(position, kind, word, object)] for each word naming a shape or a colour of exactly one
  object of `scene`."""
  out = []
  for t, word in enumerate(words):
    for kind, names in WORD_KINDS.items():
      if word in names:
        matching = [o for o in scene.objects if getattr(o, kind) == word]
        if len(matching) == 1:
          out.append((t, kind, word, matching[0]))
  return out


def score_words(maps: np.ndarray, masks: np.ndarray, kinds, tolerance: float,
                untrained: Optional[np.ndarray] = None) -> tuple:
  """The pointing game of word maps [n, h', w'] on the named objects' masks [n, s, s], over
  every word and per kind (kinds [n], WORD_KINDS' keys): ({"pointing_game": ...,
  "pointing_game_<kind>_words": ...}, the game over every word, with its hits and peaks).
  untrained: the same words' maps from the model as initialised; each summary then also holds
  their hit rate ("untrained_model")."""
  def summary(sel):
    game = pointing_game.pointing_game(maps[sel], masks[sel], tolerance)
    out = pointing_game.summary(game)
    if untrained is not None:
      out["untrained_model"] = pointing_game.pointing_game(untrained[sel], masks[sel],
                                                           tolerance)["hit_rate"]
    return out, game

  whole, game = summary(np.arange(len(maps)))
  scores, kinds = {"pointing_game": whole}, np.asarray(kinds)
  for kind in WORD_KINDS:
    mine = np.flatnonzero(kinds == kind)
    if len(mine):
      scores[f"pointing_game_{kind}_words"] = summary(mine)[0]
  return scores, game


def explain_captions(workdir: str, out: Optional[str] = None, split: str = "test",
                     num_examples: int = 200, num_drawn: int = 12, tolerance: float = 0.0,
                     batch_size: int = 50) -> dict:
  """Cross-attention maps of a captioning run's greedy captions of `split`'s first images;
  writes <out>/maps.png (the first `num_drawn` scored words) and scores.json (the pointing game
  over every scored word, and per kind); returns the scores. out: <workdir>/interpret/
  cross_attention by default."""
  config = experiment.load_run_config(workdir)
  if "decoder" not in config.model or config.model.decoder.name != "transformer" or \
      config.model.features != "tokens":
    raise ConfigError("--method=cross_attention needs a captioning run whose decoder attends to "
                      "the image's tokens (model.decoder.name=transformer, model.features="
                      "tokens).")
  check_counts(num_examples, num_drawn, batch_size, tolerance)
  world = synthetic_world(config)
  tokenizer = WordTokenizer.load(vocab_path(workdir))
  text_len, size = config.data.text_len, config.data.image_size
  model = captioning.build_captioner(config.model, tokenizer.vocab_size, text_len,
                                     jnp.dtype(config.compute_dtype))

  state, step = train.restore_latest(config, workdir,
                                     captioning.init_fn(model, size, text_len))
  variables = variables_of(state)
  images, _ = captioning.test_set(world, split, num_examples)
  tokens = captioning.caption_images(captioning.captioner_fn(model, tokenizer, text_len),
                                     variables, images, batch_size)
  maps = np.concatenate([np.asarray(word_maps(
      model, variables, sources.normalize(images[i:i + batch_size]),
      jnp.asarray(tokens[i:i + batch_size]), tokenizer.bos_id))
      for i in range(0, len(images), batch_size)])
  grid = grid_of(maps.shape[-1])

  rows = []  # (example, position, kind, word, caption, map, mask)
  for i in range(len(images)):
    words = [tokenizer.itos[int(t)] for t in tokens[i]]
    caption = tokenizer.decode(tokens[i])
    for t, kind, word, obj in named_objects(world.scene(split, i), words):
      rows.append((i, t, kind, word, caption, maps[i, t].reshape(grid),
                   pointing_game.object_mask(obj, size)))
  if not rows:
    raise ValueError(f"none of the {len(images)} greedy captions names a shape or colour of "
                     "exactly one object of its scene: nothing to score (is the run trained?).")
  words, game = score_words(np.stack([r[5] for r in rows]), np.stack([r[6] for r in rows]),
                            [r[2] for r in rows], tolerance)
  scores = {"method": "cross_attention", "workdir": os.path.abspath(workdir), "step": step,
            "split": split, "num_examples": len(images), "grid": list(grid), **words}

  out = write_scores(workdir, out, "cross_attention", scores)
  k = min(num_drawn, len(rows))
  if k:
    overlay.save_scored(
        os.path.join(out, "maps.png"), np.stack([images[r[0]] for r in rows[:k]]),
        np.stack([r[5] for r in rows[:k]]), [f"'{r[3]}' in: {r[4]}" for r in rows[:k]],
        game["hits"][:k], game["peaks"][:k])
  scores["out"] = out
  return scores
