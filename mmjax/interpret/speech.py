"""Where a speech recogniser listens for each word it writes: gradient-weighted rollout (Chefer
et al. 2021; attention.gradient_rollout) of the AST encoder for the log-probability of each
word at the CTC frame that emits it, drawn and scored (`python -m mmjax.interpret --method
rollout` on a speech_recognition.py run with an ast encoder).

The greedy path emits a word at the first frame of each run of its label. CTC frames are the
encoder's own time patches, so the rollout's identity (each token's relevance to itself) would
put every map's peak on the emitting frame; the map is the relevance attention moved, the
rollout minus that identity. A word the spoken caption says exactly once plays the pointing
game over time (pointing_game.pointing_game_tokens): a hit when the map's peak time patch has
its centre sample inside that word. The emitting frame is itself a map that needs no
attention: `emitting_frame_baseline` is its hit rate (how well CTC placed the word; its
emissions often lag the word), beside a random patch and the best fixed patch.
"""

import os
import types
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data.tokenizer import WordTokenizer
from mmjax.interpret import attention, overlay, pointing_game
from mmjax.interpret.explain import (audio_time_map, check_counts, in_batches, synthetic_world,
                                     write_scores)
from mmjax.models.audio.ast import AudioSpectrogramTransformer as AST
from mmjax.registry import ConfigError
from mmjax.tasks import speech
from mmjax.tasks.classification import variables_of


def emitted_words(path: np.ndarray, blank: int) -> list:
  """[(frame, label)] of a CTC best path int [frames]: each run of one non-blank label emits
  that label once, at the run's first frame."""
  out, previous = [], blank
  for t, label in enumerate(path.tolist()):
    if label != blank and label != previous:
      out.append((t, label))
    previous = label
  return out


def explain_speech(workdir: str, out: Optional[str] = None, num_examples: int = 200,
                   num_drawn: int = 12, batch_size: int = 50) -> dict:
  """Maps of every scored word a speech run writes for the first `num_examples` test clips;
  writes <out>/audio.png (the first `num_drawn` words' maps over time) and scores.json; returns
  the scores. out: <workdir>/interpret/rollout by default."""
  config = experiment.load_run_config(workdir)
  if config.model.encoder.name != "ast":
    raise ConfigError("--method=rollout on a speech run needs its ast encoder (attention over "
                      f"time); the run's model.encoder.name is {config.model.encoder.name!r}.")
  check_counts(num_examples, num_drawn, batch_size, 0.0)
  world = synthetic_world(config)
  tokenizer = WordTokenizer.load(os.path.join(workdir, "vocab.json"))
  d = config.data
  model = speech.build_recognizer(config.model, tokenizer, d.sample_rate,
                                  jnp.dtype(config.compute_dtype))
  audio = speech.transcript_batch(world, "test", range(num_examples), tokenizer,
                                  d.text_len)["audio"]
  init_fn = lambda rng: (model.init(rng, jnp.zeros((1, audio.shape[1])))["params"], {})
  state, step = train.restore_latest(config, workdir, init_fn)
  variables = variables_of(state)
  logits = in_batches(jax.jit(lambda v, x: {"logits": model.apply(v, x["audio"])}), variables,
                      {"audio": audio}, min(batch_size, num_examples))["logits"]

  rows = []  # (clip, frame, label, word, start sample, end sample)
  for i in range(num_examples):
    ex = world.example("test", i, ("audio",))
    words = list(ex["transcript"])
    for t, label in emitted_words(logits[i].argmax(-1), model.blank_id):
      word = tokenizer.itos[label]
      if words.count(word) == 1:
        j = words.index(word)
        rows.append((i, t, label, word, ex["word_starts"][j], ex["word_ends"][j]))
  if not rows:
    raise ValueError(f"the greedy transcripts of the {num_examples} test clips emit no word "
                     "their captions say exactly once: nothing to score (is the run trained?).")

  options = dict(config.model.encoder.ast)
  offset = int(options.get("pool", AST.pool) == "cls")  # the class token comes first
  recogniser = types.SimpleNamespace(apply=lambda v, x, **kw: model.apply(v, x[0], **kw))

  def f(v, x):
    waves, frames, labels = x["audio"], x["frame"], x["label"]
    rows_ = jnp.arange(len(frames))
    score = lambda out: jax.nn.log_softmax(out)[rows_, frames, labels]
    rolled = attention.gradient_rollout(recogniser, v, (waves,), score, "audio")
    # Without the identity rollout starts from: the relevance that attention moved.
    moved = rolled - jnp.eye(rolled.shape[-1])
    return {"map": moved[rows_, frames + offset, offset:]}

  index = np.array([r[0] for r in rows])
  inputs = {"audio": audio[index], "frame": np.array([r[1] for r in rows], np.int32),
            "label": np.array([r[2] for r in rows], np.int32)}
  maps = in_batches(jax.jit(f), variables, inputs, min(batch_size, len(rows)))["map"]
  options["sample_rate"] = float(d.sample_rate)
  maps, centres = audio_time_map(options, maps, audio.shape[1])
  on = np.stack([(centres >= r[4]) & (centres < r[5]) for r in rows])  # [words, time patches]
  game = pointing_game.pointing_game_tokens(maps, on)
  scores = {"method": "rollout", "workdir": os.path.abspath(workdir), "step": step,
            "num_examples": num_examples, "num_words_emitted": int(sum(
                len(emitted_words(lg.argmax(-1), model.blank_id)) for lg in logits)),
            "pointing_game": pointing_game.summary(game)}
  scores["pointing_game"]["emitting_frame_baseline"] = float(
      on[np.arange(len(rows)), inputs["frame"]].mean())

  out = write_scores(workdir, out, "rollout", scores)
  k = min(num_drawn, len(rows))
  if k:
    overlay.save_curves(os.path.join(out, "audio.png"), maps[:k], centres / float(d.sample_rate),
                        on[:k], [f"'{r[3]}' (clip {r[0]}, frame {r[1]}), "
                                 + ("hit" if h else "miss") for r, h in zip(rows, game["hits"])])
  scores["out"] = out
  return scores
