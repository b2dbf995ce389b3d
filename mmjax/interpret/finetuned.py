"""Where a fine-tuned image classifier looks, and whether pretraining changed it: Grad-CAM (a
cnn or resnet tower) or attention rollout (a vit) of pretrain_finetune.py's classifier for the
class it predicts, drawn and scored (`python -m mmjax.interpret --method gradcam` or `rollout`
on its `finetune` or `scratch` stage: the same classifier from the CLIP-pretrained image tower
and from random weights).

A stage's run records only its head; the classifier is rebuilt from the experiment's whole
config, which the experiment writes above its stages (<workdir>/config.json): the pretrained
tower's architecture, the head, the downstream task. The label is the first object's
attribute (in reading order), so the maps play the pointing game (pointing_game.py) on that
object. `untrained_model` is the hit rate of the classifier as initialised (a random
network's maps already favour bright objects on a dark ground).
"""

import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic.scenes import ATTRIBUTES
from mmjax.interpret import gradcam, overlay, pointing_game
from mmjax.interpret.explain import check_counts, in_batches, map_function, write_scores
from mmjax.models import HEADS, IMAGE_ENCODERS
from mmjax.models.multimodal_classifier import MultimodalClassifier
from mmjax.registry import ConfigError
from mmjax.tasks import image_text

STAGES = ("finetune", "scratch")  # pretrain_finetune.py's classifiers
METHODS = {"gradcam": ("cnn", "resnet"), "rollout": ("vit",)}  # -> the image towers they map


def experiment_config(workdir: str):
  """The whole config of the pretrain_finetune.py run whose stage `workdir` is; ConfigError
  when it is not one of its classifier stages."""
  stage, parent = os.path.basename(os.path.normpath(workdir)), os.path.dirname(
      os.path.normpath(workdir))
  path = os.path.join(parent, "config.json")
  if stage not in STAGES or not os.path.exists(path):
    raise ConfigError(f"{workdir} is a run of one stage of a multi-stage experiment whose "
                      "whole config is not beside it; maps cover pretrain_finetune.py's "
                      f"classifier stages ({', '.join(STAGES)}) of runs that wrote "
                      f"{os.path.join('<workdir>', 'config.json')} (rerun it with this code).")
  config = experiment.load_run_config(parent)
  if config.get("experiment") != "finetune":
    raise ConfigError(f"{parent}/config.json is not a pretrain_finetune.py run with "
                      "experiment=finetune.")
  return config


def explain_finetuned(workdir: str, method: str, out: Optional[str] = None,
                      num_examples: int = 200, num_drawn: int = 12, layer: str = "",
                      tolerance: float = 0.0, batch_size: int = 50) -> dict:
  """`method`'s maps of the stage's classifier on the first `num_examples` test scenes; writes
  <out>/maps.png (the first `num_drawn`) and scores.json; returns the scores. out:
  <workdir>/interpret/<method> by default."""
  config = experiment_config(workdir)
  stage = experiment.load_run_config(workdir)
  pre, task = config.stages.pretrain.model, config.downstream.task
  image_name, image = IMAGE_ENCODERS.choose(pre.image, "stages.pretrain.model.image")
  if image_name not in METHODS.get(method, ()):
    valid = "; ".join(f"{m} for a {' or '.join(t)} tower" for m, t in METHODS.items())
    raise ConfigError(f"--method={method} on a {image_name} image tower (the run's "
                      f"stages.pretrain.model.image.name); valid: {valid}.")
  check_counts(num_examples, num_drawn, batch_size, tolerance)
  head_name, head = HEADS.choose(stage.model.head, "stages.finetune.model.head")
  model = MultimodalClassifier(  # as pretrain_finetune.run_finetune builds it
      num_classes=len(ATTRIBUTES[task]), modalities=("image",),
      encoders={"image": {"name": image_name, **image}}, head=head_name, head_options=head,
      dtype=jnp.dtype(config.compute_dtype))
  world = sources.build(config.data, reads=("shapes",))
  test = image_text.scenes(world, "test", num_examples)
  inputs = {"image": test["images"]}
  freeze = bool(config.downstream.freeze_encoder)

  def init_fn(rng):  # the trainer's layout: a frozen tower lives in model_state
    params = model.init(rng, {"image": inputs["image"][:1]})["params"]
    if freeze:
      return params, {"frozen": {"towers_image": params.pop("towers_image")}}
    return params, {}

  def variables(params, model_state):
    return {"params": {**params, **model_state.get("frozen", {})}}
  state, step = train.restore_latest(stage, workdir, init_fn)
  trained = variables(state.eval_params, state.model_state)
  untrained = variables(*init_fn(jax.random.key(stage.seed)))
  batch = min(batch_size, len(inputs["image"]))
  example = {"image": inputs["image"][:batch]}
  if method == "gradcam":
    layer = layer or gradcam.default_layer(model, trained, example, "towers_image")
  f = map_function(method, model, example, trained, layer)
  result = in_batches(f, trained, inputs, batch)
  at_init = in_batches(f, untrained, inputs, batch)["map"]

  masks = pointing_game.first_object_masks(world, "test", len(inputs["image"]))
  game = pointing_game.pointing_game(result["map"], masks, tolerance)
  labels = test[task]
  scores = {"method": method, "workdir": os.path.abspath(workdir), "step": step,
            "stage": os.path.basename(os.path.normpath(workdir)), "task": task,
            **({"layer": layer} if method == "gradcam" else {}),
            "num_examples": int(len(labels)),
            "accuracy": float(np.mean(result["class"] == labels)),
            "pointing_game": {**pointing_game.summary(game), "untrained_model":
                              pointing_game.pointing_game(at_init, masks,
                                                          tolerance)["hit_rate"]}}

  out = write_scores(workdir, out, method, scores)
  k = min(num_drawn, len(labels))
  if k:
    names = ATTRIBUTES[task]
    overlay.save_scored(os.path.join(out, "maps.png"), sources.denormalize(inputs["image"][:k]),
                        result["map"][:k], [f"{names[labels[i]]}, predicted "
                                            f"{names[result['class'][i]]}" for i in range(k)],
                        game["hits"][:k], game["peaks"][:k])
  scores["out"] = out
  return scores
