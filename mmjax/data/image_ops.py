"""Host-side image preprocessing ops, chosen by name from the config.

  ops = ImageOps([{"op": "random_resized_crop", "size": 64}, "random_flip",
                  {"op": "normalize", "mean": [0.5], "std": [0.25]}])
  image = ops(uint8_image, seed=(run_seed, example_position))

Each op maps one image [h, w, c] float32 to another; random ops draw only from the
`np.random.Generator` made from the example's seed, so the same seeds give byte-identical
batches on any machine, thread or process. Resizing is a separable linear filter written in
numpy (antialiased when shrinking, like PIL and `jax.image.resize(antialias=True)`), so no
image library is needed.
"""

import dataclasses
import functools
from collections.abc import Mapping
from typing import Sequence, Union

import numpy as np

from mmjax.registry import ConfigError, Registry

IMAGE_OPS = Registry("image op")

Size = Union[int, Sequence[int]]


def _hw(size: Size) -> tuple:
  h, w = (size, size) if np.ndim(size) == 0 else tuple(size)
  if int(h) <= 0 or int(w) <= 0:
    raise ValueError(f"size={size!r}; must be positive.")
  return int(h), int(w)


@functools.lru_cache(maxsize=256)
def _resize_taps(n_in: int, n_out: int, antialias: bool):
  """Output pixel i = sum_k weights[i, k] * input[index[i, k]]: a triangle (linear) filter,
  widened by the scale when shrinking so every input pixel contributes (no aliasing)."""
  scale = n_in / n_out
  support = max(scale, 1.0) if antialias else 1.0
  centres = (np.arange(n_out) + 0.5) * scale - 0.5
  w = np.maximum(0.0, 1.0 - np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support)
  w /= w.sum(axis=1, keepdims=True)
  taps = int((w > 0).sum(axis=1).max())
  index = np.argsort(w <= 0, axis=1, kind="stable")[:, :taps]  # the non-zero taps first
  return index, np.take_along_axis(w, index, axis=1).astype(np.float32)


def resize(image: np.ndarray, size: Size, antialias: bool = True) -> np.ndarray:
  """image [h, w, c] -> float32 [size_h, size_w, c], linear interpolation.

  Gathers each output pixel's few taps instead of multiplying by dense resize matrices: no BLAS
  call, whose threads would fight the train step for the cores (and are 20x slower for these
  small products on a busy 2-core machine)."""
  h, w = _hw(size)
  x = np.asarray(image, np.float32)
  if x.shape[:2] == (h, w):
    return x
  rows, row_w = _resize_taps(x.shape[0], h, antialias)
  cols, col_w = _resize_taps(x.shape[1], w, antialias)
  # Rows first: gathering whole rows is contiguous, so it is the cheap pass to do at full size.
  x = np.einsum("hkwc,hk->hwc", np.take(x, rows, axis=0), row_w)
  return np.einsum("hwkc,wk->hwc", np.take(x, cols, axis=1), col_w)


def _crop(x, top, left, h, w):
  return x[top:top + h, left:left + w]


def _check_fits(x, h, w, op):
  if x.shape[0] < h or x.shape[1] < w:
    raise ValueError(f"{op}: image {x.shape[0]}x{x.shape[1]} is smaller than the crop {h}x{w}; "
                     "resize first (ops: resize, resize_shorter).")


@IMAGE_OPS.register("resize")
@dataclasses.dataclass(frozen=True)
class Resize:
  """To exactly `size` (an int is a square); the aspect ratio may change."""
  size: Size
  antialias: bool = True

  def __call__(self, x, rng):
    return resize(x, self.size, self.antialias)


@IMAGE_OPS.register("resize_shorter")
@dataclasses.dataclass(frozen=True)
class ResizeShorter:
  """Shorter side to `size`, keeping the aspect ratio (then e.g. center_crop for a square)."""
  size: int
  antialias: bool = True

  def __call__(self, x, rng):
    h, w = x.shape[:2]
    s = self.size / min(h, w)
    return resize(x, (max(self.size, round(h * s)), max(self.size, round(w * s))), self.antialias)


@IMAGE_OPS.register("center_crop")
@dataclasses.dataclass(frozen=True)
class CenterCrop:
  size: Size

  def __call__(self, x, rng):
    h, w = _hw(self.size)
    _check_fits(x, h, w, "center_crop")
    return _crop(x, (x.shape[0] - h) // 2, (x.shape[1] - w) // 2, h, w)


@IMAGE_OPS.register("random_crop")
@dataclasses.dataclass(frozen=True)
class RandomCrop:
  """A uniformly placed crop, after zero-padding each side by `padding` (the CIFAR recipe)."""
  size: Size
  padding: int = 0

  def __call__(self, x, rng):
    h, w = _hw(self.size)
    if self.padding:
      x = np.pad(x, ((self.padding,) * 2, (self.padding,) * 2, (0, 0)))
    _check_fits(x, h, w, "random_crop")
    top = int(rng.integers(x.shape[0] - h + 1))
    left = int(rng.integers(x.shape[1] - w + 1))
    return _crop(x, top, left, h, w)


@IMAGE_OPS.register("random_resized_crop")
@dataclasses.dataclass(frozen=True)
class RandomResizedCrop:
  """Inception-style crop (Szegedy et al. 2015, "Going deeper with convolutions"): a random
  area fraction in `scale` and log-uniform aspect ratio in `ratio`, resized to `size`; after 10
  failed draws, the largest central crop with a ratio in range."""
  size: Size
  scale: Sequence[float] = (0.08, 1.0)
  ratio: Sequence[float] = (3 / 4, 4 / 3)

  def __call__(self, x, rng):
    H, W = x.shape[:2]
    log_r = np.log(np.asarray(self.ratio, np.float64))
    for _ in range(10):
      area = H * W * rng.uniform(*self.scale)
      r = np.exp(rng.uniform(*log_r))
      w, h = int(round(np.sqrt(area * r))), int(round(np.sqrt(area / r)))
      if 0 < w <= W and 0 < h <= H:
        top, left = int(rng.integers(H - h + 1)), int(rng.integers(W - w + 1))
        return resize(_crop(x, top, left, h, w), self.size)
    r = np.clip(W / H, *self.ratio)
    w, h = (W, int(round(W / r))) if W / H < r else (int(round(H * r)), H)
    w, h = min(max(w, 1), W), min(max(h, 1), H)
    return resize(_crop(x, (H - h) // 2, (W - w) // 2, h, w), self.size)


@IMAGE_OPS.register("random_flip")
@dataclasses.dataclass(frozen=True)
class RandomFlip:
  """Horizontal flip with probability `prob`."""
  prob: float = 0.5

  def __call__(self, x, rng):
    return x[:, ::-1] if rng.random() < self.prob else x


@IMAGE_OPS.register("normalize")
@dataclasses.dataclass(frozen=True)
class Normalize:
  """(x - mean) / std per channel; one value broadcasts over all channels."""
  mean: Sequence[float]
  std: Sequence[float]

  def __call__(self, x, rng):
    mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
    if np.any(std <= 0):
      raise ValueError(f"normalize: std={list(self.std)} must be positive.")
    return (x - mean) / std


@IMAGE_OPS.register("to_rgb")
@dataclasses.dataclass(frozen=True)
class ToRGB:
  """Grey [h, w, 1] -> [h, w, 3] (e.g. MNIST into an RGB image encoder); RGB passes through."""

  def __call__(self, x, rng):
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def build_op_list(registry: Registry, specs, key: str) -> list:
  """specs: names or {"op": name, **options} dicts -> constructed ops, in order."""
  if isinstance(specs, (str, Mapping)):
    specs = [specs]
  ops = []
  for i, spec in enumerate(specs or ()):
    if isinstance(spec, str):
      ops.append(registry.build(spec, key=f"{key}[{i}]"))
    elif isinstance(spec, Mapping):
      options = dict(spec)
      if "op" not in options:
        raise ConfigError(f"{key}[{i}]={options!r} has no 'op' key; write e.g. "
                          f"{{'op': 'resize', 'size': 64}}. Valid ops: "
                          f"{', '.join(registry.names())}.")
      ops.append(registry.build(options.pop("op"), key=f"{key}[{i}]", **options))
    else:
      raise ConfigError(f"{key}[{i}]={spec!r}; expected an op name or a dict with 'op'.")
  return ops


class ImageOps:
  """A sequence of image ops. Call with one image (uint8 [h, w, c] in 0..255, or float in
  [0, 1]) and its seed (int or tuple of ints) -> float32 image."""

  def __init__(self, specs=(), key: str = "image_ops"):
    self.ops = build_op_list(IMAGE_OPS, specs, key)

  def __call__(self, image: np.ndarray, seed) -> np.ndarray:
    x = np.asarray(image)
    if x.ndim == 2:
      x = x[..., None]
    if x.ndim != 3:
      raise ValueError(f"image has shape {x.shape}; expected [h, w, c] or [h, w].")
    x = x.astype(np.float32) / 255.0 if np.issubdtype(x.dtype, np.integer) else x.astype(np.float32)
    rng = np.random.default_rng(seed)
    for op in self.ops:
      x = op(x, rng)
    return np.ascontiguousarray(x, np.float32)

  def batch(self, images, seeds) -> np.ndarray:
    """Images (a list or an array [n, h, w, c]) and n seeds -> float32 [n, h', w', c']."""
    out = [self(im, s) for im, s in zip(images, seeds)]
    shapes = {o.shape for o in out}
    if len(shapes) > 1:
      raise ValueError(f"images end with different shapes {sorted(shapes)}; add a resize or "
                       "crop op (resize, center_crop, random_resized_crop) to image_ops.")
    return np.stack(out) if out else np.zeros((0, 0, 0, 0), np.float32)
