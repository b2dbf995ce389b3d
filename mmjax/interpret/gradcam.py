"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization"): where in a convolutional feature map the evidence for a class is.

For the map A [h', w', channels] of a layer and a class score y, each channel's weight is its
mean gradient alpha_c = mean_ij dy/dA_ijc, and the map is relu(sum_c alpha_c A_c) [h', w'].
The layers are the encoders' `feature_hook`s (mmjax/models/hooks.py: the CNN's blocks,
the ResNet's stages, before any pooling), read through flax's perturbations, so a trained
model's parameters are used as they are.
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp

from mmjax.interpret import paths


def hooks(model, variables, inputs) -> dict:
  """{path: shape} of every feature hook the model runs on `inputs`, in call order (e.g.
  "towers_image/block0" ... "towers_image/block2")."""
  _, state = jax.eval_shape(lambda v, x: model.apply(v, x, mutable=["perturbations"]),
                            variables, inputs)
  return {k: v.shape for k, v in paths.flatten(state.get("perturbations", {})).items()}


def default_layer(model, variables, inputs, prefix: str = "") -> str:
  """The last feature hook under `prefix` (e.g. "towers_image"): the last conv map, Grad-CAM's
  usual choice. ValueError naming what exists when there is none."""
  found = paths.under(hooks(model, variables, inputs), prefix)
  if not found:
    raise ValueError(f"no feature hook under {prefix!r}: Grad-CAM needs a cnn or resnet image "
                     "encoder (their blocks are mmjax.models.hooks.feature_hook); the "
                     f"model has {sorted(hooks(model, variables, inputs)) or 'none'}.")
  return list(found)[-1]


def gradcam(model, variables, inputs, layer: str, classes: Optional[jax.Array] = None,
            logits_of: Callable = lambda out: out) -> tuple:
  """Grad-CAM maps of `layer` for each example's class.

  model.apply(variables, inputs) must give logits [batch, classes] (or `logits_of` of its
  output). layer: a path from `hooks`, whose map is [batch, h', w', channels]. classes: int
  [batch], the class each map explains; None = the predicted one. Returns (maps float32
  [batch, h', w'] >= 0, classes int32 [batch], logits [batch, classes]). Examples must not
  interact (evaluation mode: BatchNorm's running statistics), so one summed score gives every
  example's gradient.
  """
  out, state = model.apply(variables, inputs, mutable=["perturbations"])
  logits = logits_of(out)
  zeros = state["perturbations"]
  if layer not in paths.flatten(zeros):
    raise ValueError(f"layer={layer!r} is not a feature hook; valid: "
                     f"{', '.join(paths.flatten(zeros))}.")
  classes = jnp.argmax(logits, -1) if classes is None else jnp.asarray(classes)
  rows = jnp.arange(logits.shape[0])

  def score(perturbations):
    out, sown = model.apply({**variables, "perturbations": perturbations}, inputs,
                            mutable=["intermediates"])
    return logits_of(out)[rows, classes].sum(), sown["intermediates"]

  grads, sown = jax.grad(score, has_aux=True)(zeros)
  features = paths.flatten(sown)[layer][0].astype(jnp.float32)
  gradient = paths.flatten(grads)[layer].astype(jnp.float32)
  if features.ndim != 4:
    raise ValueError(f"layer {layer!r} gives {features.shape}; Grad-CAM needs a map "
                     "[batch, h, w, channels].")
  alpha = gradient.mean(axis=(1, 2))
  maps = jax.nn.relu(jnp.einsum("bhwc,bc->bhw", features, alpha))
  return maps, classes.astype(jnp.int32), logits
