"""AV-MNIST-style digit classification (experiments/av_mnist.py): a digit image and a spoken
digit, from the tfds datasets or your own manifests. What the experiment and the maps of its
checkpoints (mmjax/interpret/digits.py) both build: the data splits, the model, and the
parameters the experiment tests (those of the best validation epoch)."""

import os
from typing import NamedTuple

import flax.serialization

from mmjax.data import sources
from mmjax.data.tfds import av_mnist  # noqa: F401  (registers the "av_mnist" data source)
from mmjax.tasks import classification

MODALITIES = ("image", "audio")
NUM_CLASSES = 10
BEST_PARAMS, BEST_RECORD = "best_variables.msgpack", "best.json"


class Setup(NamedTuple):
  modalities: tuple
  splits: dict       # {"train", "val", "test"}: each with make_batch(indices), labels, len
  num_classes: int
  model: classification.MultimodalClassifier


def setup(config, splits=None) -> Setup:
  """The modalities, splits and model of an av_mnist config; every model name and option is
  checked before any data is read, and a missing dataset fails in seconds. splits: the data
  source's splits already built, to reuse them (tests, notebooks)."""
  mods = classification.modalities_of(config, MODALITIES)
  classification.components(config, mods)
  splits = splits or sources.build(config.data, reads=("av_mnist", "manifest"))
  num_classes = NUM_CLASSES
  if hasattr(splits, "splits"):  # a manifest source: your own image, audio and label files
    names = splits.class_names()
    splits = splits.splits(("image", "audio", "label"))
    num_classes = len(names) if names else int(splits["train"].labels.max()) + 1
  return Setup(mods, splits, num_classes, classification.classifier(config, mods, num_classes))


def keep(batch: dict, mods) -> dict:
  """A split's batch as the model's inputs {modality: [batch, ...]} and "label" [batch]."""
  return {"label": batch["labels"], **{m: batch[{"image": "images"}.get(m, m)] for m in mods}}


def best_variables(workdir: str, like):
  """The variables the run tested: <workdir>/best_variables.msgpack (the best validation
  epoch's), shaped like `like`."""
  path = os.path.join(workdir, BEST_PARAMS)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist: the run has not validated yet (it writes "
                            "the best epoch's variables at each validation).")
  with open(path, "rb") as f:
    return flax.serialization.from_bytes(like, f.read())
