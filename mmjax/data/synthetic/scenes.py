"""Scenes of simple shapes with captions from a grammar.

Example `i` of split `s` is a pure function of (seed, s, i): any example can be made on demand,
in any order, on any process, so the data never needs to be stored and a pipeline can resume
at any position. A scene has 1-2 objects, each a shape x colour x size at a position; with two
objects, the caption states their spatial relation. Several paraphrases describe each scene.
"""

import dataclasses

import numpy as np

SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230),
           "yellow": (235, 215, 40), "purple": (150, 60, 200), "white": (240, 240, 240)}
SIZES = {"small": 0.13, "large": 0.24}  # radius as a fraction of the image side
RELATIONS = ("left of", "right of", "above", "below")
SPLITS = {"train": 0, "val": 1, "test": 2}

_ONE = ("a {a}", "there is a {a}", "a picture of a {a}", "an image with a {a}")
_TWO = ("a {a} {rel} a {b}", "there is a {a} {rel} a {b}", "a {b} {inv} a {a}",
        "an image with a {a} {rel} a {b}")
_INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


@dataclasses.dataclass(frozen=True)
class Object:
  shape: str
  colour: str
  size: str
  x: float  # centre, as a fraction of the image side
  y: float

  @property
  def phrase(self) -> str:
    return f"{self.size} {self.colour} {self.shape}"


@dataclasses.dataclass(frozen=True)
class Scene:
  objects: tuple
  relation: str = ""  # objects[0] <relation> objects[1]

  @property
  def key(self) -> str:
    """Canonical description: scenes with the same key are indistinguishable from text."""
    if len(self.objects) == 1:
      return self.objects[0].phrase
    return f"{self.objects[0].phrase} {self.relation} {self.objects[1].phrase}"

  def captions(self) -> list:
    if len(self.objects) == 1:
      return [t.format(a=self.objects[0].phrase) for t in _ONE]
    a, b = (o.phrase for o in self.objects)
    return [t.format(a=a, b=b, rel=self.relation, inv=_INVERSE[self.relation]) for t in _TWO]


class SceneWorld:
  """images [size, size, 3] float32 in [0, 1], a caption, and the scene's key.

  noise: std of Gaussian pixel noise; max_objects: 1 or 2.
  """

  def __init__(self, seed: int = 0, image_size: int = 32, max_objects: int = 2,
               noise: float = 0.05):
    if max_objects not in (1, 2):
      raise ValueError(f"max_objects={max_objects}; valid: 1, 2.")
    self.seed, self.image_size, self.max_objects, self.noise = seed, image_size, max_objects, noise
    g = (np.arange(image_size) + 0.5) / image_size
    self._yy, self._xx = np.meshgrid(g, g, indexing="ij")

  def vocabulary(self) -> list:
    words = set()
    for t in _ONE + _TWO:
      words.update(t.replace("{a}", "").replace("{b}", "").replace("{rel}", "")
                   .replace("{inv}", "").split())
    words.update(SHAPES, COLOURS, SIZES, *(r.split() for r in RELATIONS))
    return sorted(words)

  def _rng(self, split: str, index: int):
    if split not in SPLITS:
      raise ValueError(f"split={split!r}; valid: {', '.join(SPLITS)}.")
    return np.random.default_rng([self.seed, SPLITS[split], index])

  def scene(self, split: str, index: int) -> Scene:
    rng = self._rng(split, index)
    n = 1 if self.max_objects == 1 else int(rng.integers(1, 3))
    pick = lambda xs: xs[int(rng.integers(len(xs)))]
    attrs = [(pick(SHAPES), pick(list(COLOURS)), pick(list(SIZES))) for _ in range(n)]
    if n == 1:
      x, y = rng.uniform(0.3, 0.7, size=2)
      return Scene((Object(*attrs[0], x, y),))
    relation = pick(RELATIONS)
    # Place objects[0] on the side its relation names, with a clear gap between them.
    near, far = rng.uniform(0.25, 0.32), rng.uniform(0.68, 0.75)
    a, b = rng.uniform(0.3, 0.7, size=2)
    pos = {"left of": ((near, a), (far, b)), "right of": ((far, a), (near, b)),
           "above": ((a, near), (b, far)), "below": ((a, far), (b, near))}[relation]
    return Scene(tuple(Object(*at, *p) for at, p in zip(attrs, pos)), relation)

  def render(self, scene: Scene, rng) -> np.ndarray:
    img = np.full((self.image_size, self.image_size, 3), 0.1, np.float32)
    for o in scene.objects:
      r = SIZES[o.size]
      dx, dy = self._xx - o.x, self._yy - o.y
      mask = {"circle": dx ** 2 + dy ** 2 <= r ** 2,
              "square": np.maximum(abs(dx), abs(dy)) <= r * 0.85,
              "diamond": abs(dx) + abs(dy) <= r * 1.15,
              "triangle": (dy <= r * 0.8) & (dy >= -r) & (abs(dx) <= (dy + r) * 0.6)}[o.shape]
      img[mask] = np.asarray(COLOURS[o.colour], np.float32) / 255.0
    if self.noise:
      img = img + rng.normal(0.0, self.noise, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0)

  def example(self, split: str, index: int) -> dict:
    """{"image": [s, s, 3] float32, "caption": str, "key": str} for example `index`."""
    scene = self.scene(split, index)
    rng = self._rng(split, index)
    rng.bit_generator.advance(1 << 20)  # independent of the draws that made the scene
    captions = scene.captions()
    return {"image": self.render(scene, rng),
            "caption": captions[int(rng.integers(len(captions)))],
            "key": scene.key}
