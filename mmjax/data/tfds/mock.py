"""Offline stand-ins for tfds datasets, for tests, smoke runs and benchmarks.

`tfds.testing.mock_data(num_examples=...)` makes random examples from a dataset's feature spec,
which works for mnist, cifar10 and spoken_digit but not for coco_captions (its random caption
sequences get mismatched lengths). `mock_coco_captions` fills that gap with COCO-like examples
that go through tfds' real encode (JPEG) and decode path: images of varying sizes and 5
captions per image that name it ("caption 2 of image 107").
"""

import contextlib
import os
import threading
from unittest import mock

import numpy as np

_DATA_DIR_LOCK = threading.Lock()


class _DataDirExists:
  """Stands in for tfds' `test_utils.MockFs` inside `mock_data`. MockFs reroots every gfile path
  of the whole process while a dataset opens, only so that the (fake) data_dir exists; a file
  write of another thread at that moment (an async orbax checkpoint save, say) then lands in the
  wrong place. This creates the data_dir's marker file for real instead and patches nothing."""

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return False

  def add_file(self, path, content=""):
    with _DATA_DIR_LOCK:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      if not os.path.exists(path):
        with open(path, "w") as f:
          f.write(content or "")


def _plain(x):
  """encode_example output (lists of 0-d object arrays) -> what tf.data accepts."""
  if isinstance(x, dict):
    return {k: _plain(v) for k, v in x.items()}
  if isinstance(x, list):
    return np.array([np.asarray(v).item() for v in x])
  if isinstance(x, np.ndarray) and x.dtype == object:
    return x.item()
  return x


def coco_caption(image_id: int, j: int) -> str:
  return f"caption {j} of image {image_id}"


@contextlib.contextmanager
def mock_coco_captions(num_examples: int = 10, sides=(16, 40), num_distinct=None, seed=0):
  """Within the block, tfds coco_captions splits hold `num_examples` examples (image ids
  100, 101, ...) with random image sides in [sides[0], sides[1]). Examples are encoded once;
  num_distinct (default all) repeats a few distinct images, for cheap large benchmarks. Inside
  a tfds.testing.mock_data block, other datasets keep its random examples."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  cache = {}

  def encoded(feats):
    if "examples" not in cache:
      rng = np.random.default_rng(seed)
      cache["examples"] = []
      for i in range(min(num_examples, num_distinct or num_examples)):
        h, w = rng.integers(sides[0], sides[1], 2)
        cache["examples"].append(_plain(feats.encode_example({
            "image": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            "image/filename": f"{i}.jpg", "image/id": 100 + i, "objects": [],
            "captions": [{"id": 5 * i + j, "text": coco_caption(100 + i, j)} for j in range(5)]})))
    return cache["examples"]

  from tensorflow_datasets.core import dataset_builder  # pylint: disable=g-import-not-at-top
  # Other datasets read as they did before the block: random examples inside an enclosing
  # tfds.testing.mock_data (so an experiment can read mock COCO and mock cifar10 in one run).
  others = dataset_builder.FileReaderBuilder._as_dataset  # pylint: disable=protected-access

  def as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False, **kwargs):
    if self.name != "coco_captions":
      return others(self, split, decoders=decoders, read_config=read_config,
                    shuffle_files=shuffle_files, **kwargs)
    feats = self.info.features
    examples = encoded(feats)

    def generate():
      for i in range(num_examples):
        yield examples[i % len(examples)]

    spec = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype),
                                 feats.get_serialized_info())
    ds = tf.data.Dataset.from_generator(generate, output_signature=spec)
    ds = ds.apply(tf.data.experimental.assert_cardinality(num_examples))
    return ds.map(lambda ex: feats.decode_example(ex, decoders=decoders))

  from tensorflow_datasets.testing import test_utils  # pylint: disable=g-import-not-at-top
  with tfds.testing.mock_data(as_dataset_fn=as_dataset, policy=tfds.testing.MockPolicy.USE_CODE), \
      mock.patch.object(test_utils, "MockFs", _DataDirExists):
    yield
