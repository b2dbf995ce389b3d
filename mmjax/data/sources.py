"""Data sources chosen by name: `config.data.source` picks one the way every component is picked
(`{"name": ..., <name>: {its options}}`, see `Registry.choose`).

A source serves any example of a split on demand, as a dict of the fields asked for:

  source.example(split, index, fields) -> {"image": float32 [s, s, 3] in [0, 1],
      "caption": str, "audio": float32 [samples], "transcript": [words], "label": int,
      "key": the example's identity (examples with equal keys match the same captions), ...}
  source.vocabulary() -> the words a tokenizer is built from

The data section's shared quantities (SHARED: seed, image_size, sample_rate, audio_seconds) go to
the source when it takes them, so that one name means one thing in every experiment:

  c.data = dict(seed=0, image_size=32, text_len=16,
                source=dict(name="shapes", shapes=dict(max_objects=2, noise=0.05)))

The built-in synthetic world is `shapes` and its short videos `clips`, defined here; the others
register in their own modules, imported at the end of this file so that every experiment can
choose any of them:
`manifest` (your own files, mmjax/data/manifest_source.py), `av_mnist` and `coco_captions`
(mmjax/data/tfds/). A source of files has `size(split)` and `require(fields)`; the synthetic
world is unbounded and has every field. A source too large to serve examples by index is
`streamed`: `coco_captions` serves train batches (`train_batches`) and a test set
(`images_with_captions`) instead, read in order.
"""

from typing import Optional, Sequence

from mmjax.data.synthetic import TASKS, ClipWorld, SceneWorld
from mmjax.registry import ConfigError, Registry

SOURCES = Registry("data source")
SHARED = ("seed", "image_size", "sample_rate", "audio_seconds")
# Models see images as (pixels in [0, 1] - PIXEL_MEAN) / PIXEL_STD: about [-2, 2].
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25


def normalize(images):
  """Model inputs from [..., h, w, c] pixels in [0, 1] (numpy or jax; float32 stays float32)."""
  return (images - PIXEL_MEAN) / PIXEL_STD


def denormalize(inputs):
  """The [0, 1] pixels of normalized model inputs (for pictures of them)."""
  return inputs * PIXEL_STD + PIXEL_MEAN


@SOURCES.register("shapes")
def shapes(seed: int = 0, image_size: int = 32, sample_rate: int = 8000,
           audio_seconds: Optional[float] = None, max_objects: int = 2, noise: float = 0.05,
           clutter: int = 0, occlusion: float = 0.0, held_out=(), task=None,
           snr_db: Optional[float] = 20.0) -> SceneWorld:
  """The built-in synthetic world (mmjax/data/synthetic; the options are SceneWorld's). task:
  None, or a labelled task chosen as a component, {"name": "synergy", "synergy": {options}}."""
  task_name, task_options = None, None
  if task:
    task_name, task_options = TASKS.choose(task, "data.source.shapes.task")
  return SceneWorld(seed, image_size, max_objects, noise, clutter=clutter, occlusion=occlusion,
                    held_out=tuple(map(tuple, held_out)), task=task_name,
                    task_options=task_options, sample_rate=sample_rate, snr_db=snr_db,
                    audio_seconds=audio_seconds)


@SOURCES.register("clips")
def clips(seed: int = 0, image_size: int = 32, sample_rate: int = 8000, frames: int = 8,
          noise: float = 0.05, frame_seconds: float = 0.125, snr_db: Optional[float] = 20.0,
          held_out=()) -> ClipWorld:
  """The built-in synthetic clips (mmjax/data/synthetic/clips.py; the options are ClipWorld's):
  fields "video", "caption", "audio" and "labels" (direction, event, sync)."""
  return ClipWorld(seed, image_size, frames, noise, frame_seconds=frame_seconds,
                   sample_rate=sample_rate, snr_db=snr_db, held_out=tuple(map(tuple, held_out)))


def size(source, split: str) -> Optional[int]:
  """How many examples `split` of `source` has; None for the synthetic world, which serves any
  index (a source of files defines size(split))."""
  return source.size(split) if hasattr(source, "size") else None


def require(source, fields: Sequence[str]) -> None:
  """Fails naming what a source of files lacks to serve example `fields`; the synthetic world
  has every field."""
  if hasattr(source, "require"):
    source.require(fields)


def streamed(source) -> bool:
  """True for a source read in order rather than by index (coco_captions): it serves
  train_batches(global_batch, adapt) and images_with_captions(split, n), not example()."""
  return hasattr(source, "train_batches")


def train_captions(source, num_examples: int) -> Optional[set]:
  """The caption strings a run trained on: those of the synthetic world's train examples 0 ..
  num_examples - 1 (its batches read the unbounded split in order: steps x batch size), or of
  every train row of a source of files; None for a streamed source (coco_captions), too large
  to list. About 0.7 ms per synthetic example."""
  if streamed(source):
    return None
  n = size(source, "train")
  n = num_examples if n is None else n
  return {source.example("train", i, ("caption",))["caption"] for i in range(n)}


def seen_fraction(strings: Sequence[str], seen: set) -> float:
  """Fraction of `strings` that are in `seen` (the test captions a model may have memorised)."""
  return float(sum(s in seen for s in strings) / max(len(strings), 1))


def compositional_examples(source, n, key: str = "eval.compositional_examples") -> int:
  """How many test_compositional examples to evaluate (the synthetic world's scenes with a
  held-out (shape, colour) pair): n, or 0 for a source without that split (your files, COCO).
  n = 0 turns it off; n > 0 on the synthetic world without held-out pairs is a ConfigError."""
  if not isinstance(n, int) or isinstance(n, bool) or n < 0:
    raise ConfigError(f"{key}={n!r}; valid: an integer >= 0 (0: no compositional results).")
  if not isinstance(source, SceneWorld):
    return 0
  if n and not source.held_out:
    raise ConfigError(f"{key}={n} scores the test_compositional split, which needs held-out "
                      "pairs: set data.source.shapes.held_out='((\"circle\",\"red\"),)' or "
                      f"{key}=0.")
  return n


def build(data, reads: Optional[Sequence[str]] = None):
  """The source that config section `data` chooses, given its shared quantities. reads: the
  sources the calling experiment can read (None: any), checked before anything is loaded,
  since sources serve different interfaces (`shapes` any example by index, `av_mnist` whole
  splits, `coco_captions` streams)."""
  if reads is not None and data.source.name not in reads:
    raise ConfigError(f"data.source.name={data.source.name!r}: this experiment reads "
                      f"{', '.join(reads)} (registered: {', '.join(SOURCES.names())}).")
  shared = {k: data[k] for k in SHARED if k in data}
  name, options = SOURCES.choose(data.source, "data.source", **shared)
  return SOURCES.get(name)(**options)


# Last: these modules register into SOURCES above (their tfds imports happen only when read).
from mmjax.data import manifest_source, tfds  # noqa: E402, F401
