"""A cognitive-ability profile: a trained model's scores grouped by ability, as MMBench (Liu et
al. 2023) and SEED-Bench (Li et al. 2023) group theirs, each beside its chance.

An ability's score is an accuracy on the synthetic world's questions or labels that need that
ability; its chance is what a model blind to the evidence reaches (the question-only Bayes
accuracy for VQA, the task's chance for a classifier). Calibration is the expected calibration
error instead (lower is better; its "chance" is None). An ability a model type cannot be asked
about is absent from its profile, with the reason in `not_measured`.

  profile = {"abilities": {name: ability(...)}, "not_measured": {name: why}, "run": {...}}

experiments/cognitive_profile.py builds profiles from trained runs; this module holds the
taxonomy, the synthetic world's probes that score contrastive and captioning models (`foil`,
`caption_correct`), and writes the table (`profile_table`), the plot (`plot_profile`) and the
files.
"""

import dataclasses
import json
import os
from typing import Optional

import numpy as np

from mmjax.data.synthetic.scenes import COLOURS, INVERSE, SHAPES, SIZES, Scene, read_caption

# name -> what it measures, in the order tables and plots show them.
ABILITIES = {
    "perception/colour": "naming an object's colour",
    "perception/shape": "naming an object's shape",
    "perception/size": "naming an object's size",
    "counting": "how many objects a scene has",
    "spatial_relations": "where one object is relative to another",
    "compositional": "scenes with a (shape, colour) pair never seen in training",
    "cross_modal": "deciding from two or more modalities together what none decides alone",
    "noise_robustness": "the task with every perceptual input noised",
    "calibration": "expected calibration error over 15 confidence bins (lower is better)",
}


def ability(score: float, chance: Optional[float], n: int, measured_by: str) -> dict:
  """One ability's entry: its score (an accuracy, or the ECE for calibration), the chance beside
  it (None: none applies), the number of test items and what was scored."""
  if n < 1:
    raise ValueError(f"n={n}: an ability needs at least one test item.")
  return {"score": float(score), "chance": None if chance is None else float(chance),
          "n": int(n), "measured_by": measured_by}


def check(profile: dict) -> dict:
  """The profile, after checking that every ability is a known one."""
  named = set(profile["abilities"]) | set(profile.get("not_measured", {}))
  unknown = sorted(named - set(ABILITIES))
  if unknown:
    raise ValueError(f"unknown abilities {unknown}; valid: {', '.join(ABILITIES)}.")
  return profile


def profile_table(profile: dict) -> str:
  """The markdown table: ability, score, chance, test items, what was scored; the abilities not
  measured say why."""
  check(profile)
  rows = ["| ability | score | chance | n | measured by |", "|---|---|---|---|---|"]
  for name in ABILITIES:
    if name in profile["abilities"]:
      a = profile["abilities"][name]
      chance = "-" if a["chance"] is None else f"{a['chance']:.3f}"
      rows.append(f"| {name} | {a['score']:.3f} | {chance} | {a['n']} | {a['measured_by']} |")
    elif name in profile.get("not_measured", {}):
      rows.append(f"| {name} | - | - | - | not measured: {profile['not_measured'][name]} |")
  return "\n".join(rows) + "\n"


def comparison_table(profiles: dict) -> str:
  """The markdown table of several runs' profiles ({column label: profile}): a row per ability
  that any of them measures, a column per run, each cell "score (chance)" ("-": not measured)."""
  for profile in profiles.values():
    check(profile)
  names = [n for n in ABILITIES if any(n in p["abilities"] for p in profiles.values())]
  rows = ["| ability | " + " | ".join(profiles) + " |", "|---" * (len(profiles) + 1) + "|"]
  for name in names:
    cells = []
    for profile in profiles.values():
      a = profile["abilities"].get(name)
      cells.append("-" if a is None else f"{a['score']:.3f}" + (
          "" if a["chance"] is None else f" ({a['chance']:.3f})"))
    rows.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(rows) + "\n"


def plot_profile(profile: dict, path: str, title: str = "") -> None:
  """A horizontal bar per measured accuracy ability with its chance as a black tick, and the
  ECE in the title, as a PNG."""
  import matplotlib  # here: only plotting needs it
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  check(profile)
  names = [n for n in ABILITIES if n in profile["abilities"] and n != "calibration"]
  fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(names) + 1.2))
  scores = [profile["abilities"][n]["score"] for n in names]
  ax.barh(range(len(names)), scores, color="tab:blue")
  for i, n in enumerate(names):
    chance = profile["abilities"][n]["chance"]
    if chance is not None:
      ax.plot([chance, chance], [i - 0.4, i + 0.4], color="black", linewidth=2)
  ax.set_yticks(range(len(names)), names)
  ax.invert_yaxis()
  ax.set_xlim(0, 1)
  ax.set_xlabel("accuracy (black tick: chance)")
  ece = profile["abilities"].get("calibration")
  ax.set_title(title + (f"  (ECE {ece['score']:.3f})" if ece else ""), fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def write_profile(profile: dict, directory: str, title: str = "") -> None:
  """<directory>/profile.json, profile.md (the table) and profile.png (the plot)."""
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, "profile.json"), "w") as f:
    json.dump(check(profile), f, indent=2)
  with open(os.path.join(directory, "profile.md"), "w") as f:
    f.write(profile_table(profile))
  plot_profile(profile, os.path.join(directory, "profile.png"), title)


def foil(scene: Scene, kind: str, rng: np.random.Generator, pairs=None) -> Optional[Scene]:
  """`scene` changed in what `kind` asks and nothing else: the first object's colour, shape or
  size (another allowed value); "relation": the relation inverted; "count": the first object
  alone. None where the change needs two objects and the scene has not."""
  i = scene.reading_order()[0]
  o = scene.objects[i]
  if kind in ("colour", "shape", "size"):
    options = {"colour": [c for c in COLOURS if pairs is None or (o.shape, c) in pairs],
               "shape": [s for s in SHAPES if pairs is None or (s, o.colour) in pairs],
               "size": list(SIZES)}[kind]
    options = [v for v in options if v != getattr(o, kind)]
    return scene.replace_object(i, **{kind: options[int(rng.integers(len(options)))]})
  if len(scene.objects) != 2:
    return None
  if kind == "relation":
    return dataclasses.replace(scene, relation=INVERSE[scene.relation])
  return Scene((o,))


def caption_correct(scene: Scene, caption: str) -> dict:
  """What a caption gets right about `scene` (scenes.read_caption): each attribute's values over
  the objects (as a multiset: right when they are the scene's), the number of objects, all of
  these at once ("all"), and for a two-object scene whose objects it names exactly, whether its
  relation puts them where they are ("relation"; None otherwise)."""
  phrases, relations = read_caption(caption)
  truth = [(o.size, o.colour, o.shape) for o in scene.objects]
  out = {kind: sorted(map(str, (p[k] for p in phrases))) == sorted(t[k] for t in truth)
         for k, kind in enumerate(("size", "colour", "shape"))}
  out["count"] = len(phrases) == len(truth)
  out["all"] = sorted(phrases, key=str) == sorted(truth, key=str)
  out["relation"] = None
  if len(truth) == 2 and out["all"] and truth[0] != truth[1] and len(relations) == 1:
    said = {tuple(phrases): relations[0], tuple(phrases[::-1]): INVERSE[relations[0]]}
    out["relation"] = said.get(tuple(truth)) == scene.relation
  return out
