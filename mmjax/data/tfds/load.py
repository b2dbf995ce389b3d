"""Reading prepared tensorflow-datasets splits without ever downloading.

TensorFlow is imported on first use only, so `import mmjax.data.tfds` stays cheap. Every load
passes download=False: a dataset that is not prepared in `data_dir` is an error that says how
to prepare it, never a silent multi-gigabyte download in the middle of a run.
"""

from typing import Optional

import numpy as np


def tfds_module():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def load(name: str, split, data_dir: Optional[str] = None, **kwargs):
  """tfds.load(name, split) as a tf.data.Dataset of example dicts."""
  tfds = tfds_module()
  try:
    return tfds.load(name, split=split, data_dir=data_dir, download=False, try_gcs=False,
                     **kwargs)
  except (AssertionError, FileNotFoundError) as e:  # tfds asserts the files exist.
    where = data_dir or "the default data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)"
    raise FileNotFoundError(
        f"tfds dataset {name!r} (split {split}) is not prepared in {where}: {e}. Prepare it "
        f"once, where downloading is allowed: `tfds build {name.split('/')[0]} "
        f"--data_dir DIR`, then pass data_dir=DIR.") from None


def class_names(name: str, data_dir: Optional[str] = None, feature: str = "label") -> list:
  """The ClassLabel names of a dataset's `feature`, from its builder's metadata."""
  tfds = tfds_module()
  return list(tfds.builder(name, data_dir=data_dir, try_gcs=False).info.features[feature].names)


def as_arrays(name: str, split, keys, data_dir: Optional[str] = None) -> dict:
  """A whole split materialised as numpy arrays {key: [n, ...]} (fixed-shape features only;
  for small datasets such as mnist, cifar10)."""
  ds = load(name, split, data_dir)
  missing = [k for k in keys if k not in ds.element_spec]
  if missing:
    raise ValueError(f"tfds {name!r} has no feature(s) {missing}; it has "
                     f"{sorted(ds.element_spec)}.")
  # Chunks rather than batch_size=-1, which needs the split size in the metadata.
  chunks = list(tfds_module().as_numpy(ds.map(lambda ex: {k: ex[k] for k in keys}).batch(4096)))
  return {k: np.concatenate([c[k] for c in chunks]) for k in keys}


def as_lists(name: str, split, keys, data_dir: Optional[str] = None) -> dict:
  """A whole split materialised as lists {key: [n items]} (variable-shape features, e.g.
  spoken_digit's clips)."""
  out = {k: [] for k in keys}
  for ex in tfds_module().as_numpy(load(name, split, data_dir)):
    for k in keys:
      out[k].append(ex[k])
  return out
