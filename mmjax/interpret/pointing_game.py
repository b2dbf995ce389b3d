"""The pointing game (Zhang et al. 2018, "Top-down Neural Attention by Excitation Backprop"):
a saliency map hits when its peak lies on the object the label is about. In the synthetic world
the objects' pixels are known exactly, so maps are scored, not only drawn.

A map [h', w'] is resized to the image (bilinear) and its peak is the highest pixel; it hits
when the object covers a pixel within `tolerance` pixels of the peak (0: the peak pixel
itself). The baseline is a random map, whose peak is a uniformly random pixel: its expected
hit rate is exactly the share of pixels within `tolerance` of the object (the object's area
share at tolerance 0), averaged over the examples. The centre baseline is a map that always
peaks at the centre pixel (Zhang et al.'s "center" baseline): the world places single objects
near the centre, so a map must beat it too before it says where the object is. The best fixed
baseline is the best any map blind to its input can do: the hit rate of the single pixel (or
token) that hits most often on these examples, chosen in hindsight.
"""

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.data.synthetic import render
from mmjax.data.synthetic.scenes import ERASED, SIZES, Object

# Tasks whose label is about one object: the referent, the first object in reading order
# (mmjax/data/synthetic/tasks.py). unique_audio's material is about it too, but never drawn.
OBJECT_TASKS = ("redundant", "unique_audio")


def object_mask(obj: Object, size: int) -> np.ndarray:
  """bool [size, size]: the pixels the renderer paints for `obj` (its shape, or the grey patch
  over an object whose shape the image hides)."""
  grid = render.pixel_grid(size)
  if obj.shape == ERASED:
    yy, xx = grid
    half = 1.2 * SIZES[obj.size]  # render.py's patch over an erased object
    return (abs(xx - obj.x) <= half) & (abs(yy - obj.y) <= half)
  return render.shape_mask(obj.shape, obj.size, obj.x, obj.y, grid)


def referent_masks(world, split: str, indices: Sequence[int]) -> np.ndarray:
  """bool [n, size, size]: the object each example's label is about, as its image draws it.
  ValueError for a task whose label names no object."""
  task = type(world.task).__name__ if world.task is not None else None
  names = {"Redundant": "redundant", "UniqueAudio": "unique_audio"}
  if task not in names:
    raise ValueError(f"the pointing game needs a label about one object; the world's task "
                     f"({task}) has none. Valid tasks: {', '.join(OBJECT_TASKS)}.")
  out = []
  for i in indices:
    seen = world.views(split, int(i)).image
    out.append(object_mask(seen.objects[seen.reading_order()[0]], world.image_size))
  return np.stack(out)


def first_object_masks(world, split: str, n: int) -> np.ndarray:
  """bool [n, size, size]: the first object (in reading order) of scenes 0 .. n-1 of `split`,
  the object the zero-shot, probe and attribute labels describe (scenes.first_object_labels)."""
  scenes = (world.scene(split, i) for i in range(n))
  return np.stack([object_mask(s.objects[s.reading_order()[0]], world.image_size)
                   for s in scenes])


def peaks(maps, size: int) -> np.ndarray:
  """int [n, 2] (row, column) of each map's highest pixel after resizing [n, h', w'] to
  [n, size, size] (bilinear; the first pixel on ties)."""
  maps = jnp.asarray(maps, jnp.float32)
  up = jax.image.resize(maps, (maps.shape[0], size, size), "linear")
  flat = np.asarray(jnp.argmax(up.reshape(up.shape[0], -1), -1))
  return np.stack([flat // size, flat % size], -1)


def dilate(masks: np.ndarray, tolerance: float) -> np.ndarray:
  """bool [n, h, w]: the pixels within `tolerance` pixels (Euclidean, between centres) of a
  True pixel of masks [n, h, w]."""
  if tolerance < 0:
    raise ValueError(f"tolerance={tolerance}; valid: >= 0 pixels.")
  masks = np.asarray(masks, bool)
  r = int(np.floor(tolerance))
  if r == 0:
    return masks
  out = np.zeros_like(masks)
  h, w = masks.shape[1:]
  padded = np.pad(masks, ((0, 0), (r, r), (r, r)))
  for dy in range(-r, r + 1):
    for dx in range(-r, r + 1):
      if dy * dy + dx * dx <= tolerance * tolerance:
        out |= padded[:, r + dy:r + dy + h, r + dx:r + dx + w]
  return out


def pointing_game(maps, masks, tolerance: float = 0.0) -> dict:
  """maps [n, h', w'] (any resolution); masks bool [n, size, size] of the named object.
  Returns {"hit_rate", "random_baseline" (exact expected hit rate of a random map),
  "centre_baseline" (hit rate of a map peaking at pixel (size // 2, size // 2)),
  "best_fixed_baseline" (of the best fixed pixel), "num_maps", "hits": bool [n], "peaks": int
  [n, 2]}."""
  masks = np.asarray(masks, bool)
  if len(maps) != len(masks) or masks.ndim != 3 or masks.shape[1] != masks.shape[2]:
    raise ValueError(f"maps {np.shape(maps)} and masks {masks.shape}: need one square mask "
                     "[size, size] per map.")
  near = dilate(masks, tolerance)
  where = peaks(maps, masks.shape[1])
  hits = near[np.arange(len(masks)), where[:, 0], where[:, 1]]
  centre = masks.shape[1] // 2
  return {"hit_rate": float(hits.mean()), "random_baseline": float(near.mean()),
          "centre_baseline": float(near[:, centre, centre].mean()),
          "best_fixed_baseline": float(near.mean(axis=0).max()),
          "num_maps": int(len(masks)), "hits": hits, "peaks": where}


def summary(game: dict) -> dict:
  """A pointing game's result (`pointing_game`, `pointing_game_tokens`) without its per-map
  arrays ("hits", "peaks"): the numbers scores.json keeps."""
  return {k: v for k, v in game.items() if k not in ("hits", "peaks")}


# ------------------------------------------------- sounds: the word the label is about --

def word_masks(world, split: str, indices: Sequence[int], num_samples: int) -> np.ndarray:
  """bool [n, num_samples]: the samples of each example's spoken caption that say the word the
  label is about (redundant: the referent's shape, or "thing" where the caption hides it;
  unique_audio: its material), every occurrence of it. ValueError as `referent_masks`."""
  task = type(world.task).__name__ if world.task is not None else None
  if task not in ("Redundant", "UniqueAudio"):
    raise ValueError(f"the pointing game needs a label about one object; the world's task "
                     f"({task}) has none. Valid tasks: {', '.join(OBJECT_TASKS)}.")
  out = np.zeros((len(indices), num_samples), bool)
  for row, i in enumerate(indices):
    spoken = world.views(split, int(i)).spoken
    referent = spoken.objects[spoken.reading_order()[0]]
    word = referent.shape if task == "Redundant" else referent.material
    ex = world.example(split, int(i), ("audio",))
    for w, start, end in zip(ex["transcript"], ex["word_starts"], ex["word_ends"]):
      if w == word:
        out[row, start:end] = True
  return out


def token_centres(num_tokens: int, patch: int, stride: int, frame_length: int,
                  frame_step: int) -> np.ndarray:
  """int [num_tokens]: the sample at the middle of each time patch of a spectrogram
  Transformer (patch and stride in frames; frame_length and frame_step in samples, frames
  uncentred as mmjax/models/audio/log_mel.py makes them)."""
  first = np.arange(num_tokens) * stride * frame_step
  last = first + (patch - 1) * frame_step + frame_length
  return (first + last) // 2


def pointing_game_tokens(maps, on, valid=None) -> dict:
  """maps [n, tokens]; on bool [n, tokens], whether each token lies on the named thing (e.g.
  its centre sample is within the word). A hit: the peak token is on it; the random baseline
  (a uniformly random peak token) is exactly the share of tokens on it; the best fixed
  baseline is the hit rate of the token position that is on it most often. valid: bool
  [n, tokens], the tokens a peak may fall on (e.g. a caption's words, not its padding);
  default all."""
  on = np.asarray(on, bool)
  valid = np.ones_like(on) if valid is None else np.asarray(valid, bool)
  peak = np.asarray(jnp.argmax(jnp.where(valid, jnp.asarray(maps), -jnp.inf), -1))
  hits = on[np.arange(len(on)), peak]
  return {"hit_rate": float(hits.mean()),
          "random_baseline": float(np.mean((on & valid).sum(1) / valid.sum(1))),
          "best_fixed_baseline": float((on & valid).mean(axis=0).max()),
          "num_maps": int(len(on)), "hits": hits, "peaks": peak}
