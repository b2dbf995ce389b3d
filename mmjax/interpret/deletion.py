"""Deletion, a faithfulness test of saliency maps (Petsiuk et al. 2018, "RISE"): erase each
image's top pixels in a map's order and measure how much the model's output changes. The more
it changes, the more the map's top pixels are what the model uses. A map is compared with
orders blind to the model (random, brightest first), since a map that merely traces the bright
pixels can point at an object without saying anything about the model.

Pure functions of arrays and a model function; used by digits.py (AV-MNIST: predictions kept)
and retrieval.py (image-text similarity lost).
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.interpret.explain import in_batches

PERCENTS = (2, 5, 10, 20)  # of each image's pixels erased


def erase_top(images: np.ndarray, order: np.ndarray, fraction: float,
              fill: Optional[float] = None) -> np.ndarray:
  """images [n, h, w, c] with each one's top `fraction` of pixels by `order` [n, h', w'] (any
  resolution, resized bilinearly; higher first) set to `fill` (None: each image's darkest
  value; 0.0 is mid-grey in the normalised pixels)."""
  n, h, w, _ = images.shape
  order = jax.image.resize(jnp.asarray(order, jnp.float32), (n, h, w), "linear")
  k = max(1, round(fraction * h * w))
  top = np.argsort(-np.asarray(order).reshape(n, -1), axis=1, kind="stable")[:, :k]
  out = np.array(images, copy=True).reshape(n, h * w, -1)
  value = out.min(axis=(1, 2)) if fill is None else np.full(n, fill, out.dtype)
  out[np.arange(n)[:, None], top] = value[:, None, None]
  return out.reshape(images.shape)


def deletion(fn: Callable, variables, inputs: dict, orders: dict, batch_size: int,
             key: str = "image", fill: Optional[float] = None) -> dict:
  """{order name: {"top_<p>_percent": fn's outputs [n]}} after `erase_top` of inputs[key] by
  each order [n, h', w'] at each percentage p of PERCENTS. fn(variables, inputs) -> [batch]."""
  out = {}
  for name, order in orders.items():
    out[name] = {}
    for percent in PERCENTS:
      erased = dict(inputs, **{key: erase_top(inputs[key], order, percent / 100, fill)})
      out[name][f"top_{percent}_percent"] = in_batches(
          lambda v, x: {"y": fn(v, x)}, variables, erased, batch_size)["y"]
  return out


def blind_orders(images: np.ndarray, seed: int = 0) -> dict:
  """The model-blind orders a map is compared with: {"brightest": [n, h, w] (channels
  averaged), "random": [n, h, w]}."""
  return {"brightest": np.asarray(images, np.float32).mean(-1),
          "random": np.random.default_rng(seed).random(images.shape[:3])}
