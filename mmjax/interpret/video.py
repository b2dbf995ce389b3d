"""Where a video classifier looks in each frame: Grad-CAM of its per-frame image encoder for the
class it predicts, drawn and scored (`python -m mmjax.interpret --method gradcam` on a
video_classification.py run whose video encoder is `frames` over a cnn or resnet).

The frame encoder runs its image encoder on every frame, so Grad-CAM gives one map per frame
(the gradient of the clip's class score through the temporal pooling). On the synthetic clips
the label is about one object: `direction` about the mover, in every frame; `event` (appears /
disappears) about the other object, in the frames that show it. Each such frame's map plays the
pointing game (pointing_game.py) on that object; `frame_share` says how the maps' mass spreads
over the frames (which frames the evidence came from).
"""

import os
from typing import Optional

import jax
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic import clips
from mmjax.interpret import gradcam, overlay, pointing_game
from mmjax.interpret.explain import check_counts, in_batches, write_scores
from mmjax.registry import ConfigError
from mmjax.tasks import classification
from mmjax.tasks.video import MODALITIES, batch_maker

LABEL_OBJECT = {"direction": "mover", "event": "other"}  # the object each label is about


def frame_masks(clip: clips.Clip, label: str, size: int) -> np.ndarray:
  """bool [frames, size, size]: the object `label` is about, in each frame (all False in a
  frame that does not show it)."""
  out = np.zeros((clip.frames, size, size), bool)
  for f in range(clip.frames):
    if LABEL_OBJECT[label] == "mover":
      out[f] = pointing_game.object_mask(clip.mover_at(f), size)
    elif len(clip.scene(f).objects) > 1:  # the mover, and the other object while present
      out[f] = pointing_game.object_mask(clip.other, size)
  return out


def explain_video(workdir: str, out: Optional[str] = None, num_examples: int = 200,
                  num_drawn: int = 16, layer: str = "", tolerance: float = 0.0,
                  batch_size: int = 50) -> dict:
  """Grad-CAM maps of every frame of a video run's first `num_examples` test clips; writes
  <out>/maps.png (the frames of the first clips, `num_drawn` frames in all) and scores.json;
  returns the scores. out: <workdir>/interpret/gradcam by default."""
  config = experiment.load_run_config(workdir)
  mods = classification.modalities_of(config, MODALITIES)
  video = config.model.encoders.video
  if "video" not in mods or video.name != "frames" or \
      video.frames.image not in ("cnn", "resnet"):
    raise ConfigError("--method=gradcam on a video run needs the video encoder `frames` over a "
                      "cnn or resnet (model.encoders.video.name=frames, "
                      "model.encoders.video.frames.image=cnn).")
  label = config.data.label
  if config.data.source.name != "clips" or label not in LABEL_OBJECT:
    raise ConfigError(f"the pointing game needs the synthetic clips and a label about one "
                      f"object: data.label in {', '.join(LABEL_OBJECT)}; the run has "
                      f"data.source.name={config.data.source.name!r}, data.label={label!r}.")
  check_counts(num_examples, num_drawn, batch_size, tolerance)
  world = sources.build(config.data, reads=("clips",))
  num_classes = clips.label_info(label)["num_classes"]
  model = classification.classifier(config, mods, num_classes)
  test = batch_maker(world, "test", mods, label)(np.arange(num_examples))
  inputs = {m: test[m] for m in mods}
  state, step = train.restore_latest(config, workdir, classification.init_fn(model, inputs))
  variables = classification.variables_of(state)
  batch = min(batch_size, num_examples)
  example = {m: x[:batch] for m, x in inputs.items()}
  layer = layer or gradcam.default_layer(model, variables, example, "towers_video")

  def f(v, x):
    maps, classes, _ = gradcam.gradcam(model, v, x, layer)
    return {"map": maps.reshape(x["video"].shape[:2] + maps.shape[1:]), "class": classes}
  result = in_batches(jax.jit(f), variables, inputs, batch)

  size, frames = config.data.image_size, inputs["video"].shape[1]
  masks = np.stack([frame_masks(world.clip("test", i), label, size)
                    for i in range(num_examples)])  # [clips, frames, s, s]
  shown = masks.any(axis=(2, 3))  # the frames that show the object
  game = pointing_game.pointing_game(result["map"][shown], masks[shown], tolerance)
  mass = result["map"].sum(axis=(2, 3))
  share = mass / np.maximum(mass.sum(1, keepdims=True), 1e-12)
  scores = {"method": "gradcam", "workdir": os.path.abspath(workdir), "step": step,
            "label": label, "object": LABEL_OBJECT[label], "layer": layer,
            "num_examples": num_examples, "frames": frames,
            "accuracy": float(np.mean(result["class"] == test["label"])),
            "pointing_game": pointing_game.summary(game),
            "frame_share": [float(s) for s in share.mean(0)]}

  out = write_scores(workdir, out, "gradcam", scores)
  k = min(num_drawn, int(shown.sum()))
  if k:  # the first clips' frames that show the object, in order
    where = np.argwhere(shown)[:k]
    names = clips.LABELS[label]
    overlay.save_scored(
        os.path.join(out, "maps.png"),
        sources.denormalize(np.stack([inputs["video"][c, t] for c, t in where])),
        np.stack([result["map"][c, t] for c, t in where]),
        [f"clip {c} frame {t}, predicted {names[result['class'][c]]}" for c, t in where],
        game["hits"][:k], game["peaks"][:k], columns=frames)
  scores["out"] = out
  return scores
