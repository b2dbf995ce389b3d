"""Questions and answers about a scene, for visual question answering.

One question per example. Its type is drawn uniformly from QUESTION_TYPES; a type the scene
cannot support unambiguously (relation with one object; an object no description can single
out) falls back to "exists". Objects are referred to by the shortest description that fits no
other object, built only from attributes other than the one asked, so the wording never hints
at the answer:
  count     "how many objects are there?"          -> one / two / three
  exists    "is there a red circle?"               -> yes / no (a fair coin; "no" asks about a
                                                      pair absent from the scene)
  colour    "what colour is the small circle?"     -> a colour
  shape     "what shape is the red object?"        -> a shape
  size      "what size is the blue square?"        -> small / large
  relation  "what shape is left of the red object?" -> a shape (2 objects: either one; 3: the
                                                      corner's neighbours)
Answers come from the fixed vocabulary ANSWERS. Within a type the answer is independent of the
question's wording and uniform, so the question-only Bayes accuracy (and chance) per type is
1/6 colour, 1/4 shape and relation, 1/2 size and exists, 1/max_objects count; the image and
question together give every answer (Bayes 1). `vqa_info` returns these numbers. They assume no
held-out pairs; questions never name a held-out pair outside the test_compositional split.
"""

from typing import Optional, Sequence

import numpy as np

from mmjax.data.synthetic.scenes import COLOURS, INVERSE, RELATIONS, SHAPES, SIZES, Scene

QUESTION_TYPES = ("count", "exists", "colour", "shape", "size", "relation")
NUMBERS = ("one", "two", "three")
ANSWERS = SHAPES + tuple(COLOURS) + tuple(SIZES) + ("yes", "no") + NUMBERS
_ANSWER_COUNTS = {"count": None, "exists": 2, "colour": len(COLOURS), "shape": len(SHAPES),
                  "size": len(SIZES), "relation": len(SHAPES)}
# Descriptions to try, shortest first, by the attribute the question asks about.
_DESCRIPTIONS = {"colour": (("shape",), ("size",), ("size", "shape")),
                 "shape": (("colour",), ("size",), ("size", "colour")),
                 "size": (("shape",), ("colour",), ("colour", "shape"))}
_TEMPLATES = {"count": "how many objects are there?", "exists": "is there a {colour} {shape}?",
              "colour": "what colour is the {ref}?", "shape": "what shape is the {ref}?",
              "size": "what size is the {ref}?", "relation": "what shape is {rel} the {ref}?"}


def describe(scene: Scene, i: int, asked: str) -> Optional[str]:
  """Shortest description of objects[i] that fits no other object and avoids `asked`."""
  target = scene.objects[i]
  others = [o for j, o in enumerate(scene.objects) if j != i]
  for attrs in _DESCRIPTIONS[asked]:
    if all(any(getattr(o, a) != getattr(target, a) for a in attrs) for o in others):
      words = [getattr(target, a) for a in ("size", "colour") if a in attrs]
      return " ".join(words + [target.shape if "shape" in attrs else "object"])
  return None


def _relations(scene: Scene) -> list:
  """(target, anchor, relation): the target is the only object <relation> the anchor."""
  r = scene.relation
  if len(scene.objects) == 2:
    return [(0, 1, r), (1, 0, INVERSE[r])]
  if len(scene.objects) == 3:  # only the corner has one object on each side
    return [(1, 0, INVERSE[r]), (2, 0, INVERSE[scene.relation2])]
  return []


def ask(scene: Scene, rng: np.random.Generator, pairs: Optional[Sequence] = None) -> dict:
  """{"question_type", "question", "answer", "answer_id"} about `scene`.

  pairs: the (shape, colour) pairs an absent-object question may name (None: all).
  """
  kind = QUESTION_TYPES[int(rng.integers(len(QUESTION_TYPES)))]
  pick = lambda xs: xs[int(rng.integers(len(xs)))]
  objects = scene.objects
  q = None
  if kind == "count":
    q = _TEMPLATES[kind], NUMBERS[len(objects) - 1]
  elif kind in _DESCRIPTIONS:
    refs = [(i, describe(scene, i, kind)) for i in range(len(objects))]
    refs = [(i, ref) for i, ref in refs if ref is not None]
    if refs:
      i, ref = pick(refs)
      q = _TEMPLATES[kind].format(ref=ref), getattr(objects[i], kind)
  elif kind == "relation":
    options = [(t, describe(scene, a, "shape"), rel) for t, a, rel in _relations(scene)]
    options = [o for o in options if o[1] is not None]
    if options:
      t, ref, rel = pick(options)
      q = _TEMPLATES[kind].format(ref=ref, rel=rel), objects[t].shape
  if q is None:
    kind = "exists"
    present = sorted({(o.shape, o.colour) for o in objects})
    if rng.integers(2):
      shape, colour = pick(present)
      answer = "yes"
    else:
      pool = pairs if pairs is not None else [(s, c) for s in SHAPES for c in COLOURS]
      shape, colour = pick([p for p in pool if p not in present])
      answer = "no"
    q = _TEMPLATES[kind].format(shape=shape, colour=colour), answer
  return {"question_type": kind, "question": q[0], "answer": q[1],
          "answer_id": np.int32(ANSWERS.index(q[1]))}


def question_words() -> set:
  words = set()
  for t in _TEMPLATES.values():
    words.update(t.replace("?", "").replace("{ref}", "").replace("{rel}", "")
                 .replace("{colour}", "").replace("{shape}", "").split())
  words.update(SHAPES, COLOURS, SIZES, ["object"], *(r.split() for r in RELATIONS))
  return words


def vqa_info(question_type: str, max_objects: int = 2) -> dict:
  """Chance and Bayes accuracies of one question type (see the module docstring)."""
  if question_type not in QUESTION_TYPES:
    raise ValueError(f"question_type={question_type!r}; valid: {', '.join(QUESTION_TYPES)}.")
  k = _ANSWER_COUNTS[question_type] or max_objects
  return {"num_classes": len(ANSWERS), "chance": 1.0 / k, "bayes_optimal": 1.0,
          "unimodal_bayes": {"question": 1.0 / k}}
