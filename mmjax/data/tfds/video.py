"""Video datasets of tensorflow-datasets as data sources: `ucf101` (101 human actions, Soomro et
al. 2012) and `moving_mnist` (two digits bouncing in 64 x 64, Srivastava et al. 2015).

  --config.data.source.name=ucf101 --config.data.source.ucf101.data_dir=DIR

Examples are served by index, as the manifest source serves them, with the fields
  video <- float32 [frames, image_size, image_size, 3] in [0, 1]: `frames` spread over the clip
           (or every `frame_stride`-th from its start, video_ops.sample_indices), each frame's
           shorter side resized to image_size, then the centre crop; grey frames become RGB
  label <- the class id (ucf101 only: moving_mnist has no labels)
A split is read once, when first used: only the sampled frames are decoded (tfds keeps a video
as one encoded image per frame) and kept as uint8, frames x image_size^2 x 3 bytes per clip
(8 x 64 x 64: 98 KB, so UCF101's 9,537 train clips take 0.9 GB).

Splits: ucf101 train = the first official split's train list minus its first val_fraction
(val), test = its test list (tfds configs ucf101_1..3 are the three official splits; tfds'
ucf101_1_256 stores frames at 256 px). UCF101 groups clips of one actor; the official lists
keep a group on one side, the val slice does not. moving_mnist's only split, 10,000 sequences of
20 frames, is cut into train / val / test by `fractions`.
"""

import dataclasses
import functools
from typing import Optional, Sequence

import numpy as np

from mmjax.data.image_ops import ImageOps, decode_image
from mmjax.data.sources import SOURCES
from mmjax.data.tfds import load
from mmjax.data.video_ops import sample_indices, sampling_error
from mmjax.registry import ConfigError


@dataclasses.dataclass(frozen=True)
class TfdsVideo:
  """A tfds video dataset served by index (see the module docstring). splits: (("train", the
  tfds split string it is read from), ("val", ...), ("test", ...))."""
  name: str
  video_key: str
  label_key: Optional[str]
  splits: tuple
  data_dir: Optional[str] = None
  seed: int = 0
  image_size: int = 32
  frames: int = 8
  frame_stride: Optional[int] = None

  def __post_init__(self):
    error = sampling_error(self.frames, self.frame_stride)
    if error:
      raise ConfigError(f"data.source.{self.name.split('/')[0]} (frames, frame_stride): {error}")

  def _read(self, split: str) -> dict:
    """{"video": uint8 [n, frames, s, s, 3], "label": int32 [n]} of a split, read once."""
    if split not in dict(self.splits):
      raise ValueError(f"split={split!r}; {self.name} has {', '.join(dict(self.splits))}.")
    return _read_split(self, split)

  def size(self, split: str) -> int:
    return len(self._read(split)["video"])

  def require(self, fields, split: str = "train") -> None:
    """Fails naming a field this dataset does not have (before any training)."""
    have = ("video", "label", "key") if self.label_key else ("video", "key")
    missing = [f for f in fields if f not in have]
    if missing:
      raise ConfigError(f"tfds {self.name} serves {', '.join(have)}; this experiment also "
                        f"reads {', '.join(missing)}.")

  def example(self, split: str, index: int, fields=("video", "label")) -> dict:
    self.require(fields)
    data = self._read(split)
    i = int(index) % len(data["video"])
    values = {"video": lambda: data["video"][i].astype(np.float32) / 255.0,
              "label": lambda: int(data["label"][i]), "key": lambda: f"{split}/{i}"}
    return {f: values[f]() for f in fields}

  def labels(self, split: str) -> np.ndarray:
    self.require(["label"])
    return self._read(split)["label"]

  def class_names(self) -> Optional[list]:
    if not self.label_key:
      return None
    return load.class_names(self.name, self.data_dir, self.label_key)

  def clip(self, encoded_frames: Sequence[bytes]) -> np.ndarray:
    """One example's encoded frames -> uint8 [frames, s, s, 3]: only the sampled ones decoded."""
    if not len(encoded_frames):
      raise ValueError(f"tfds {self.name}: a clip without frames.")
    chosen = sample_indices(len(encoded_frames), self.frames, self.frame_stride)
    ops, s = self._ops, self.image_size
    return np.stack([np.round(ops(decode_image(encoded_frames[j], min_side=2 * s), 0) * 255)
                     for j in chosen]).astype(np.uint8)

  @functools.cached_property
  def _ops(self):
    s = self.image_size
    return ImageOps([{"op": "resize_shorter", "size": s}, {"op": "center_crop", "size": s}])


@functools.lru_cache(maxsize=None)
def _read_split(source: TfdsVideo, split: str) -> dict:
  tfds = load.tfds_module()
  # Frames stay encoded until chosen: a UCF101 clip holds ~190 JPEGs, 8 of which are used.
  tfds_split = dict(source.splits)[split]
  ds = load.load(source.name, tfds_split, source.data_dir,
                 decoders={source.video_key: tfds.decode.SkipDecoding()})
  videos, labels = [], []
  for ex in tfds.as_numpy(ds):
    videos.append(source.clip(ex[source.video_key]))
    labels.append(ex[source.label_key] if source.label_key else -1)
  if not videos:
    raise ValueError(f"tfds {source.name} split {tfds_split!r} is empty.")
  return {"video": np.stack(videos), "label": np.asarray(labels, np.int32)}


@SOURCES.register("ucf101")
def ucf101(seed: int = 0, image_size: int = 32, frames: int = 8,
           frame_stride: Optional[int] = None, data_dir: str = "", config: str = "ucf101_1_256",
           val_fraction: float = 0.1) -> TfdsVideo:
  """UCF101 (see the module docstring); config: the tfds builder config (official split 1-3)."""
  if not 0 < val_fraction < 1:
    raise ConfigError(f"data.source.ucf101.val_fraction={val_fraction}; valid: in (0, 1).")
  cut = f"{round(100 * val_fraction)}%"
  splits = (("train", f"train[{cut}:]"), ("val", f"train[:{cut}]"), ("test", "test"))
  return TfdsVideo(f"ucf101/{config}", "video", "label", splits, data_dir or None, seed,
                   image_size, frames, frame_stride)


@SOURCES.register("moving_mnist")
def moving_mnist(seed: int = 0, image_size: int = 64, frames: int = 8,
                 frame_stride: Optional[int] = None, data_dir: str = "",
                 fractions: Sequence[float] = (0.8, 0.1)) -> TfdsVideo:
  """Moving MNIST's 10,000 sequences cut into train / val / test (fractions: train, val; the
  rest test). Unlabelled: it serves video (and key) only."""
  train, val = (round(100 * f) for f in fractions)
  if train <= 0 or val <= 0 or train + val >= 100:
    raise ConfigError(f"data.source.moving_mnist.fractions={tuple(fractions)}; valid: train, "
                      "val > 0 with train + val < 1.")
  splits = (("train", f"test[:{train}%]"), ("val", f"test[{train}%:{train + val}%]"),
            ("test", f"test[{train + val}%:]"))
  return TfdsVideo("moving_mnist", "image_sequence", None, splits, data_dir or None, seed,
                   image_size, frames, frame_stride)
