"""Which words translation.py's text judge reads: integrated gradients of each attribute head
over the caption's token embeddings (integrated_gradients.token_attributions), drawn and scored
(`python -m mmjax.interpret --method integrated_gradients` on the `text_classifier` stage of a
translation.py run, on the synthetic world).

The judge names the first object's (in reading order) shape, colour and size from a caption,
so each head should rest on one word: the one naming that attribute of that object. Each head's
word map plays the pointing game over the caption's words (its <eos> and padding excluded): a
hit when the word with the largest attribution for the predicted class is that word. A caption
of two objects may name the first one second ("a small red circle right of a large blue
square"); `other_object` is how often the peak is on the other object's word for the same
attribute instead, which a judge that reads the first-named phrase, not the layout, would
choose; `hit_rate_named_second` is the hit rate on the captions that name it second.
Baselines: a random word, the word position that holds the answer most often (in hindsight),
and the same classifier untrained. Test captions are the real ones (the judge's own test set),
one paraphrase per scene.
"""

import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import train
from mmjax.data.synthetic.scenes import ATTRIBUTES, Object
from mmjax.interpret import overlay, pointing_game
from mmjax.interpret.attributes import judge_stage
from mmjax.interpret.explain import check_counts, in_batches, untrained, write_scores
from mmjax.interpret.integrated_gradients import token_attributions
from mmjax.tasks import captioning
from mmjax.tasks import translation as stage_models
from mmjax.tasks.classification import variables_of


def word_positions(words, obj: Object) -> dict:
  """{attribute: the index in `words` of the word naming obj's attribute, or None} where obj's
  phrase ("small red circle") occurs exactly once among the words; all None otherwise (the
  caption does not tell which mention is obj)."""
  phrase, n = obj.phrase.split(), len(obj.phrase.split())
  starts = [i for i in range(len(words) - n + 1) if list(words[i:i + n]) == phrase]
  if len(starts) != 1:
    return dict.fromkeys(ATTRIBUTES)
  return {a: starts[0] + phrase.index(getattr(obj, a)) for a in ATTRIBUTES}


def targets(world, split: str, captions, tokenizer, length: int) -> dict:
  """For each caption of `split`'s first scenes: {"words": bool [n, length] (its words' token
  positions), and per attribute "<a>": bool [n, length] (the first object's word for it) and
  "<a>/other": (the other objects' words for it)}."""
  out = {"words": np.zeros((len(captions), length), bool)}
  for a in ATTRIBUTES:
    out[a] = np.zeros((len(captions), length), bool)
    out[f"{a}/other"] = np.zeros((len(captions), length), bool)
  for i, caption in enumerate(captions):
    words = tokenizer.words(caption)
    out["words"][i, :len(words)] = True
    scene = world.scene(split, i)
    order = scene.reading_order()
    for k, obj in enumerate(scene.objects[j] for j in order):
      for a, at in word_positions(words, obj).items():
        if at is not None:
          out[a if k == 0 else f"{a}/other"][i, at] = True
  return out


def explain_text_judge(workdir: str, out: Optional[str] = None, num_examples: int = 200,
                       num_drawn: int = 12, steps: int = 32, batch_size: int = 50) -> dict:
  """Integrated-gradients word maps of every attribute head of the stage's text classifier on
  the first `num_examples` test captions; writes <out>/maps.png (the first `num_drawn`
  captions, one line per head) and scores.json; returns the scores. out:
  <workdir>/interpret/integrated_gradients by default."""
  check_counts(num_examples, num_drawn, batch_size, 0.0, steps)
  whole, stage, world, tokenizer, model = judge_stage(workdir, "text")
  _, captions = captioning.image_captions(world, "test", range(num_examples))
  tokens = captioning.caption_encoder(tokenizer, whole.data.text_len)(captions)
  init_fn = stage_models.classifier_init_fn(model, tokens[:1])
  state, step = train.restore_latest(stage, workdir, init_fn)
  trained = variables_of(state)
  at_init = untrained(init_fn, stage.seed)

  def f(v, x):
    classes = {a: jnp.argmax(y, -1) for a, y in model.apply(v, x["tokens"]).items()}
    out = {f"class/{a}": c for a, c in classes.items()}
    for a, c in classes.items():
      rows = jnp.arange(len(c))
      ig = token_attributions(model, v, x["tokens"], lambda o, a=a, c=c: o[a][rows, c], steps)
      out[f"map/{a}"] = ig["attributions"]
    return out
  f = jax.jit(f)
  batch = min(batch_size, len(tokens))
  result = in_batches(f, trained, {"tokens": tokens}, batch)
  result_init = in_batches(f, at_init, {"tokens": tokens}, batch)

  on = targets(world, "test", captions, tokenizer, whole.data.text_len)
  labels = stage_models.labels_of(world, "test", range(len(tokens)))
  scores = {"method": "integrated_gradients", "workdir": os.path.abspath(workdir),
            "step": step, "steps": steps, "num_examples": int(len(tokens))}
  for a in model.num_classes:
    known = on[a].any(1)  # the caption tells which mention is the first object
    several = known & on[f"{a}/other"].any(1)
    game = pointing_game.pointing_game_tokens(result[f"map/{a}"][known], on[a][known],
                                              on["words"][known])
    peaks = game["peaks"][several[known]]
    # The captions naming the first object after the other: only the layout words tell.
    second = several & (on[a].argmax(1) > on[f"{a}/other"].argmax(1))
    scores[f"pointing_game_{a}"] = {
        **pointing_game.summary(game),
        "untrained_model": pointing_game.pointing_game_tokens(
            result_init[f"map/{a}"][known], on[a][known], on["words"][known])["hit_rate"],
        "accuracy": float(np.mean(result[f"class/{a}"] == labels[a])),
        "num_multi_object": int(several.sum()),
        "other_object": (float(np.mean(on[f"{a}/other"][several][np.arange(len(peaks)), peaks]))
                         if len(peaks) else None),
        "num_named_second": int(second.sum()),
        "hit_rate_named_second": (float(np.mean(game["hits"][second[known]])) if second.any()
                                  else None)}

  out = write_scores(workdir, out, "integrated_gradients", scores)
  k = min(num_drawn, len(tokens))
  if k:  # each caption once per head
    names = list(model.num_classes)
    lines = [(i, a) for i in range(k) for a in names]
    overlay.save_word_maps(
        os.path.join(out, "maps.png"), [tokenizer.words(captions[i]) for i, _ in lines],
        [result[f"map/{a}"][i] for i, a in lines],
        [f"{a}: {ATTRIBUTES[a][result[f'class/{a}'][i]]}" for i, a in lines],
        [int(np.argmax(on[a][i])) if on[a][i].any() else None for i, a in lines])
  scores["out"] = out
  return scores
