"""Saliency maps drawn over their images as a PNG grid (mmjax/evaluate/image_grid.py)."""

from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.evaluate.image_grid import save_image_grid


def overlay(images, maps, alpha: float = 0.5, peaks: Optional[np.ndarray] = None
            ) -> np.ndarray:
  """images [n, s, s, 3] in [0, 1], maps [n, h', w'] (any resolution, resized bilinearly) ->
  [n, s, s, 3]: each map scaled to [0, 1] by its own range, coloured (matplotlib's "jet") and
  blended over its image with weight `alpha`; `peaks` int [n, 2] (row, column) are marked
  white."""
  from matplotlib import colormaps  # imported here: only runs that draw need matplotlib.
  images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
  n, s = images.shape[:2]
  up = np.asarray(jax.image.resize(jnp.asarray(maps, jnp.float32), (n, s, s), "linear"))
  low, high = up.min(axis=(1, 2), keepdims=True), up.max(axis=(1, 2), keepdims=True)
  scaled = (up - low) / np.maximum(high - low, 1e-12)
  out = (1 - alpha) * images + alpha * colormaps["jet"](scaled)[..., :3]
  if peaks is not None:
    out[np.arange(n), peaks[:, 0], peaks[:, 1]] = 1.0
  return out.astype(np.float32)


def save_overlays(path: str, images, maps, titles: Sequence[str], peaks=None,
                  title_colours: Optional[Sequence[str]] = None, columns: int = 6):
  """`overlay` of each image and map, titled, as one PNG at `path`."""
  save_image_grid(path, overlay(images, maps, peaks=peaks), titles, columns=columns,
                  title_colours=title_colours, wrap_width=24)
