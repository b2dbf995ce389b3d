"""Your own files as a data source: `config.data.source.name = "manifest"`.

  --config.data.source.name=manifest --config.data.source.manifest.dir=data/f8k

`dir` holds one manifest per split (mmjax/data/manifest.py: JSONL or CSV rows of image, text,
audio, label; `python -m mmjax.data.prepare` writes them from downloaded layouts), by default
train.jsonl, val.jsonl and test.jsonl. Each split is read and validated when first used (every
file opened and decoded; a bad row fails naming its file, line and field, or is skipped with
on_bad_example="skip").

The source serves examples by index as the synthetic world does, with the fields an experiment
asks for, from the manifest's fields:
  image   <- image: float32 [image_size, image_size, 3] in [0, 1]; the shorter side resized to
             image_size, then the centre crop
  caption <- text;   transcript <- text's words
  audio   <- audio: float32 [samples] at sample_rate, padded or cropped to audio_seconds
  label   <- label (class names become ids in sorted order)
  key     <- the image path (captions of one image describe the same thing), else the text

cache=True keeps each decoded, resized image in memory (float32 image_size^2 x 3 per distinct
file: 48 KB at 64 px, 290 MB for Flickr8k's 6,000 images), so that epochs after the first skip
the JPEG decode, the pipeline's main cost; for small datasets. The image ops here are
deterministic (resize, centre crop), so cached and decoded images are equal.
"""

import dataclasses
import functools
import os
from typing import Optional


from mmjax.data.audio_ops import AudioOps
from mmjax.data.image_ops import ImageOps, decode_image
from mmjax.data.manifest import ManifestDataset, decode_audio
from mmjax.data.sources import SOURCES
from mmjax.data.tokenizer import WordTokenizer
from mmjax.registry import ConfigError

# Example field -> the manifest field it is read from.
FIELD_OF = {"image": "image", "caption": "text", "transcript": "text", "audio": "audio",
            "label": "label", "key": None}


@SOURCES.register("manifest")
@dataclasses.dataclass(frozen=True)
class ManifestSource:
  """Manifests of your own files, one per split (see the module docstring)."""
  seed: int = 0
  image_size: int = 32
  sample_rate: int = 16000
  audio_seconds: Optional[float] = None
  dir: str = ""
  train: str = "train.jsonl"
  val: str = "val.jsonl"
  test: str = "test.jsonl"
  on_bad_example: str = "error"
  max_pixels: int = 89_478_485
  cache: bool = False

  def __post_init__(self):
    if not self.dir:
      raise ConfigError("data.source.manifest.dir is empty; give the folder of your train / val "
                        "/ test manifests (python -m mmjax.data.prepare writes them).")
    for split in ("train", "val", "test"):
      path = self.path(split)
      if not os.path.isfile(path):
        raise FileNotFoundError(f"no {split} manifest {path}; set data.source.manifest.{split} "
                                f"(a file in data.source.manifest.dir, .jsonl or .csv).")

  def path(self, split: str) -> str:
    if split not in ("train", "val", "test"):
      raise ValueError(f"split={split!r}; a manifest source has train, val, test.")
    return os.path.join(self.dir, getattr(self, split))

  def dataset(self, split: str) -> ManifestDataset:
    """The split's rows, read and validated once per process."""
    return _read(self.path(split), self.on_bad_example, self.max_pixels)

  def size(self, split: str) -> int:
    """How many examples `split` has (the synthetic world, unbounded, has no size)."""
    return len(self.dataset(split))

  def require(self, fields, split: str = "train") -> None:
    """Fails naming the manifest fields missing for example `fields` (before any training)."""
    have = self.dataset(split).fields
    missing = sorted({FIELD_OF[f] for f in fields if FIELD_OF[f] and FIELD_OF[f] not in have})
    if missing:
      raise ConfigError(f"{self.path(split)} has the fields {', '.join(have)}; this experiment "
                        f"also reads {', '.join(missing)}. Add them to the manifests.")

  def example(self, split: str, index: int, fields=("image", "caption")) -> dict:
    ds = self.dataset(split)
    row = ds.rows[int(index) % len(ds)]
    out = {}
    for f in fields:
      if f not in FIELD_OF:
        raise ValueError(f"field {f!r}; a manifest source has {', '.join(FIELD_OF)}.")
      if FIELD_OF[f] and FIELD_OF[f] not in row:
        self.require([f], split)
      if f == "image":
        out[f] = self._image(row["image"], index)
      elif f == "caption":
        out[f] = row["text"]
      elif f == "transcript":
        out[f] = WordTokenizer.words(row["text"])
      elif f == "audio":
        wave, rate = decode_audio(row["audio"])
        out[f] = self._audio_ops(wave, rate, (self.seed, int(index)))[0]
      elif f == "label":
        out[f] = self._label_id(split, row["label"])
      else:
        out[f] = row.get("image", row.get("text"))
    return out

  def _image(self, path: str, index: int):
    """float32 [image_size, image_size, 3]; from the cache (read-only) with cache=True."""
    image = self._decoded.get(path) if self.cache else None
    if image is None:
      # JPEGs decode downscaled in the decoder while the shorter side stays >= 2x the target.
      image = decode_image(path, min_side=2 * self.image_size, max_pixels=self.max_pixels)
      image = self._image_ops(image, (self.seed, int(index)))
      if self.cache:
        image.setflags(write=False)  # shared by every batch that reads this file
        self._decoded[path] = image  # a dict write is atomic; a race only decodes twice
    return image

  @functools.cached_property
  def _decoded(self) -> dict:
    return {}

  def vocabulary(self) -> list:
    """The words of the train split's texts, sorted."""
    ds = self.dataset("train")
    self.require(["caption"])
    return sorted({w for r in ds.rows for w in WordTokenizer.words(r["text"])})

  def class_names(self) -> Optional[list]:
    """The label names (sorted) when the manifests give names, else None."""
    return self.dataset("train").class_names

  def _label_id(self, split: str, label: int) -> int:
    """A split's label id -> the train split's, so that a class name has one id in every split
    (ManifestDataset numbers the names of each file on its own); integer ids stay as written."""
    names, train = self.dataset(split).class_names, self.dataset("train").class_names
    if names is None and train is None:
      return int(label)
    if names is None or train is None or names[label] not in train:
      shown = names[label] if names is not None else label
      raise ConfigError(f"{self.path(split)} has the label {shown!r}, which no train example "
                        f"has (train labels: {', '.join(map(str, train or ['integer ids']))}).")
    return train.index(names[label])

  @functools.cached_property
  def _image_ops(self):
    s = self.image_size
    return ImageOps([{"op": "resize_shorter", "size": s}, {"op": "center_crop", "size": s}],
                    "data.source.manifest")

  @functools.cached_property
  def _audio_ops(self):
    ops = [{"op": "resample", "rate": self.sample_rate}]
    if self.audio_seconds:
      ops.append({"op": "pad_or_crop", "length": round(self.audio_seconds * self.sample_rate)})
    return AudioOps(ops, "data.source.manifest")


@functools.lru_cache(maxsize=None)
def _read(path: str, on_bad_example: str, max_pixels: int) -> ManifestDataset:
  return ManifestDataset(path, on_bad_example=on_bad_example, max_pixels=max_pixels)
