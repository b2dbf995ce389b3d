"""Rendering a scene to an image [size, size, 3] float32 in [0, 1].

Painting order: background, clutter (distractor strokes and blobs, behind the objects so the
objects stay fully visible), the objects, grey patches over objects whose shape is hidden
(shape == scenes.ERASED), a random occluding patch (with probability `occlusion`), Gaussian
pixel noise. Every option beyond the background and the noise is off by default.
"""

import functools

import numpy as np

from mmjax.data.synthetic.scenes import COLOURS, ERASED, SIZES, Scene

DEFAULT_BACKGROUND = 0.1
# Dark tints, far from every object colour (tasks.py, unique_image).
BACKGROUNDS = {"grey": (0.1, 0.1, 0.1), "navy": (0.05, 0.07, 0.3),
               "forest": (0.05, 0.25, 0.1), "maroon": (0.3, 0.06, 0.08)}
# Muted distractor colours, none close to an object colour.
CLUTTER_COLOURS = ((0.45, 0.45, 0.45), (0.5, 0.33, 0.2), (0.2, 0.42, 0.42), (0.62, 0.5, 0.55))
PATCH = 0.5  # occluding patches are mid grey


@functools.lru_cache(maxsize=8)
def pixel_grid(size: int):
  """(yy, xx) pixel-centre coordinates [size, size] as fractions of the side."""
  g = (np.arange(size) + 0.5) / size
  yy, xx = np.meshgrid(g, g, indexing="ij")
  yy.flags.writeable = xx.flags.writeable = False
  return yy, xx


def shape_mask(shape: str, size: str, x: float, y: float, grid) -> np.ndarray:
  yy, xx = grid
  r = SIZES[size]
  dx, dy = xx - x, yy - y
  if shape == "circle":
    return dx ** 2 + dy ** 2 <= r ** 2
  if shape == "square":
    return np.maximum(abs(dx), abs(dy)) <= r * 0.85
  if shape == "diamond":
    return abs(dx) + abs(dy) <= r * 1.15
  if shape == "triangle":
    return (dy <= r * 0.8) & (dy >= -r) & (abs(dx) <= (dy + r) * 0.6)
  raise ValueError(f"shape={shape!r}; valid: circle, square, triangle, diamond.")


def _clutter(img, grid, count, rng):
  yy, xx = grid
  for _ in range(count):
    colour = np.asarray(CLUTTER_COLOURS[int(rng.integers(len(CLUTTER_COLOURS)))], np.float32)
    if rng.integers(2):  # a stroke: a thick line segment
      (x0, y0), (x1, y1) = rng.uniform(0.05, 0.95, size=(2, 2))
      half_width = rng.uniform(0.015, 0.035)
      dx, dy = x1 - x0, y1 - y0
      t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
      mask = (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2 <= half_width ** 2
    else:  # a blob: a small ellipse, well below the "small" object size
      cx, cy = rng.uniform(0.05, 0.95, size=2)
      rx, ry = rng.uniform(0.03, 0.07, size=2)
      mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    img[mask] = colour


def _patch(img, grid, cx, cy, half):
  yy, xx = grid
  img[(abs(xx - cx) <= half) & (abs(yy - cy) <= half)] = PATCH


def render(scene: Scene, size: int, noise_rng=None, noise: float = 0.0, clutter: int = 0,
           occlusion: float = 0.0, extras_rng=None) -> np.ndarray:
  """scene -> image [size, size, 3] float32 in [0, 1].

  noise_rng draws the pixel noise (std `noise`); extras_rng draws clutter (`clutter`
  distractors) and the occluding patch (drawn with probability `occlusion`).
  """
  grid = pixel_grid(size)
  if scene.background:
    img = np.empty((size, size, 3), np.float32)
    img[:] = np.asarray(BACKGROUNDS[scene.background], np.float32)
  else:
    img = np.full((size, size, 3), DEFAULT_BACKGROUND, np.float32)
  if clutter:
    _clutter(img, grid, clutter, extras_rng)
  for o in scene.objects:
    if o.shape != ERASED:
      img[shape_mask(o.shape, o.size, o.x, o.y, grid)] = np.asarray(COLOURS[o.colour],
                                                                    np.float32) / 255.0
  for o in scene.objects:
    if o.shape == ERASED:  # 1.2 r covers every shape of that size, neighbours drawn or not.
      _patch(img, grid, o.x, o.y, 1.2 * SIZES[o.size])
  if occlusion and extras_rng.uniform() < occlusion:
    cx, cy = extras_rng.uniform(0.2, 0.8, size=2)
    _patch(img, grid, cx, cy, extras_rng.uniform(0.08, 0.16))
  if noise:
    img = img + noise_rng.normal(0.0, noise, img.shape).astype(np.float32)
  return np.clip(img, 0.0, 1.0)
