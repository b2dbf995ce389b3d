"""Where translation.py's image judge looks: Grad-CAM of its attribute classifier (one head per
attribute of the first object: shape, colour, size) for each head's predicted class, drawn and
scored (`python -m mmjax.interpret --method gradcam` on the `image_classifier` stage of a
translation.py run, on the synthetic world).

The judge scores the generated images, so where it looks on real ones says what it can judge:
each head's map plays the pointing game (pointing_game.py) on the first object (in reading
order), which its labels describe. The stage's run holds its model; the data and vocabulary are
the experiment's, from its whole config above the stages (<workdir>/config.json).
`untrained_model` is the hit rate of the classifier as initialised.
"""

import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic.scenes import ATTRIBUTES
from mmjax.data.tokenizer import WordTokenizer
from mmjax.interpret import gradcam, overlay, pointing_game
from mmjax.interpret.explain import (check_counts, in_batches, synthetic_world, untrained,
                                     write_scores)
from mmjax.registry import ConfigError
from mmjax.tasks import image_text
from mmjax.tasks import translation as stage_models
from mmjax.tasks.classification import variables_of


def judge_stage(workdir: str, modality: str) -> tuple:
  """(the experiment's whole config, the stage's config, the synthetic world, the vocabulary,
  the stage's AttributeClassifier) of translation.py's image_classifier (modality "image") or
  text_classifier ("text") stage run in `workdir`; the data and vocabulary are the
  experiment's, above the stages. ConfigError for a source of files (no objects to score)."""
  parent = os.path.dirname(os.path.normpath(workdir))
  whole, stage = experiment.load_run_config(parent), experiment.load_run_config(workdir)
  world = synthetic_world(whole)
  vocab = WordTokenizer.load(os.path.join(parent, "vocab.json"))
  model = stage_models.build_attribute_classifier(
      stage.model, modality, vocab.vocab_size, whole.data.text_len,
      jnp.dtype(whole.compute_dtype), f"stages.{modality}_classifier.model",
      stage_models.attributes_of(world))
  return whole, stage, world, vocab, model


def explain_attributes(workdir: str, out: Optional[str] = None, num_examples: int = 200,
                       num_drawn: int = 12, layer: str = "", tolerance: float = 0.0,
                       batch_size: int = 50) -> dict:
  """Grad-CAM maps of every attribute head of the stage's classifier on the first
  `num_examples` test scenes; writes <out>/maps.png (the first `num_drawn` scenes, one map per
  head) and scores.json; returns the scores. out: <workdir>/interpret/gradcam by default."""
  whole, stage, world, _, model = judge_stage(workdir, "image")
  if stage.model.encoder.name not in ("cnn", "resnet"):
    raise ConfigError(f"--method=gradcam needs a cnn or resnet image encoder; the stage's "
                      f"model.encoder.name is {stage.model.encoder.name!r}.")
  check_counts(num_examples, num_drawn, batch_size, tolerance)
  test = image_text.scenes(world, "test", num_examples)
  images = test["images"]
  init_fn = stage_models.classifier_init_fn(model, images[:1])
  state, step = train.restore_latest(stage, workdir, init_fn)
  trained = variables_of(state)
  at_init = untrained(init_fn, stage.seed)
  batch = min(batch_size, len(images))
  layer = layer or gradcam.default_layer(model, trained, images[:batch], "tower")

  def f(v, x):
    out = {}
    for a in model.num_classes:
      maps, classes, _ = gradcam.gradcam(model, v, x["image"], layer,
                                         logits_of=lambda logits, a=a: logits[a])
      out.update({f"map/{a}": maps, f"class/{a}": classes})
    return out
  f = jax.jit(f)
  result = in_batches(f, trained, {"image": images}, batch)
  at_init = in_batches(f, at_init, {"image": images}, batch)

  masks = pointing_game.first_object_masks(world, "test", len(images))
  scores = {"method": "gradcam", "workdir": os.path.abspath(workdir), "step": step,
            "layer": layer, "num_examples": int(len(images))}
  games = {}
  for a in model.num_classes:
    games[a] = pointing_game.pointing_game(result[f"map/{a}"], masks, tolerance)
    scores[f"pointing_game_{a}"] = {
        **pointing_game.summary(games[a]),
        "untrained_model": pointing_game.pointing_game(at_init[f"map/{a}"], masks,
                                                       tolerance)["hit_rate"],
        "accuracy": float(np.mean(result[f"class/{a}"] == test[a]))}

  out = write_scores(workdir, out, "gradcam", scores)
  k = min(num_drawn, len(images))
  if k:  # each scene's map for every attribute, side by side
    names = list(model.num_classes)
    overlay.save_scored(
        os.path.join(out, "maps.png"), np.repeat(sources.denormalize(images[:k]), len(names), 0),
        np.stack([result[f"map/{a}"][i] for i in range(k) for a in names]),
        [f"{a}: {ATTRIBUTES[a][result[f'class/{a}'][i]]}"
         for i in range(k) for a in names],
        [bool(games[a]["hits"][i]) for i in range(k) for a in names],
        np.stack([games[a]["peaks"][i] for i in range(k) for a in names]), columns=len(names))
  scores["out"] = out
  return scores
