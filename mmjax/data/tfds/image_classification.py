"""Image classification datasets from tfds (cifar10, mnist, ...) with class names for
zero-shot prompts (CLIP, Radford et al. 2021, "Learning transferable visual models from natural
language supervision").

  data = ImageClassification("cifar10", split="test", image_ops=[{"op": "resize", "size": 64}])
  batch = data.make_batch(np.arange(256))         # images [256, 64, 64, 3], labels [256]
  prompts = data.prompts()                        # [10 classes][templates] strings

The split is materialised once as uint8 arrays (50k CIFAR images are 150 MB), then any index
is random access, so it feeds `Batches` directly: Batches(data.make_batch, 128, with_positions=True,
num_examples=len(data)).
"""

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from mmjax.data.image_ops import ImageOps
from mmjax.data.tfds import load

# CLIP's prompt templates for these datasets (a subset of its ensembles).
TEMPLATES = {
    "cifar10": ("a photo of a {}.", "a blurry photo of a {}.", "a low contrast photo of a {}.",
                "a photo of the small {}.", "a photo of the big {}."),
    "cifar100": ("a photo of a {}.", "a blurry photo of a {}.", "a photo of the small {}."),
    "mnist": ('a photo of the number: "{}".',),
}
DEFAULT_TEMPLATES = ("a photo of a {}.",)


@dataclasses.dataclass
class ImageClassification:
  """Any tfds dataset with an `image` and a ClassLabel `label` feature.

  make_batch(indices) -> {"images": float32 [n, h, w, c] (image_ops applied to [0, 1] pixels),
  "labels": int32 [n]}. Grey datasets (mnist) keep 1 channel unless image_ops has "to_rgb".
  """
  dataset: str = "cifar10"
  split: str = "test"
  data_dir: Optional[str] = None
  image_ops: Sequence[Any] = ()
  seed: int = 0

  def __post_init__(self):
    self._ops = ImageOps(self.image_ops)
    arrays = load.as_arrays(self.dataset, self.split, ("image", "label"), self.data_dir)
    self.images = arrays["image"]  # uint8 [n, h, w, c]
    self.labels = arrays["label"].astype(np.int32)
    self.class_names = [n.replace("_", " ") for n in load.class_names(self.dataset, self.data_dir)]

  def __len__(self):
    return len(self.labels)

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def prompts(self, templates: Optional[Sequence[str]] = None) -> list:
    """[num_classes][num_templates] texts; the class's zero-shot embedding is the mean of its
    prompts' embeddings."""
    templates = templates or TEMPLATES.get(self.dataset.split("/")[0], DEFAULT_TEMPLATES)
    for t in templates:
      if t.count("{}") != 1:
        raise ValueError(f"prompt template {t!r} must contain exactly one '{{}}' for the class.")
    return [[t.format(c) for t in templates] for c in self.class_names]

  def make_batch(self, indices, positions=None) -> dict:
    """Random ops are seeded by (seed, positions), default the indices."""
    idx = np.asarray(indices, np.int64)
    seeds = [(self.seed, int(p)) for p in (idx if positions is None else positions)]
    return {"images": self._ops.batch(self.images[idx], seeds), "labels": self.labels[idx]}
