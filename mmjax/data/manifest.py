"""A dataset of your own files, listed in a JSONL or CSV manifest.

  {"image": "imgs/0001.jpg", "text": "a dog on a beach", "audio": "wav/0001.wav", "label": 3}
  {"video": "clips/0001.mp4", "label": "typing"}

  image,text,label                  <- CSV: a header row naming the fields
  imgs/0001.png,a dog on a beach,dog

Each row has any subset of the fields image (path), video (mp4, webm, gif, ... path), text,
audio (WAV or FLAC path), label (an integer class id, or a class name: names get ids in sorted
order), and for visual question answering question, answer and question_type (strings); every
row must have the same fields. Relative paths are resolved against the manifest's folder.
Loading validates every row - files exist and decode (a video: opens, has a video stream and a
first frame), images and video frames within max_pixels, texts are non-empty, labels have one
type - and reports the line and field of each problem. With on_bad_example="skip", bad rows are
dropped, logged one by one and counted by reason in `.skipped`; an error in the manifest itself
(unreadable file, unknown column, no rows left) always raises.

The distinct files are decoded in `workers` threads (Pillow, scipy and FFmpeg release the GIL),
and the ones that decode are remembered beside the manifest (mmjax/data/validation_cache.py), so
a later load decodes only new, changed or bad files; cache_validation=False turns it off.

  ds = ManifestDataset("data/train.jsonl", image_ops=[{"op": "resize", "size": 64}])
  batches = Batches(ds.make_batch, 128, num_examples=len(ds), with_positions=True)
"""

import collections
import csv
import dataclasses
import io
import json
import os
import stat
import warnings
from typing import Any, Optional, Sequence

from absl import logging
import numpy as np

from mmjax.data import validation_cache
from mmjax.data.audio_ops import AudioOps
from mmjax.data.image_ops import ImageOps, decode_image
from mmjax.data.validation_cache import FILE_FIELDS
from mmjax.data.video_ops import decode_video, sampling_error

FIELDS = ("image", "text", "audio", "label", "question", "answer", "question_type", "video")
TEXT_FIELDS = ("text", "question", "answer", "question_type")
ON_BAD = ("error", "skip")
AUDIO_SUFFIXES = (".wav", ".flac")


class BadExample(ValueError):
  """One row is unusable; `reason` is a short key ("missing_file", "empty_text", ...)."""

  def __init__(self, line: int, field: str, reason: str, detail: str):
    self.line, self.field, self.reason = line, field, reason
    where = f"line {line}" + (f", field {field!r}" if field else "")
    super().__init__(f"{where}: {detail}")


class MissingDependency(RuntimeError):
  """A file format needs a package that is not installed (an environment problem, never a
  reason to skip a row)."""


def decode_audio(path: str):
  """-> (samples [n] or [n, channels] as stored, sample rate). WAV via scipy.io.wavfile; FLAC
  via soundfile when installed."""
  if path.lower().endswith(".flac"):
    try:
      import soundfile  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise MissingDependency(
          f"{path} is FLAC, which needs the soundfile package: "
          "`pip install soundfile` (or convert the file to WAV).") from None
    try:
      wave, rate = soundfile.read(path, dtype="float32", always_2d=False)
    except Exception as e:  # soundfile raises its own error types.
      raise ValueError(f"cannot decode {path} as FLAC: {e}") from None
    if wave.size == 0:
      raise ValueError(f"{path} is a FLAC file with no samples.")
    return wave, int(rate)
  import scipy.io.wavfile  # pylint: disable=g-import-not-at-top
  # Unknown metadata chunks are harmless. A process-wide filter, (re)added on every call (it is
  # idempotent): catch_warnings() is not thread-safe, and clips decode in threads.
  warnings.filterwarnings("ignore", category=scipy.io.wavfile.WavFileWarning)
  try:
    rate, wave = scipy.io.wavfile.read(path)
  except Exception as e:  # wavfile raises ValueError, EOFError, struct.error, ...
    raise ValueError(f"cannot decode {path} as WAV: {e}") from None
  if wave.size == 0:
    raise ValueError(f"{path} is a WAV file with no samples.")
  if wave.dtype.kind == "f" and not np.isfinite(wave).all():
    raise ValueError(f"{path} has non-finite samples (NaN or inf).")
  return wave, int(rate)


def file_error(field: str, path: str, max_pixels: Optional[int]) -> Optional[str]:
  """Decodes the `field` ("image", "video" or "audio") file at `path`: None if usable, else why
  not. A video is opened and its first frame decoded (a whole clip would cost seconds)."""
  try:
    if field == "image":
      decode_image(path, max_pixels=max_pixels)
    elif field == "video":
      decode_video(path, num_frames=1, stride=1, max_pixels=max_pixels)
    else:
      if not path.lower().endswith(AUDIO_SUFFIXES):
        raise ValueError(f"{path}: audio must be WAV or FLAC ({', '.join(AUDIO_SUFFIXES)})")
      decode_audio(path)
    return None
  except ValueError as e:
    return str(e)


def _read_rows(path: str):
  """-> [(line number, row dict)] from a .jsonl or .csv file (CSV values are strings)."""
  if not path.endswith((".csv", ".jsonl", ".json")):
    raise ValueError(f"manifest {path}: unknown format; valid: .jsonl, .csv.")
  with open(path, "rb") as f:
    data = f.read()
  if path.endswith(".csv"):
    try:
      text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
      line = data[:e.start].count(b"\n") + 1
      raise ValueError(f"{path} line {line}: not UTF-8 text ({e.reason} at byte {e.start}); "
                       f"save the manifest as UTF-8.") from None
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for row in reader:
      if None in row:
        raise ValueError(f"{path} line {reader.line_num}: more values than the header's "
                         f"{len(reader.fieldnames)} columns.")
      rows.append((reader.line_num, {k: v for k, v in row.items()}))
    return rows, list(reader.fieldnames or [])
  rows = []
  for i, raw in enumerate(data.split(b"\n"), start=1):
    try:
      line = raw.decode("utf-8-sig" if i == 1 else "utf-8")
    except UnicodeDecodeError as e:
      rows.append((i, BadExample(i, "", "bad_encoding",
                                 f"not UTF-8 text ({e.reason} at column {e.start + 1})")))
      continue
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      rows.append((i, BadExample(i, "", "invalid_json", f"not valid JSON ({e.msg})")))
      continue
    if not isinstance(row, dict):
      rows.append((i, BadExample(i, "", "invalid_json", "a row must be a JSON object")))
      continue
    rows.append((i, row))
  return rows, None


@dataclasses.dataclass
class ManifestDataset:
  """Random-access dataset of a manifest's rows. make_batch(indices) -> dict with, for the
  fields present: images float32 [n, h, w, c] (after image_ops), videos float32 [n, num_frames,
  h, w, c] (each frame through image_ops with its clip's seed: one crop for the whole clip),
  texts str [n] and tokens int32 [n, max_len] (with a tokenizer), audio float32 [n, samples]
  (after audio_ops), labels int32 [n].

  sample_rate, when set, resamples every clip to it before audio_ops. Video frames are sampled
  as video_ops.decode_video samples them: num_frames spread over the clip, or with
  frame_stride / frame_fps every stride-th frame / fps frames a second from its start.
  """
  path: str
  on_bad_example: str = "error"
  image_ops: Sequence[Any] = ()
  audio_ops: Sequence[Any] = ()
  sample_rate: Optional[int] = None
  tokenizer: Any = None
  max_len: int = 32
  num_frames: int = 8
  frame_stride: Optional[int] = None
  frame_fps: Optional[float] = None
  seed: int = 0
  # Larger images and video frames are bad rows, found from their headers (Pillow's own warning
  # threshold).
  max_pixels: int = 89_478_485
  # Threads decoding files at load; None: one per CPU.
  workers: Optional[int] = None
  # Remember which files decoded (by size and mtime) beside the manifest; see the docstring.
  cache_validation: bool = True

  def __post_init__(self):
    if self.on_bad_example not in ON_BAD:
      raise ValueError(f"on_bad_example={self.on_bad_example!r}; valid: {', '.join(ON_BAD)}.")
    error = sampling_error(self.num_frames, self.frame_stride, self.frame_fps)
    if error:
      raise ValueError(f"frame sampling: {error}")
    self._image_ops = ImageOps(self.image_ops, "image_ops")
    resample = [{"op": "resample", "rate": self.sample_rate}] if self.sample_rate else []
    self._audio_ops = AudioOps(resample + list(self.audio_ops), "audio_ops")
    self.root = os.path.dirname(os.path.abspath(self.path))
    self.skipped = collections.Counter()  # reason -> rows dropped
    self.skipped_rows = []  # (line, field, message)
    # (field, path) -> None if it decodes, else the error: a file that several rows name (an
    # image with five captions) is decoded once at load.
    self._decode_errors = {}
    self._files = {}  # (field, value as written) -> its path, for the files that exist
    self.rows, self.fields = self._load()

  def __len__(self):
    return len(self.rows)

  def _load(self):
    rows, header = _read_rows(self.path)
    if header is not None:  # an unknown CSV column would fail every row: say it once.
      unknown = [h for h in header if h not in FIELDS]
      if unknown:
        raise ValueError(f"manifest {self.path}: unknown column(s) {unknown}; valid fields: "
                         f"{', '.join(FIELDS)}.")
    self._validate_files(rows)
    fields = None
    good = []
    for line, row in rows:
      try:
        if isinstance(row, BadExample):
          raise row
        if fields is None:  # the first readable row fixes the manifest's fields.
          fields = tuple(f for f in FIELDS if f in row)
          if not fields:
            raise BadExample(line, "", "missing_field",
                             f"the row has none of the fields {', '.join(FIELDS)}")
        good.append(self._check_row(line, row, fields))
      except BadExample as e:
        if self.on_bad_example == "error":
          raise
        self.skipped[e.reason] += 1
        self.skipped_rows.append((e.line, e.field, str(e)))
        logging.warning("manifest %s: skipping %s", self.path, e)
    if self.skipped:
      logging.warning("manifest %s: skipped %d of %d rows: %s", self.path,
                      sum(self.skipped.values()), len(rows), dict(self.skipped))
    if not good:
      raise ValueError(f"manifest {self.path} has no usable rows"
                       + (f" (skipped: {dict(self.skipped)})." if self.skipped else "."))
    return self._assign_labels(good), fields

  def _check_row(self, line: int, row: dict, fields: tuple) -> dict:
    for k in row:
      if k not in FIELDS:
        raise BadExample(line, k, "unknown_field",
                         f"unknown field {k!r}; valid fields: {', '.join(FIELDS)}")
    for k in fields:
      if k not in row or row[k] is None:
        raise BadExample(line, k, "missing_field",
                         f"missing {k!r}, which the manifest's first row has")
    extra = [k for k in row if k not in fields]
    if extra:
      raise BadExample(line, extra[0], "unknown_field",
                       f"field {extra[0]!r} is not in the manifest's first row "
                       f"(fields: {', '.join(fields)})")
    out = {"line": line}
    for k in FILE_FIELDS:
      if k in fields:
        out[k] = self._check_file(line, k, row[k])
    for k in TEXT_FIELDS:
      if k in fields:
        if not isinstance(row[k], str) or not row[k].strip():
          raise BadExample(line, k, "empty_text", f"{k} must be a non-empty string, got "
                           f"{row[k]!r}")
        out[k] = row[k]
    if "label" in fields:
      out["label"] = self._check_label(line, row["label"])
    return out

  def _check_file(self, line, field, value):
    if not isinstance(value, str) or not value:
      raise BadExample(line, field, "missing_file", f"expected a file path, got {value!r}")
    path = self._files.get((field, value))  # found by _validate_files: exists, checked
    if path is None:
      path = value if os.path.isabs(value) else os.path.join(self.root, value)
      if not os.path.isfile(path):
        raise BadExample(line, field, "missing_file", f"no such file: {path}")
      if (field, path) not in self._decode_errors:  # appeared after _validate_files looked
        self._decode_errors[field, path] = file_error(field, path, self.max_pixels)
    if self._decode_errors[field, path] is not None:
      raise BadExample(line, field, f"undecodable_{field}", self._decode_errors[field, path])
    return path

  def _validate_files(self, rows):
    """Fills self._decode_errors for every file the rows name, decoding in threads the ones the
    validation cache does not vouch for. Rows are checked (and errors raised, in line order)
    afterwards."""
    found = {}  # (field, path) -> (cache key: the path as the manifest writes it, [size, mtime])
    for _, row in rows:
      if not isinstance(row, dict):
        continue
      for field in FILE_FIELDS:
        value = row.get(field)
        if not isinstance(value, str) or not value or (field, value) in self._files:
          continue
        path = value if os.path.isabs(value) else os.path.join(self.root, value)
        if (field, path) not in found:
          try:
            st = os.stat(path)
          except OSError:  # missing: _check_file reports it on its row.
            continue
          if not stat.S_ISREG(st.st_mode):
            continue
          found[field, path] = (value, [st.st_size, st.st_mtime_ns])
        self._files[field, value] = path
    self._decode_errors.update(validation_cache.check_files(
        self.path, found, file_error, self.max_pixels, self.workers, self.cache_validation))

  @staticmethod
  def _check_label(line, value):
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
      value = int(value)  # CSV cells are strings.
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "" or (
        isinstance(value, int) and value < 0):
      raise BadExample(line, "label", "bad_label", f"label must be a non-negative integer or a "
                       f"class name, got {value!r} ({type(value).__name__})")
    return value

  def _assign_labels(self, rows):
    """Class names -> ids in sorted order; a manifest may not mix names and integers."""
    if "label" not in rows[0]:
      self.class_names = None
      return rows
    kinds = {type(r["label"]) for r in rows}
    if len(kinds) > 1:
      first = next(r for r in rows if not isinstance(r["label"], type(rows[0]["label"])))
      raise ValueError(f"manifest {self.path} line {first['line']}, field 'label': "
                       f"{first['label']!r} mixes class names and integer ids; use one kind.")
    if kinds == {str}:
      self.class_names = sorted({r["label"] for r in rows})
      ids = {n: i for i, n in enumerate(self.class_names)}
      for r in rows:
        r["label"] = ids[r["label"]]
    else:
      self.class_names = None
    return rows

  def video(self, path: str) -> np.ndarray:
    """uint8 [num_frames, h, w, 3]: the file's frames, sampled as configured."""
    return decode_video(path, self.num_frames, self.frame_stride, self.frame_fps,
                        max_pixels=self.max_pixels)

  def make_batch(self, indices, positions=None) -> dict:
    """indices: int [n] rows. Random ops are seeded by (seed, positions), default the indices;
    pass the examples' positions in the run to vary augmentations between epochs."""
    idx = np.asarray(indices, np.int64)
    seeds = [(self.seed, int(p)) for p in (idx if positions is None else positions)]
    rows = [self.rows[int(i)] for i in idx]
    out = {}
    if "image" in self.fields:
      out["images"] = self._image_ops.batch(
          [decode_image(r["image"], max_pixels=self.max_pixels) for r in rows], seeds)
    if "video" in self.fields:
      out["videos"] = np.stack([self._image_ops.batch(self.video(r["video"]),
                                                      [s] * self.num_frames)
                                for r, s in zip(rows, seeds)])
    if "text" in self.fields:
      out["texts"] = np.array([r["text"] for r in rows])
      if self.tokenizer is not None:
        out["tokens"] = self.tokenizer.encode_batch([r["text"] for r in rows], self.max_len)
    if "audio" in self.fields:
      clips = [decode_audio(r["audio"]) for r in rows]
      out["audio"] = self._audio_ops.batch([c[0] for c in clips], [c[1] for c in clips], seeds)
    if "label" in self.fields:
      out["labels"] = np.array([r["label"] for r in rows], np.int32)
    return out
