"""Where an encoder exposes a feature map to gradient-based explanations without changing its
parameters, outputs or cost: the image encoders' conv maps (Grad-CAM, mmjax/interpret/gradcam.py)
and the text encoders' token embeddings ("token_embeddings": integrated gradients per word,
mmjax/interpret/integrated_gradients.py).

`feature_hook(module, name, x)` returns x unchanged in training and evaluation. Applied with a
"perturbations" collection (flax's `Module.perturb`), it adds that collection's array to x, so
the gradient with respect to it is the gradient with respect to the map; with "intermediates"
mutable it also sows the map itself. Nothing is created at `init`, so checkpoints keep their
layout.
"""

import jax


def feature_hook(module, name: str, x: jax.Array) -> jax.Array:
  """x [batch, ...] -> x (+ the "perturbations" entry `name`, when applied with one)."""
  if module.is_initializing():
    return x
  x = module.perturb(name, x)
  if module.is_mutable_collection("intermediates"):
    module.sow("intermediates", name, x)
  return x
