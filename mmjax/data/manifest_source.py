"""Your own files as a data source: `config.data.source.name = "manifest"`.

  --config.data.source.name=manifest --config.data.source.manifest.dir=data/f8k

`dir` holds one manifest per split (mmjax/data/manifest.py: JSONL or CSV rows of image, text,
audio, label; `python -m mmjax.data.prepare` writes them from downloaded layouts), by default
train.jsonl, val.jsonl and test.jsonl. Each split is read and validated when first used (every
file opened and decoded, or found unchanged in the manifest's validation cache unless
validation_cache=False; a bad row fails naming its file, line and field, or is skipped with
on_bad_example="skip").

The source serves examples by index as the synthetic world does, with the fields an experiment
asks for, from the manifest's fields:
  image   <- image: float32 [image_size, image_size, channels] in [0, 1]; the shorter side
             resized to image_size, then the centre crop; channels=1 gives grey (ITU-R 601 luma)
  video   <- video: float32 [frames, image_size, image_size, channels], each frame as an image;
             `frames` spread over the clip, or every `frame_stride`-th frame / `frame_fps` a
             second from its start (mmjax/data/video_ops.py)
  caption <- text;   transcript <- text's words
  audio   <- audio: float32 [samples] at sample_rate, padded or cropped to audio_seconds
  label   <- label (class names become ids in sorted order)
  qa      <- question, answer (and question_type, else "all"): "question", "answer" str,
             "answer_id" int32 (the answer's place in answers(), the train split's sorted
             answers; -1 for an answer no train row has), "question_type" str
  key     <- the image (else video) path (captions of one file describe the same thing), else
             the text

Experiments that read whole splits (av_mnist) take `source.splits()`: per split an object with
make_batch(indices) -> {"images", "audio", "labels"}, `labels` and len(), as the tfds AV-MNIST.

cache=True keeps each decoded, resized image, video and audio clip in memory (float32
image_size^2 x 3 per distinct image file: 48 KB at 64 px, 290 MB for Flickr8k's 6,000 images;
`frames` times that per video), so that epochs after the first skip decoding, the pipeline's
main cost (a 10 s 720p clip takes seconds); for small datasets. The ops here are
deterministic (resize, centre crop, resample, pad or crop), so cached and decoded are equal.
"""

import dataclasses
import functools
import os
from typing import Optional

import numpy as np

from mmjax.data.audio_ops import AudioOps
from mmjax.data.image_ops import ImageOps, decode_image
from mmjax.data.manifest import ManifestDataset, decode_audio
from mmjax.data.sources import SOURCES
from mmjax.data.tokenizer import WordTokenizer
from mmjax.data.video_ops import decode_video, sampling_error
from mmjax.registry import ConfigError

# Example field -> the manifest field it is read from.
# RGB -> grey weights (ITU-R 601, as Pillow's convert("L")); a grey file stays exactly itself.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
FIELD_OF = {"image": "image", "video": "video", "caption": "text", "transcript": "text",
            "audio": "audio", "label": "label", "qa": ("question", "answer"), "key": None}


def needs(field: str) -> tuple:
  """The manifest fields example field `field` is read from."""
  read = FIELD_OF[field]
  return () if read is None else (read,) if isinstance(read, str) else read


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
  channels: int = 3
  frames: int = 8
  frame_stride: Optional[int] = None
  frame_fps: Optional[float] = None
  # Remember which files decoded beside each manifest (ManifestDataset.cache_validation).
  validation_cache: bool = True
  cache: bool = False

  def __post_init__(self):
    if self.channels not in (1, 3):
      raise ConfigError(f"data.source.manifest.channels={self.channels}; valid: 3 (RGB) or 1 "
                        "(grey).")
    error = sampling_error(self.frames, self.frame_stride, self.frame_fps)
    if error:
      raise ConfigError(f"data.source.manifest (frames, frame_stride, frame_fps): {error}")
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
    return _read(self.path(split), self.on_bad_example, self.max_pixels, self.validation_cache)

  def size(self, split: str) -> int:
    """How many examples `split` has (the synthetic world, unbounded, has no size)."""
    return len(self.dataset(split))

  def require(self, fields, split: str = "train") -> None:
    """Fails naming the manifest fields missing for example `fields` (before any training)."""
    have = self.dataset(split).fields
    missing = sorted({m for f in fields for m in needs(f) if m not in have})
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
      if any(m not in row for m in needs(f)):
        self.require([f], split)
      if f == "image":
        out[f] = self._image(row["image"], index)
      elif f == "video":
        out[f] = self._video(row["video"], index)
      elif f == "caption":
        out[f] = row["text"]
      elif f == "transcript":
        out[f] = WordTokenizer.words(row["text"])
      elif f == "audio":
        out[f] = self._audio(row["audio"], index)
      elif f == "label":
        out[f] = self._label_id(split, row["label"])
      elif f == "qa":
        answers = self._answer_ids
        out.update(question=row["question"], answer=row["answer"],
                   answer_id=np.int32(answers.get(row["answer"], -1)),
                   question_type=row.get("question_type", "all"))
      else:
        out[f] = row.get("image", row.get("video", row.get("text")))
    return out

  def _image(self, path: str, index: int) -> np.ndarray:
    """float32 [image_size, image_size, channels]; from the cache (read-only) with cache=True."""
    def decode():
      # JPEGs decode downscaled in the decoder while the shorter side stays >= 2x the target.
      image = decode_image(path, min_side=2 * self.image_size, max_pixels=self.max_pixels)
      image = self._image_ops(image, (self.seed, int(index)))
      return image @ LUMA[:, None] if self.channels == 1 else image
    return self._cached(("image", path), decode)

  def _video(self, path: str, index: int) -> np.ndarray:
    """float32 [frames, image_size, image_size, channels]; from the cache with cache=True."""
    def decode():
      video = decode_video(path, self.frames, self.frame_stride, self.frame_fps,
                           max_pixels=self.max_pixels)
      video = np.stack([self._image_ops(f, (self.seed, int(index))) for f in video])
      return video @ LUMA[:, None] if self.channels == 1 else video
    return self._cached(("video", path), decode)

  def _audio(self, path: str, index: int) -> np.ndarray:
    """float32 [samples] at sample_rate; from the cache (read-only) with cache=True."""
    def decode():
      wave, rate = decode_audio(path)
      return self._audio_ops(wave, rate, (self.seed, int(index)))[0]
    return self._cached(("audio", path), decode)

  def _cached(self, key, decode) -> np.ndarray:
    value = self._decoded.get(key) if self.cache else None
    if value is None:
      value = decode()
      if self.cache:
        value.setflags(write=False)  # shared by every batch that reads this file
        self._decoded[key] = value  # a dict write is atomic; a race only decodes twice
    return value

  @functools.cached_property
  def _decoded(self) -> dict:
    return {}

  def labels(self, split: str) -> np.ndarray:
    """int32 [size(split)] the split's label ids (the train split's ids), from the rows alone."""
    self.require(["label"], split)
    rows = self.dataset(split).rows
    return np.array([self._label_id(split, r["label"]) for r in rows], np.int32)

  def splits(self, fields=("image", "audio", "label")) -> dict:
    """{"train", "val", "test": ManifestSplit}: each split whole, batched by index."""
    self.require(fields)
    return {s: ManifestSplit(self, s, tuple(fields)) for s in ("train", "val", "test")}

  def vocabulary(self, questions_too: bool = False) -> list:
    """The words of the train split's texts (with questions_too, of its questions), sorted."""
    ds = self.dataset("train")
    self.require(["qa"] if questions_too else ["caption"])
    read = [f for f in ("text", "question") if f in ds.fields and (questions_too or f == "text")]
    return sorted({w for r in ds.rows for f in read for w in WordTokenizer.words(r[f])})

  def answers(self) -> list:
    """The train split's distinct answers, sorted: the classes of a VQA model."""
    self.require(["qa"])
    return sorted({r["answer"] for r in self.dataset("train").rows})

  @functools.cached_property
  def _answer_ids(self) -> dict:
    return {a: i for i, a in enumerate(self.answers())}

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


@dataclasses.dataclass(frozen=True)
class ManifestSplit:
  """One split of a ManifestSource as a whole dataset: make_batch(indices) -> {"images": float32
  [n, s, s, channels] in [0, 1], "audio": float32 [n, samples], "labels": int32 [n]} (the fields
  read), `labels` int32 [len] without decoding any file."""
  source: ManifestSource
  split: str
  fields: tuple = ("image", "audio", "label")

  def __len__(self):
    return self.source.size(self.split)

  @functools.cached_property
  def labels(self) -> np.ndarray:
    return self.source.labels(self.split)

  @property
  def class_names(self):
    return self.source.class_names()

  def make_batch(self, indices, positions=None) -> dict:
    del positions  # the manifest source's ops are deterministic (resize and crop)
    ex = [self.source.example(self.split, int(i), self.fields) for i in indices]
    names = {"image": "images", "video": "videos", "audio": "audio", "label": "labels"}
    return {names[f]: np.stack([e[f] for e in ex]).astype(np.int32 if f == "label" else
                                                          np.float32) for f in self.fields}


@functools.lru_cache(maxsize=None)
def _read(path: str, on_bad_example: str, max_pixels: int,
          validation_cache: bool = True) -> ManifestDataset:
  return ManifestDataset(path, on_bad_example=on_bad_example, max_pixels=max_pixels,
                         cache_validation=validation_cache)
