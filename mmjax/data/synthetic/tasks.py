"""Labelled tasks whose information structure is known exactly, for fusion research.

An example has a true scene and two views of it: the scene the image shows and the scene the
caption says (the audio speaks that caption, so "audio" below means the caption or its audio).
A task decides how the views differ from the truth and what the label is. The referent is the
first object in reading order (top row first, then left to right: `Scene.reading_order`),
which a reader of either modality can find. K = number of classes.

redundant (K = 4): the referent's shape, shown by both modalities, each corrupted on its own,
  independently: the image with probability image_eps, the audio with probability audio_eps.
  corruption="erase" (default): the corrupted modality visibly hides the shape (the image puts
  a grey patch over the referent; the caption says "thing" instead of the shape). A corrupted
  modality is at chance and knows it, so fusion helps:
    unimodal Bayes = 1 - eps (K-1)/K,   fused Bayes = 1 - image_eps * audio_eps * (K-1)/K.
  corruption="resample": the corrupted modality shows a uniformly resampled shape (possibly the
  true one), undetectably. Unimodal Bayes is the same, but the fused Bayes rule just follows
  the more reliable modality: fused Bayes = max(unimodal) -- fusion cannot help.
unique_audio (K = 4): the referent's material (wooden, metal, glass, stone), said in the caption
  ("a small red wooden circle") and never drawn. Image-only Bayes = 1/4, audio-only = fused = 1.
unique_image (K = 4): the background tint (grey, navy, forest, maroon), drawn and never said.
  Image-only Bayes = fused = 1, audio-only = 1/4.
synergy (K = 2): "does the spoken caption describe this image?" With probability 1/2 it does;
  otherwise it describes the same scene with one attribute (shape, colour or size) of one object
  (both uniform) changed to a uniformly chosen other value. The change is a symmetric random
  walk on the scene distribution, so the caption's marginal equals the image's: each modality
  alone is exactly at chance (1/2), together they decide it (fused Bayes = 1).
agreement (K = 2): three modalities at once. The caption's text and its speech are separate
  views here: "do the image, the text and the speech all show the same scene?" With probability
  1/2 they do; otherwise one of the three shows synergy's changed scene. One view alone is at
  chance (1/2), any two reach 5/6, all three decide it (1).

The numbers assume no random occlusion and a perfect reader of each view (pixel noise, clutter
behind the objects and audio noise only make reading harder). They are what
`task_info(task, pairs, **knobs)` returns; with held-out pairs (`pairs`: the allowed ones) the
views' visible colour narrows `redundant`'s shape to the colour's allowed shapes, which the
numbers include. Tests check the generator reproduces them.
"""

import dataclasses
from typing import Optional

import numpy as np

from mmjax.data.synthetic.questions import vqa_info
from mmjax.data.synthetic.render import BACKGROUNDS
from mmjax.data.synthetic.scenes import COLOURS, ERASED, SHAPES, SIZES, Scene
from mmjax.registry import Registry

MATERIALS = ("wooden", "metal", "glass", "stone")
TASKS = Registry("synthetic-world task")


@dataclasses.dataclass(frozen=True)
class Views:
  """The true scene, the scene the image shows, the scene the caption says, and the label;
  `written`: the scene the caption's text says when it differs from the spoken one (task
  agreement), else None (text and audio carry the same caption)."""
  scene: Scene
  image: Scene
  spoken: Scene
  label: Optional[int] = None
  written: Optional[Scene] = None


def _info(k: int, bayes: float, image: float, audio: float) -> dict:
  return {"num_classes": k, "chance": 1.0 / k, "bayes_optimal": float(bayes),
          "unimodal_bayes": {"image": float(image), "audio": float(audio)}}


def _allowed(pairs, shape=None, colour=None):
  """Shapes that may go with `colour`, or colours that may go with `shape`."""
  if colour is not None:
    return [s for s in SHAPES if pairs is None or (s, colour) in pairs]
  return [c for c in COLOURS if pairs is None or (shape, c) in pairs]


def channel(eps: float, corruption: str, k: int) -> np.ndarray:
  """P(observed | true) [k, observations] of one corrupted modality; "erase" adds an
  observation k that means "hidden"."""
  if corruption == "erase":
    return np.concatenate([(1 - eps) * np.eye(k), np.full((k, 1), eps)], axis=1)
  return (1 - eps) * np.eye(k) + eps / k


def bayes_accuracy(prior: np.ndarray, *channels: np.ndarray) -> float:
  """Exact accuracy of the Bayes classifier seeing independent channel outputs:
  sum over observations of max_y P(y) prod_m P(o_m | y)."""
  joint = prior
  for c in channels:
    joint = joint[..., None] * c.reshape((c.shape[0],) + (1,) * (joint.ndim - 1) + c.shape[1:])
  return float(joint.max(axis=0).sum())


@TASKS.register("redundant")
@dataclasses.dataclass(frozen=True)
class Redundant:
  image_eps: float = 0.25
  audio_eps: float = 0.25
  corruption: str = "erase"

  def __post_init__(self):
    for name in ("image_eps", "audio_eps"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ValueError(f"{name}={getattr(self, name)}; valid: a probability in [0, 1].")
    if self.corruption not in ("erase", "resample"):
      raise ValueError(f"corruption={self.corruption!r}; valid: erase, resample.")

  def words(self) -> set:
    return {ERASED} if self.corruption == "erase" else set()

  def _corrupt(self, scene, i, hit, u, pairs):
    if not hit:
      return scene
    if self.corruption == "erase":
      return scene.replace_object(i, shape=ERASED)
    shapes = _allowed(pairs, colour=scene.objects[i].colour)
    return scene.replace_object(i, shape=shapes[int(u * len(shapes))])

  def views(self, scene: Scene, rng: np.random.Generator, pairs=None) -> Views:
    i = scene.reading_order()[0]
    hit, u = rng.uniform(size=2) < (self.image_eps, self.audio_eps), rng.uniform(size=2)
    return Views(scene, self._corrupt(scene, i, hit[0], u[0], pairs),
                 self._corrupt(scene, i, hit[1], u[1], pairs),
                 SHAPES.index(scene.objects[i].shape))

  def info(self, pairs=None) -> dict:
    """With held-out pairs (`pairs`: the allowed ones, drawn uniformly) both views still show
    the object's colour, which narrows its shape to the colour's allowed shapes: the Bayes
    accuracy is the mean over colours of the task's on those shapes alone."""
    groups = [(1.0, len(SHAPES))] if pairs is None else [
        (len(a) / len(pairs), len(a)) for a in (_allowed(pairs, colour=c) for c in COLOURS) if a]

    def bayes(*eps):
      return sum(w * bayes_accuracy(np.full(k, 1.0 / k),
                                    *(channel(e, self.corruption, k) for e in eps))
                 for w, k in groups)
    return _info(len(SHAPES), bayes(self.image_eps, self.audio_eps), bayes(self.image_eps),
                 bayes(self.audio_eps))


@TASKS.register("unique_audio")
@dataclasses.dataclass(frozen=True)
class UniqueAudio:
  def words(self) -> set:
    return set(MATERIALS)

  def views(self, scene: Scene, rng: np.random.Generator, pairs=None) -> Views:
    label = int(rng.integers(len(MATERIALS)))
    spoken = scene.replace_object(scene.reading_order()[0], material=MATERIALS[label])
    return Views(scene, scene, spoken, label)

  def info(self, pairs=None) -> dict:  # the label ignores pairs
    k = len(MATERIALS)
    return _info(k, 1.0, 1.0 / k, 1.0)


@TASKS.register("unique_image")
@dataclasses.dataclass(frozen=True)
class UniqueImage:
  def words(self) -> set:
    return set()

  def views(self, scene: Scene, rng: np.random.Generator, pairs=None) -> Views:
    label = int(rng.integers(len(BACKGROUNDS)))
    image = dataclasses.replace(scene, background=list(BACKGROUNDS)[label])
    return Views(scene, image, scene, label)

  def info(self, pairs=None) -> dict:  # the label ignores pairs
    k = len(BACKGROUNDS)
    return _info(k, 1.0, 1.0, 1.0 / k)


@TASKS.register("synergy")
@dataclasses.dataclass(frozen=True)
class Synergy:
  def words(self) -> set:
    return set()

  def check_pairs(self, pairs):
    _check_walk(pairs, "synergy")

  def views(self, scene: Scene, rng: np.random.Generator, pairs=None) -> Views:
    label = int(rng.integers(2))
    changed = _changed(scene, rng, pairs)
    return Views(scene, scene, scene if label else changed, label)

  def info(self, pairs=None) -> dict:  # the label ignores pairs
    return _info(2, 1.0, 0.5, 0.5)


def _check_walk(pairs, task: str):
  """The walk (`_changed`) is symmetric only if every changed attribute has an allowed other
  value."""
  if pairs is None:
    return
  for c in COLOURS:
    if len(_allowed(pairs, colour=c)) < 2:
      raise ValueError(f"task={task!r} needs >= 2 allowed shapes per colour; held_out "
                       f"leaves colour {c!r} with {_allowed(pairs, colour=c)}.")
  for s in SHAPES:
    if len(_allowed(pairs, shape=s)) < 2:
      raise ValueError(f"task={task!r} needs >= 2 allowed colours per shape; held_out "
                       f"leaves shape {s!r} with {_allowed(pairs, shape=s)}.")


def _changed(scene: Scene, rng: np.random.Generator, pairs=None) -> Scene:
  """`scene` with one attribute (shape, colour or size) of one object (both uniform) changed to
  a uniformly chosen other allowed value: a symmetric random walk on the scene distribution."""
  i, attribute = int(rng.integers(len(scene.objects))), int(rng.integers(3))
  u = rng.uniform()
  o = scene.objects[i]
  if attribute == 0:
    field, options = "shape", [s for s in _allowed(pairs, colour=o.colour) if s != o.shape]
  elif attribute == 1:
    field, options = "colour", [c for c in _allowed(pairs, shape=o.shape) if c != o.colour]
  else:
    field, options = "size", [s for s in SIZES if s != o.size]
  return scene.replace_object(i, **{field: options[int(u * len(options))]})


AGREEMENT_VIEWS = ("image", "text", "audio")


@TASKS.register("agreement")
@dataclasses.dataclass(frozen=True)
class Agreement:
  """Three modalities at once: do the image, the caption's text and its speech all show the same
  scene? With probability 1/2 they do; otherwise one of the three (uniform) shows the scene
  changed as in synergy. Any one view alone is at chance; any two see a disagreement only when
  the changed view is one of theirs (2/3 of the negatives) and otherwise guess "agree", right
  with P(agree | they agree) = 3/4, so 1/3 + 2/3 * 3/4 = 5/6; all three decide it."""

  def words(self) -> set:
    return set()

  def check_pairs(self, pairs):
    _check_walk(pairs, "agreement")

  def views(self, scene: Scene, rng: np.random.Generator, pairs=None) -> Views:
    label, which = int(rng.integers(2)), int(rng.integers(len(AGREEMENT_VIEWS)))
    changed = _changed(scene, rng, pairs)
    image, written, spoken = (scene if label or j != which else changed
                              for j in range(len(AGREEMENT_VIEWS)))
    return Views(scene, image, spoken, label, written=written)

  def info(self, pairs=None) -> dict:  # the label ignores pairs
    out = _info(2, 1.0, 0.5, 0.5)
    out["unimodal_bayes"]["text"] = 0.5
    # The Bayes-optimal accuracy of each subset of the views ("+"-joined, sorted).
    out["bayes_by_modalities"] = {"audio": 0.5, "image": 0.5, "text": 0.5,
                                  "audio+image": 5 / 6, "audio+text": 5 / 6,
                                  "image+text": 5 / 6, "audio+image+text": 1.0}
    return out


def make_task(task, options: Optional[dict] = None):
  """A task from its name and knobs, or a task object as is."""
  if isinstance(task, str):
    return TASKS.build(task, "task", **(options or {}))
  if options:
    raise ValueError("task_options are only for a task given by name.")
  return task


def task_info(task: str, pairs=None, **knobs) -> dict:
  """{"num_classes", "chance", "bayes_optimal", "unimodal_bayes": {"image", "audio"}} of a task
  under `knobs`, e.g. task_info("redundant", image_eps=0.1, audio_eps=0.3), in a world whose
  objects take the (shape, colour) `pairs` (None: every pair; see World.pairs). task="vqa" takes
  question_type and max_objects and gives the question-only Bayes accuracy instead."""
  if task == "vqa":
    return vqa_info(**knobs)
  return make_task(task, knobs).info(pairs)
