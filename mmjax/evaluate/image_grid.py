"""A grid of images, each with a title above it, saved as a PNG: generated images with their
captions, VQA examples with question, answer and prediction."""

import textwrap
from typing import Optional, Sequence

import numpy as np


def save_image_grid(path: str, images, titles: Sequence[str], columns: int = 6,
                    panel_size: tuple = (1.8, 2.1), title_colours: Optional[Sequence[str]] = None,
                    wrap_width: Optional[int] = None, fontsize: int = 7):
  """images [n, h, w, 3] (clipped to [0, 1]), one title each (wrapped at `wrap_width`
  characters; coloured by `title_colours`) -> a PNG at `path`, `columns` panels a row of
  `panel_size` inches each."""
  import matplotlib  # imported here: only runs that save a picture need it.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  columns = max(1, min(columns, len(images)))
  rows = -(-len(images) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(panel_size[0] * columns,
                                                   panel_size[1] * rows), squeeze=False)
  for ax in axes.flat:
    ax.axis("off")
  colours = title_colours or ["black"] * len(images)
  for ax, image, title, colour in zip(axes.flat, images, titles, colours):
    ax.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")
    text = "\n".join(textwrap.wrap(title, wrap_width)) if wrap_width else title
    ax.set_title(text, fontsize=fontsize, color=colour)
  fig.tight_layout()
  fig.savefig(path, dpi=100, bbox_inches="tight")
  plt.close(fig)
