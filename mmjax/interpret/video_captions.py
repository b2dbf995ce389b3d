"""When a video caption decoder looks: the Transformer decoder's cross-attention over the video
encoder's frame tokens for each word it generates, drawn and scored (`python -m mmjax.interpret
--method cross_attention` on a video_captioning.py run whose video encoder gives one token per
frame: `frames`).

The run captions the test clips greedily and each word's map is its cross-attention over the
frames (captions.word_maps: averaged over layers and heads). Two kinds of word have frames to
point at (pointing_game.pointing_game_tokens: a hit when the peak frame is one of them):
  event         "appears" / "disappears": the two frames beside the boundary where the other
                object appears or disappears;
  other_object  a colour or shape of the other object that the mover does not share: the
                frames that show the other object (the mover is in every frame, so words
                naming it have nothing to point at in time).
The random baseline is the share of frames on the target, the best fixed baseline the frame
position on it most often, in hindsight; `untrained_model` is the hit rate of the same words'
maps from the model as initialised (frame tokens that differ most draw attention untrained).
"""

import os
from typing import Optional

import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic.clips import EVENTS
from mmjax.data.tokenizer import WordTokenizer
from mmjax.interpret import overlay, pointing_game
from mmjax.interpret.captions import WORD_KINDS, word_maps
from mmjax.interpret.explain import check_counts, untrained, write_scores
from mmjax.registry import ConfigError
from mmjax.tasks import captioning, video_text
from mmjax.tasks.classification import variables_of


def word_targets(clip, words) -> list:
  """[(position, kind, word, on bool [frames])] for each word of `words` with frames to point
  at: an event word (the boundary frames) or a word naming only the other object (the frames
  that show it)."""
  shows_other = np.array([len(clip.scene(f).objects) > 1 for f in range(clip.frames)])
  boundary = np.zeros(clip.frames, bool)
  boundary[[clip.event_frame - 1, clip.event_frame]] = True
  out = []
  for t, word in enumerate(words):
    if word in EVENTS:
      out.append((t, "event", word, boundary))
    for attribute, names in WORD_KINDS.items():
      if word in names and getattr(clip.other, attribute) == word and \
          getattr(clip.mover, attribute) != word:
        out.append((t, "other_object", word, shows_other))
  return out


def explain_video_captions(workdir: str, out: Optional[str] = None, num_examples: int = 200,
                           num_drawn: int = 12, batch_size: int = 50) -> dict:
  """Cross-attention over frames of a video captioning run's greedy captions of its first
  `num_examples` test clips; writes <out>/frames.png (the first `num_drawn` scored words) and
  scores.json; returns the scores. out: <workdir>/interpret/cross_attention by default."""
  config = experiment.load_run_config(workdir)
  m = config.model
  if m.decoder.name != "transformer" or m.features != "tokens" or m.video.name != "frames":
    raise ConfigError("--method=cross_attention on a video captioning run needs a decoder that "
                      "attends to one token per frame (model.decoder.name=transformer, "
                      "model.features=tokens, model.video.name=frames).")
  check_counts(num_examples, num_drawn, batch_size, 0.0)
  world = sources.build(config.data, reads=("clips",))
  tokenizer = WordTokenizer.load(os.path.join(workdir, "vocab.json"))
  text_len = config.data.text_len
  model = captioning.build_captioner(m, tokenizer.vocab_size, text_len,
                                     jnp.dtype(config.compute_dtype), visual="video")
  test = video_text.evaluation_clips(world, "test", num_examples)

  def init_fn(rng):  # as the experiment initialises it
    variables = dict(model.init(rng, test["video"][:1], jnp.zeros((1, text_len), jnp.int32)))
    return variables.pop("params"), variables
  state, step = train.restore_latest(config, workdir, init_fn)
  variables = variables_of(state)
  tokens = captioning.caption_images(captioning.captioner_fn(model, tokenizer, text_len),
                                     variables, test["video"], batch_size)

  def maps_of(v):  # [clips, length, frames]: each generated word's attention over the frames
    return np.concatenate([np.asarray(word_maps(
        model, v, sources.normalize(test["video"][i:i + batch_size]),
        jnp.asarray(tokens[i:i + batch_size]), tokenizer.bos_id))
        for i in range(0, num_examples, batch_size)])
  maps, maps_at_init = maps_of(variables), maps_of(untrained(init_fn, config.seed))

  rows = []  # (clip, position, kind, word, caption, on)
  for i in range(num_examples):
    words = [tokenizer.itos[int(t)] for t in tokens[i]]
    for t, kind, word, on in word_targets(world.clip("test", i), words):
      rows.append((i, t, kind, word, tokenizer.decode(tokens[i]), on))
  if not rows:
    raise ValueError(f"none of the {num_examples} greedy captions has an event word or a word "
                     "naming only the other object: nothing to score (is the run trained?).")
  word_map = np.stack([maps[r[0], r[1]] for r in rows])
  at_init = np.stack([maps_at_init[r[0], r[1]] for r in rows])
  on = np.stack([r[5] for r in rows])
  kinds = np.array([r[2] for r in rows])
  right = np.array([r[3] == EVENTS[test["event"][r[0]]] for r in rows])  # the clip's event?
  scores = {"method": "cross_attention", "workdir": os.path.abspath(workdir), "step": step,
            "num_examples": num_examples, "frames": int(maps.shape[-1])}
  game = pointing_game.pointing_game_tokens(word_map, on)
  for kind in ("event", "other_object"):
    for name, sel in ((kind, kinds == kind), (f"{kind}_right", (kinds == kind) & right)):
      if kind == "other_object" and name.endswith("_right"):
        continue  # a word naming the other object is right by construction
      if sel.any():
        scores[f"pointing_game_{name}_words"] = {
            **pointing_game.summary(pointing_game.pointing_game_tokens(word_map[sel], on[sel])),
            "untrained_model": pointing_game.pointing_game_tokens(at_init[sel],
                                                                  on[sel])["hit_rate"]}

  out = write_scores(workdir, out, "cross_attention", scores)
  k = min(num_drawn, len(rows))
  if k:
    overlay.save_curves(os.path.join(out, "frames.png"), word_map[:k],
                        np.arange(word_map.shape[1]), on[:k],
                        [f"'{r[3]}' in: {r[4]}" + (", hit" if h else ", miss")
                         for r, h in zip(rows[:k], game["hits"][:k])], x_label="frame")
  scores["out"] = out
  return scores
