"""Where an AV-MNIST model looks, on real digits: Grad-CAM of its image encoder, or integrated
gradients of both its inputs, for the class it predicts, drawn and scored
(`python -m mmjax.interpret --method gradcam` or `integrated_gradients` on an av_mnist.py run).

The run's tested parameters (best_variables.msgpack, the best validation epoch's) are the ones
explained. Real digits have no object list, but a digit is its ink: the pointing game
(pointing_game.py) scores each map's peak against the image's bright pixels, those above the
midpoint of its darkest and brightest (the threshold is the same for any affine normalisation,
and on the PCA-degraded digits it keeps the strokes, about a quarter of the pixels). The
centre pixel and the best fixed pixel are the baselines a map must beat: digits are centred.
A map blind to the model beats them all, though: the image itself peaks on ink by definition.
So the maps are also tested for faithfulness, by deletion (Petsiuk et al. 2018, "RISE"): erase
each image's top `fraction` of pixels in the map's order (set them to the image's darkest
value) and count the predictions that stay the same. The fewer stay, the more the map's top
pixels are what the model uses; against two orders blind to the model: random, and brightest
first (erasing the most ink). Integrated gradients also give each modality's share of the
attributions (image against speech), the measure of which input the model relies on.
"""

import os
from typing import Optional

import numpy as np

from mmjax import experiment, train
from mmjax.interpret import deletion, gradcam, overlay
from mmjax.interpret.explain import (check, check_counts, in_batches, map_function, summarise,
                                     write_scores)
from mmjax.registry import ConfigError
from mmjax.tasks import classification, digits


def ink_masks(images: np.ndarray) -> np.ndarray:
  """bool [n, h, w]: each image's pixels above the midpoint of its own range (channels
  averaged). images [n, h, w, c], in any affine normalisation."""
  grey = np.asarray(images, np.float32).mean(-1)
  low, high = grey.min(axis=(1, 2), keepdims=True), grey.max(axis=(1, 2), keepdims=True)
  return grey > (low + high) / 2


def explain_digits(workdir: str, method: str, out: Optional[str] = None, split: str = "test",
                   num_examples: int = 200, num_drawn: int = 12, layer: str = "",
                   steps: int = 32, tolerance: float = 0.0, batch_size: int = 50) -> dict:
  """Maps of `split`'s first `num_examples` examples for the av_mnist run in `workdir`; writes
  <out>/maps.png (the first `num_drawn`) and scores.json; returns the scores. out defaults to
  <workdir>/interpret/<method>."""
  config = experiment.load_run_config(workdir)
  if method not in ("gradcam", "integrated_gradients"):
    raise ConfigError(f"--method={method} on an av_mnist run; valid: gradcam (a cnn or resnet "
                      "image encoder), integrated_gradients.")
  mods = classification.modalities_of(config, digits.MODALITIES)
  check(method, mods, {m: config.model.encoders[m].name for m in mods})
  check_counts(num_examples, num_drawn, batch_size, tolerance, steps)
  mods, splits, _, model = digits.setup(config)
  if split not in splits:
    raise ConfigError(f"--split={split}; valid: {', '.join(splits)}.")
  data = splits[split]
  n = min(num_examples, len(data))
  batch = digits.keep(data.make_batch(np.arange(n)), mods)
  inputs = {m: batch[m] for m in mods}
  state, step = train.restore_latest(config, workdir, classification.init_fn(model, inputs))
  variables = digits.best_variables(workdir, classification.variables_of(state))
  example = {m: x[:batch_size] for m, x in inputs.items()}
  f = map_function(method, model, example, variables, layer, steps)
  result = in_batches(f, variables, inputs, min(batch_size, n))

  masks = ink_masks(inputs["image"])
  before = result["class"]
  after = deletion.deletion(classification.predictor(model), variables, inputs,
                            {"map": result["map"], **deletion.blind_orders(inputs["image"])},
                            min(batch_size, n))
  kept = {order: {p: float(np.mean(c == before)) for p, c in by_p.items()}
          for order, by_p in after.items()}
  scores = {"method": method, "workdir": os.path.abspath(workdir), "step": step,
            "variables": digits.BEST_PARAMS, "split": split, "target": "ink",
            "ink_share": float(masks.mean()),
            **summarise(method, result, batch["label"], masks, tolerance),
            "deletion_predictions_kept": kept}
  if method == "gradcam":
    scores["layer"] = layer or gradcam.default_layer(model, variables, example, "towers_image")

  out = write_scores(workdir, out, method, scores)
  k = min(num_drawn, n)
  if k:
    grey = ink_images(inputs["image"][:k])
    overlay.save_scored(os.path.join(out, "maps.png"), grey, result["map"][:k],
                        [f"digit {batch['label'][i]}, predicted {result['class'][i]}"
                         for i in range(k)], result["hits"][:k], result["peaks"][:k])
  scores["out"] = out
  return scores


def ink_images(images: np.ndarray) -> np.ndarray:
  """[n, h, w, 3] in [0, 1] for pictures: each image stretched to its own range, grey."""
  grey = np.asarray(images, np.float32).mean(-1)
  low, high = grey.min(axis=(1, 2), keepdims=True), grey.max(axis=(1, 2), keepdims=True)
  return np.repeat(((grey - low) / np.maximum(high - low, 1e-12))[..., None], 3, axis=-1)
