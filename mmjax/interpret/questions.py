"""Where a VQA model looks: Grad-CAM of its image encoder for the answer it gives, drawn and
scored (`python -m mmjax.interpret --method gradcam` on a vqa.py run).

The colour, shape and size questions ask about one object, which the question names ("what
colour is the square?"); where its words name exactly one object of the scene, the map of the
predicted answer plays the pointing game (pointing_game.py) on that object's pixels. Count,
exists and relation questions are not scored: they are about no single named object.
"""

import os
from typing import Optional

import jax
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic import ANSWERS
from mmjax.data.tokenizer import WordTokenizer
from mmjax.interpret import gradcam, overlay, pointing_game
from mmjax.interpret.captions import named_objects
from mmjax.interpret.explain import check_counts, in_batches, synthetic_world, write_scores
from mmjax.registry import ConfigError
from mmjax.tasks import classification
from mmjax.tasks.vqa import vqa_data

SCORED_TYPES = ("colour", "shape", "size")


def explain_questions(workdir: str, out: Optional[str] = None, num_examples: int = 200,
                      num_drawn: int = 12, layer: str = "", tolerance: float = 0.0,
                      batch_size: int = 50) -> dict:
  """Grad-CAM maps of a VQA run's answers to the first `num_examples` test questions; writes
  <out>/maps.png (the first `num_drawn` scored questions) and scores.json (the pointing game,
  over all scored questions and per type); returns the scores. out: <workdir>/interpret/gradcam
  by default."""
  config = experiment.load_run_config(workdir)
  names = classification.inputs_of(config)
  if "image" not in names or config.model.encoders.image.name not in ("cnn", "resnet"):
    raise ConfigError("--method=gradcam on a VQA run needs an image read by a cnn or resnet "
                      f"encoder; the run's model.inputs={names}.")
  check_counts(num_examples, num_drawn, batch_size, tolerance)
  world = synthetic_world(config)
  config.eval.num_examples = num_examples
  tokenizer = WordTokenizer.load(os.path.join(workdir, "vocab.json"))
  model = classification.vqa_model(config, names, len(ANSWERS), tokenizer.vocab_size)
  _, test, _ = vqa_data(config, world, tokenizer, names)
  inputs = {k: test[k] for k in names}
  state, step = train.restore_latest(config, workdir, classification.init_fn(model, inputs))
  variables = classification.variables_of(state)
  example = {k: v[:batch_size] for k, v in inputs.items()}
  layer = layer or gradcam.default_layer(model, variables, example, "classifier/towers_image")

  def f(v, x):
    maps, classes, _ = gradcam.gradcam(model, v, x, layer)
    return {"map": maps, "class": classes}
  result = in_batches(jax.jit(f), variables, inputs, min(batch_size, len(test["answer"])))

  rows = []  # (question index, its type, the named object's mask)
  for i, (kind, question) in enumerate(zip(test["question_type"], test["question_text"])):
    named = {id(o): o for *_, o in named_objects(world.scene("test", i),
                                                 tokenizer.words(question))}
    if kind in SCORED_TYPES and len(named) == 1:
      rows.append((i, kind, pointing_game.object_mask(next(iter(named.values())),
                                                      config.data.image_size)))
  if not rows:
    raise ValueError(f"none of the {len(test['answer'])} test questions names one object of "
                     f"its scene in a {', '.join(SCORED_TYPES)} question: nothing to score.")
  index = np.array([r[0] for r in rows])
  scored = lambda sel: pointing_game.pointing_game(result["map"][index[sel]],
                                                   np.stack([rows[j][2] for j in sel]),
                                                   tolerance)
  game = scored(np.arange(len(rows)))
  scores = {"method": "gradcam", "workdir": os.path.abspath(workdir), "step": step,
            "layer": layer, "num_examples": int(len(test["answer"])),
            "accuracy": float(np.mean(result["class"] == test["answer"])),
            "pointing_game": pointing_game.summary(game)}
  for kind in SCORED_TYPES:
    mine = np.array([j for j, r in enumerate(rows) if r[1] == kind])
    if len(mine):
      scores[f"pointing_game_{kind}_questions"] = pointing_game.summary(scored(mine))

  out = write_scores(workdir, out, "gradcam", scores)
  k = min(num_drawn, len(rows))
  if k:
    overlay.save_scored(
        os.path.join(out, "maps.png"), sources.denormalize(inputs["image"][index[:k]]),
        result["map"][index[:k]],
        [f"{test['question_text'][i]} {ANSWERS[result['class'][i]]}" for i in index[:k]],
        game["hits"][:k], game["peaks"][:k])
  scores["out"] = out
  return scores
