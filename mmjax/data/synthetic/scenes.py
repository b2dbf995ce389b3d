"""Scenes of 1-3 simple objects and the captions a grammar gives them.

A scene is a tuple of objects (shape x colour x size at a position) plus the spatial relations
that lay them out:
  1 object   -- anywhere near the centre;
  2 objects  -- `objects[0] <relation> objects[1]`, on a horizontal or vertical axis;
  3 objects  -- an L on a 2x2 grid: `objects[0]` is the corner, `objects[1]` its horizontal
                neighbour (`relation`: left of / right of) and `objects[2]` its vertical one
                (`relation2`: above / below).
Each scene has four paraphrased captions and a canonical `key`; scenes with the same key are
indistinguishable from text. `reading_order()` ranks the objects top row first, then left to
right, from the layout alone, so "the first object" is defined the same way for a reader of the
image and a reader of the caption (the labelled tasks use it; see tasks.py).

Held-out (shape, colour) pairs: `sample_scene(..., pairs=...)` draws only the allowed pairs, or
with `compositional=True` puts a held-out pair on one uniformly chosen object.
"""

import dataclasses
import itertools
from typing import Optional, Sequence

import numpy as np

SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230),
           "yellow": (235, 215, 40), "purple": (150, 60, 200), "white": (240, 240, 240)}
SIZES = {"small": 0.13, "large": 0.24}  # radius as a fraction of the image side
RELATIONS = ("left of", "right of", "above", "below")
ERASED = "thing"  # shape of an object whose shape a modality hides (tasks.py, redundant)

_ONE = ("a {a}", "there is a {a}", "a picture of a {a}", "an image with a {a}")
_TWO = ("a {a} {rel} a {b}", "there is a {a} {rel} a {b}", "a {b} {inv} a {a}",
        "an image with a {a} {rel} a {b}")
# a = the corner, b = its horizontal neighbour, c = its vertical neighbour.
_THREE = ("a {a} {rel} a {b} and {rel2} a {c}", "there is a {a} {rel} a {b} and {rel2} a {c}",
          "a {b} {inv} a {a} which is {rel2} a {c}", "a {c} {inv2} a {a} which is {rel} a {b}")
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
_TEMPLATE_FIELDS = ("{a}", "{b}", "{c}", "{rel2}", "{rel}", "{inv2}", "{inv}")
# The pairs the experiments' default configs hold out for their test_compositional results.
DEFAULT_HELD_OUT = (("circle", "red"), ("triangle", "blue"))


@dataclasses.dataclass(frozen=True)
class Object:
  shape: str
  colour: str
  size: str
  x: float  # centre, as a fraction of the image side
  y: float
  material: str = ""  # spoken only, never drawn (tasks.py, unique_audio)

  @property
  def phrase(self) -> str:
    return " ".join(w for w in (self.size, self.colour, self.material, self.shape) if w)


@dataclasses.dataclass(frozen=True)
class Scene:
  objects: tuple
  relation: str = ""   # objects[0] <relation> objects[1]
  relation2: str = ""  # objects[0] <relation2> objects[2] (3 objects)
  background: str = ""  # a render.BACKGROUNDS name; "" is the default dark grey

  @property
  def key(self) -> str:
    """Canonical description: scenes with the same key are indistinguishable from text."""
    p = [o.phrase for o in self.objects]
    if len(p) == 1:
      return p[0]
    if len(p) == 2:
      return f"{p[0]} {self.relation} {p[1]}"
    return f"{p[0]} {self.relation} {p[1]} and {self.relation2} {p[2]}"

  def captions(self) -> list:
    p = [o.phrase for o in self.objects]
    if len(p) == 1:
      return [t.format(a=p[0]) for t in _ONE]
    if len(p) == 2:
      return [t.format(a=p[0], b=p[1], rel=self.relation, inv=INVERSE[self.relation])
              for t in _TWO]
    return [t.format(a=p[0], b=p[1], c=p[2], rel=self.relation, inv=INVERSE[self.relation],
                     rel2=self.relation2, inv2=INVERSE[self.relation2]) for t in _THREE]

  def cells(self) -> list:
    """(row, column) of each object on the layout's grid, from the relations alone."""
    n = len(self.objects)
    if n == 1:
      return [(0, 0)]
    if n == 2:
      first = int(self.relation in ("right of", "below"))  # objects[0] is second on the axis
      if self.relation in ("left of", "right of"):
        return [(0, first), (0, 1 - first)]
      return [(first, 0), (1 - first, 0)]
    col, row = int(self.relation == "right of"), int(self.relation2 == "below")
    return [(row, col), (row, 1 - col), (1 - row, col)]

  def reading_order(self) -> list:
    """Object indices top row first, then left to right."""
    cells = self.cells()
    return sorted(range(len(cells)), key=lambda i: cells[i])

  def replace_object(self, i: int, **changes) -> "Scene":
    objects = list(self.objects)
    objects[i] = dataclasses.replace(objects[i], **changes)
    return dataclasses.replace(self, objects=tuple(objects))


# Each attribute of an object and its class names: class id = index into the tuple.
ATTRIBUTES = {"shape": SHAPES, "colour": tuple(COLOURS), "size": tuple(SIZES)}


def first_object_labels(scenes: Sequence[Scene], attributes: Sequence[str] = tuple(ATTRIBUTES)
                        ) -> dict:
  """{attribute: int32 [n]}: the class id of each scene's first object (in reading order), the
  labels of zero-shot, probe and attribute-classifier evaluations."""
  first = [s.objects[s.reading_order()[0]] for s in scenes]
  unknown = [a for a in attributes if a not in ATTRIBUTES]
  if unknown:
    raise ValueError(f"attributes {unknown}; valid: {', '.join(ATTRIBUTES)}.")
  return {a: np.array([ATTRIBUTES[a].index(getattr(o, a)) for o in first], np.int32)
          for a in attributes}


def present_classes(scenes: Sequence[Scene], attributes: Sequence[str] = tuple(ATTRIBUTES)
                    ) -> dict:
  """{attribute: bool [n, classes]}: which classes any object of each scene has (the labels of
  zero-shot scoring on scenes of several objects, where naming any object's class is right)."""
  unknown = [a for a in attributes if a not in ATTRIBUTES]
  if unknown:
    raise ValueError(f"attributes {unknown}; valid: {', '.join(ATTRIBUTES)}.")
  return {a: np.array([[any(getattr(o, a) == c for o in s.objects) for c in ATTRIBUTES[a]]
                       for s in scenes], bool) for a in attributes}


def caption_frames() -> list:
  """Every caption template of any scene as a word list, each object phrase as "*" and each
  relation slot filled in every way: the wordings a caption can put around objects."""
  frames = []
  for t in _ONE + _TWO + _THREE:
    for rel, rel2 in itertools.product(RELATIONS, RELATIONS):
      text = t.format(a="*", b="*", c="*", rel=rel, inv=INVERSE[rel], rel2=rel2,
                      inv2=INVERSE[rel2])
      frames.append(text.split())
  return frames


def template_in_captions(template: str) -> bool:
  """Whether a zero-shot prompt template ("a picture of a {c}") is a caption's wording: its
  words, "{c}" standing for an object phrase, occur in a row in some caption template. A
  template for which this is False was never seen in training around an object."""
  words = ["*" if w == "{c}" else w for w in template.replace("{c}", " {c} ").split()]
  n = len(words)
  return any(f[i:i + n] == words for f in caption_frames() for i in range(len(f) - n + 1))


def read_caption(caption: str) -> tuple[list, list]:
  """A caption read back, the inverse of `Scene.captions` for any string of the world's words
  (a model's output may break the grammar): the object phrases in the order it names them, each
  (size, colour, shape) with None for a missing word, and the relations between them in order
  ("left of", "right of", "above", "below")."""
  words, phrases, relations, i = caption.split(), [], [], 0
  slots = {"size": SIZES, "colour": COLOURS, "shape": SHAPES}
  while i < len(words):
    if any(words[i] in v for v in slots.values()):
      phrase = dict.fromkeys(slots)
      while i < len(words) and any(words[i] in v for v in slots.values()):
        slot = next(k for k, v in slots.items() if words[i] in v)
        if phrase[slot] is not None:
          break  # a second shape (or colour) starts the next phrase
        phrase[slot] = words[i]
        i += 1
      phrases.append((phrase["size"], phrase["colour"], phrase["shape"]))
      continue
    pair = " ".join(words[i:i + 2])
    if pair in ("left of", "right of"):
      relations.append(pair)
      i += 2
      continue
    if words[i] in ("above", "below"):
      relations.append(words[i])
    i += 1
  return phrases, relations


def all_pairs() -> list:
  return list(itertools.product(SHAPES, COLOURS))


def check_pairs(pairs: Sequence) -> tuple:
  """Validates (shape, colour) pairs and returns them as a tuple of tuples."""
  out = []
  for p in pairs:
    if len(p) != 2 or p[0] not in SHAPES or p[1] not in COLOURS:
      raise ValueError(f"held-out pair {tuple(p)!r} is not (shape, colour); valid shapes: "
                       f"{', '.join(SHAPES)}; valid colours: {', '.join(COLOURS)}.")
    out.append((p[0], p[1]))
  return tuple(out)


def caption_words(max_objects: int) -> set:
  """Every word a caption of scenes with up to `max_objects` objects can use."""
  templates = _ONE + _TWO + (_THREE if max_objects == 3 else ())
  words = set()
  for t in templates:
    for f in _TEMPLATE_FIELDS:
      t = t.replace(f, "")
    words.update(t.split())
  words.update(SHAPES, COLOURS, SIZES, *(r.split() for r in RELATIONS))
  return words


def sample_scene(rng: np.random.Generator, max_objects: int,
                 pairs: Optional[Sequence] = None, held_out: Sequence = (),
                 compositional: bool = False) -> Scene:
  """One scene from `rng`.

  pairs: the (shape, colour) pairs objects may take, or None for all of them (this path makes
  exactly the draws the first version of this world made, so its data is unchanged).
  compositional: one uniformly chosen object takes a uniformly chosen `held_out` pair; the
  others take any pair.
  """
  n = 1 if max_objects == 1 else int(rng.integers(1, max_objects + 1))
  pick = lambda xs: xs[int(rng.integers(len(xs)))]
  if compositional:
    special, everything = int(rng.integers(n)), all_pairs()
    attrs = [(*pick(held_out if i == special else everything), pick(list(SIZES)))
             for i in range(n)]
  elif pairs is None:
    attrs = [(pick(SHAPES), pick(list(COLOURS)), pick(list(SIZES))) for _ in range(n)]
  else:
    attrs = [(*pick(pairs), pick(list(SIZES))) for _ in range(n)]
  if n == 1:
    x, y = rng.uniform(0.3, 0.7, size=2)
    return Scene((Object(*attrs[0], x, y),))
  if n == 2:
    relation = pick(RELATIONS)
    # Place objects[0] on the side its relation names, with a clear gap between them.
    near, far = rng.uniform(0.25, 0.32), rng.uniform(0.68, 0.75)
    a, b = rng.uniform(0.3, 0.7, size=2)
    pos = {"left of": ((near, a), (far, b)), "right of": ((far, a), (near, b)),
           "above": ((a, near), (b, far)), "below": ((a, far), (b, near))}[relation]
    return Scene(tuple(Object(*at, *p) for at, p in zip(attrs, pos)), relation)
  relation, relation2 = pick(RELATIONS[:2]), pick(RELATIONS[2:])
  scene = Scene((), relation, relation2)
  # Grid cells centred near 0.25 and 0.75: adjacent large objects barely touch.
  jitter = rng.uniform(0.0, 0.04, size=(3, 2))
  objects = []
  for (row, col), at, (jx, jy) in zip(scene.cells(), attrs, jitter):
    objects.append(Object(*at, x=0.23 + 0.5 * col + jx, y=0.23 + 0.5 * row + jy))
  return dataclasses.replace(scene, objects=tuple(objects))
