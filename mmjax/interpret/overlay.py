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


def save_scored(path: str, images, maps, titles: Sequence[str], hits, peaks,
                columns: int = 6):
  """`save_overlays` of maps the pointing game scored: each title ends in ", hit" (green) or
  ", miss" (red), and each map's peak is marked. hits [n]: bool, or None for a map drawn
  beside the scored ones but not scored (its title unchanged, black); peaks int [n, 2]."""
  titles = [t + ("" if h is None else ", hit" if h else ", miss") for t, h in zip(titles, hits)]
  colours = ["black" if h is None else "green" if h else "red" for h in hits]
  save_overlays(path, images, maps, titles, peaks, colours, columns)


def save_curves(path: str, maps, seconds, on=None, titles: Sequence[str] = (),
                columns: int = 4, x_label: str = "seconds"):
  """Token maps over time [n, t] as one small plot each (x: `seconds` [t], the tokens'
  centres, or another time axis named by x_label), with the tokens `on` bool [n, t] (e.g. the
  named word's) shaded, as a PNG."""
  import matplotlib  # imported here: only runs that draw need matplotlib.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  maps = np.asarray(maps)
  columns = max(1, min(columns, len(maps)))
  rows = -(-len(maps) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 1.8 * rows), squeeze=False)
  for ax in axes.flat:
    ax.axis("off")
  for i, ax in enumerate(axes.flat[:len(maps)]):
    ax.axis("on")
    ax.plot(seconds, maps[i], color="black", linewidth=1)
    if on is not None:
      ax.fill_between(seconds, 0, maps[i].max(), where=on[i], color="orange", alpha=0.4,
                      step="mid")
    ax.set_title(titles[i] if i < len(titles) else "", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_yticks([])
  axes.flat[0].set_xlabel(x_label, fontsize=6)
  fig.tight_layout()
  fig.savefig(path, dpi=100, bbox_inches="tight")
  plt.close(fig)


def save_word_maps(path: str, words: Sequence[Sequence[str]], maps, titles: Sequence[str],
                   marked: Sequence[Optional[int]] = ()):
  """Word maps as a PNG, one line per map: each word of words[i] on a background coloured by
  maps[i] (float [n, >= its words]; red for positive, blue for negative, scaled by the line's
  largest magnitude), after titles[i]; the word at marked[i] (e.g. the one the map should
  peak on) is boxed."""
  import matplotlib  # imported here: only runs that draw need matplotlib.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from matplotlib import colormaps
  fig = plt.figure(figsize=(9, 0.32 * len(words) + 0.2))
  for i, (line, weights) in enumerate(zip(words, maps)):
    y = 1 - (i + 0.5) / len(words)
    fig.text(0.01, y, titles[i], fontsize=7, va="center")
    scale = max(float(np.max(np.abs(weights[:len(line)]))), 1e-12)
    x = 0.2
    for j, word in enumerate(line):
      boxed = i < len(marked) and marked[i] == j
      fig.text(x, y, word, fontsize=8, va="center", family="monospace",
               bbox=dict(facecolor=colormaps["RdBu_r"](0.5 + 0.4 * float(weights[j]) / scale),
                         edgecolor="black" if boxed else "none", linewidth=1.2, pad=1.5))
      x += 0.0095 * (len(word) + 1.5)  # monospace: advance by the word's length
  fig.savefig(path, dpi=110, bbox_inches="tight")
  plt.close(fig)
