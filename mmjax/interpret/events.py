"""Where an audio-visual event localiser looks: Grad-CAM of its per-frame image encoder for the
"event" score of the segment that holds the event, drawn and scored (`python -m mmjax.interpret
--method gradcam` on an av_event_localisation.py run whose video encoder is `frames` over a cnn
or resnet).

Only the in-sync test clips hold an event (mmjax/data/synthetic/av_events.py): at boundary e
the other object appears or disappears, and the tone sounds. Its segment's event score has a
gradient through every frame, so Grad-CAM gives one map per frame. The evidence is the other
object in the boundary frame that shows it (frame e - 1 when it disappears, e when it appears):
that frame's map plays the pointing game (pointing_game.py) on it. `frame_share_by_offset`
says how the maps' mass spreads over the frames relative to the boundary (offset -1: the frame
before it, 0: the frame after), and `evidence_frame_share` how much of it the frame showing the
object takes. A segment pools only the two frames beside its boundary, so a frames encoder that
does not mix frames (temporal `mean`) puts all the mass there by construction; with a temporal
Transformer the rest measures how much context the model reads. `untrained_model` is the hit
rate of the same model as initialised: Grad-CAM of a random CNN already favours bright objects
on a dark ground, so that, not only a random map, is the bar.
"""

import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic import clips
from mmjax.interpret import gradcam, overlay, pointing_game
from mmjax.interpret.explain import check_counts, in_batches, untrained, write_scores
from mmjax.registry import ConfigError
from mmjax.tasks import classification, event_localisation


def evidence_frame(clip: clips.Clip) -> int:
  """The boundary frame that shows the other object: the last with it when it disappears, the
  first when it appears."""
  return clip.event_frame - 1 if clip.event == "disappears" else clip.event_frame


def explain_events(workdir: str, out: Optional[str] = None, num_examples: int = 200,
                   num_drawn: int = 16, layer: str = "", tolerance: float = 0.0,
                   batch_size: int = 50) -> dict:
  """Grad-CAM maps of every frame for the event segment of the in-sync clips among the run's
  first `num_examples` test clips; writes <out>/maps.png (the frames of the first clips,
  `num_drawn` frames in all) and scores.json; returns the scores. out:
  <workdir>/interpret/gradcam by default."""
  config = experiment.load_run_config(workdir)
  mods = event_localisation.modalities_of(config)
  video = config.model.encoders.get("video", {})
  if "video" not in mods or video.get("name") != "frames" or \
      video.frames.image not in ("cnn", "resnet"):
    raise ConfigError("--method=gradcam on an event localisation run needs video through the "
                      "encoder `frames` over a cnn or resnet (model.encoders.video.name=frames, "
                      "model.encoders.video.frames.image=cnn).")
  check_counts(num_examples, num_drawn, batch_size, tolerance)
  world = sources.build(config.data, reads=("clips",))
  model = event_localisation.localiser(config, mods, world.frames - 1)
  synced = [i for i in range(num_examples) if world.clip("test", i).sync]
  if not synced:
    raise ConfigError(f"--num_examples={num_examples}: none of the first test clips holds an "
                      "event; use more.")
  test = event_localisation.batch_maker(world, "test", mods)(np.array(synced))
  inputs = {m: test[m] for m in mods}
  init_fn = classification.init_fn(model, inputs)
  state, step = train.restore_latest(config, workdir, init_fn)
  variables = classification.variables_of(state)
  batch = min(batch_size, len(synced))
  example = {m: x[:batch] for m, x in inputs.items()}
  layer = layer or gradcam.default_layer(model, variables, example, "towers_video")

  def f(v, x):
    segment = x["segment"]
    event_logits = lambda out: out[jnp.arange(out.shape[0]), segment]  # [batch, 2]
    given = {m: x[m] for m in mods}
    maps, _, logits = gradcam.gradcam(model, v, given, layer, jnp.ones_like(segment),
                                      event_logits)
    return {"map": maps.reshape(x["video"].shape[:2] + maps.shape[1:]),
            "found": jnp.argmax(logits, -1) == 1}
  f = jax.jit(f)  # compiled once, for the trained and the untrained variables
  segments = np.argmax(test["segments"], axis=1)  # each clip's event segment
  result = in_batches(f, variables, {**inputs, "segment": segments}, batch)
  at_init = in_batches(f, untrained(init_fn, config.seed),
                       {**inputs, "segment": segments}, batch)["map"]

  size, frames = config.data.image_size, inputs["video"].shape[1]
  chosen = [world.clip("test", i) for i in synced]
  at = np.array([evidence_frame(c) for c in chosen])
  rows = np.arange(len(synced))
  masks = np.stack([pointing_game.object_mask(c.other, size) for c in chosen])
  game = pointing_game.pointing_game(result["map"][rows, at], masks, tolerance)
  game_at_init = pointing_game.pointing_game(at_init[rows, at], masks, tolerance)
  mass = result["map"].sum(axis=(2, 3))
  share = mass / np.maximum(mass.sum(1, keepdims=True), 1e-12)  # [clips, frames]
  offsets = range(-(frames - 1), frames)
  by_offset = {o: [share[c, segments[c] + 1 + o] for c in rows
                   if 0 <= segments[c] + 1 + o < frames] for o in offsets}  # boundary: s + 1
  scores = {"method": "gradcam", "workdir": os.path.abspath(workdir), "step": step,
            "layer": layer, "num_examples": num_examples, "num_events": len(synced),
            "frames": frames, "object": "other",
            "event_found": float(result["found"].mean()),
            "pointing_game": {**pointing_game.summary(game),
                              "untrained_model": game_at_init["hit_rate"]},
            "frame_share_by_offset": {str(o): float(np.mean(v)) for o, v in by_offset.items()
                                      if v},
            "evidence_frame_share": float(np.mean(share[rows, at]))}

  out = write_scores(workdir, out, "gradcam", scores)
  k = min(num_drawn // frames, len(synced))
  if k:  # every frame of the first k event clips, the scored one marked
    images = sources.denormalize(inputs["video"][:k].reshape(-1, *inputs["video"].shape[2:]))
    maps = result["map"][:k].reshape(-1, *result["map"].shape[2:])
    titles, hits = [], []
    for c in range(k):
      for t in range(frames):
        scored = t == at[c]
        titles.append(f"clip {synced[c]} frame {t}" + (f", {chosen[c].event}" if scored else ""))
        hits.append(bool(game["hits"][c]) if scored else None)
    overlay.save_scored(os.path.join(out, "maps.png"), images, maps, titles, hits,
                        pointing_game.peaks(maps, size), columns=frames)
  scores["out"] = out
  return scores
