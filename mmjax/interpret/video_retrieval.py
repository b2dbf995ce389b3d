"""Where a video-text model finds a caption in a clip: Grad-CAM of the clip-caption similarity
through its per-frame image encoder, one map per frame, drawn and scored (`python -m
mmjax.interpret --method gradcam` on a video_retrieval.py run whose video tower is `frames`
over a cnn or resnet).

Each test clip is paired with its own caption, which names both objects ("a small red circle
moves left and a large blue square appears"). A frame's map hits when its peak lies on an
object the caption names that the frame shows (the mover, and the other object while present;
pointing_game.py). `peak_on` says which object the peaks pick: the mover in every frame, the
other object in the frames that show it (a model that reads the motion looks at the mover).
`untrained_model` is the hit rate of the same model as initialised: Grad-CAM of a random CNN
already favours bright objects on a dark ground, so that, not only a random map, is the bar.
"""

import os
import types
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.interpret import gradcam, overlay, pointing_game
from mmjax.interpret.explain import check_counts, in_batches, untrained, write_scores
from mmjax.registry import ConfigError
from mmjax.tasks import image_text, video_text
from mmjax.tasks.classification import variables_of


def object_masks(clip, size: int) -> dict:
  """{"mover", "other"}: bool [frames, size, size], each object where each frame draws it (all
  False in a frame without it)."""
  out = {k: np.zeros((clip.frames, size, size), bool) for k in ("mover", "other")}
  for f in range(clip.frames):
    out["mover"][f] = pointing_game.object_mask(clip.mover_at(f), size)
    if len(clip.scene(f).objects) > 1:
      out["other"][f] = pointing_game.object_mask(clip.other, size)
  return out


def explain_video_retrieval(workdir: str, out: Optional[str] = None, num_examples: int = 200,
                            num_drawn: int = 16, layer: str = "", tolerance: float = 0.0,
                            batch_size: int = 50) -> dict:
  """Grad-CAM maps of every frame of the run's first `num_examples` test clips for the
  similarity with their own caption; writes <out>/maps.png (the frames of the first clips,
  `num_drawn` frames in all) and scores.json; returns the scores. out:
  <workdir>/interpret/gradcam by default."""
  config = experiment.load_run_config(workdir)
  video = config.model.video
  if video.name != "frames" or video.frames.image not in ("cnn", "resnet"):
    raise ConfigError("--method=gradcam on a video retrieval run needs the video tower `frames` "
                      "over a cnn or resnet (model.video.name=frames, "
                      "model.video.frames.image=cnn).")
  check_counts(num_examples, num_drawn, batch_size, tolerance)
  world = sources.build(config.data, reads=("clips",))
  tokenizer = image_text.word_tokenizer(world, workdir)
  text_len, size = config.data.text_len, config.data.image_size
  model = image_text.two_tower(config.model, tokenizer.vocab_size, text_len,
                               config.compute_dtype, visual="video")
  test = video_text.evaluation_clips(world, "test", num_examples)
  inputs = {"video": sources.normalize(test["video"]),
            "tokens": tokenizer.encode_batch(test["captions"], text_len)}
  init_fn = image_text.init_fn(model, inputs["video"][:1], inputs["tokens"][:1])
  state, step = train.restore_latest(config, workdir, init_fn)
  variables = variables_of(state)
  batch = min(batch_size, num_examples)
  # model.apply(v, (video, tokens)): the one-input interface Grad-CAM takes.
  pair = types.SimpleNamespace(apply=lambda v, x, **kw: model.apply(v, *x, **kw))
  example = (inputs["video"][:batch], inputs["tokens"][:batch])
  layer = layer or gradcam.default_layer(pair, variables, example, "img_tower")
  similarity = lambda out: jnp.sum(out[0] * out[1], axis=-1)[:, None]

  def f(v, x):
    maps, _, scores = gradcam.gradcam(pair, v, (x["video"], x["tokens"]), layer,
                                      jnp.zeros(len(x["video"]), jnp.int32), similarity)
    return {"map": maps.reshape(x["video"].shape[:2] + maps.shape[1:]),
            "similarity": scores[:, 0]}
  f = jax.jit(f)  # compiled once, for the trained and the untrained variables
  result = in_batches(f, variables, inputs, batch)
  at_init = in_batches(f, untrained(init_fn, config.seed), inputs, batch)["map"]

  frames = inputs["video"].shape[1]
  masks = [object_masks(world.clip("test", i), size) for i in range(num_examples)]
  mover = np.concatenate([m["mover"] for m in masks])  # [clips x frames, s, s]
  other = np.concatenate([m["other"] for m in masks])
  maps = result["map"].reshape(-1, *result["map"].shape[2:])
  game = pointing_game.pointing_game(maps, mover | other, tolerance)
  game_at_init = pointing_game.pointing_game(at_init.reshape(maps.shape), mover | other, tolerance)
  on = lambda mask, rows: float(np.mean(pointing_game.dilate(mask, tolerance)[
      rows, game["peaks"][rows, 0], game["peaks"][rows, 1]]))
  shown = other.any(axis=(1, 2))
  every = np.arange(len(maps))
  scores = {"method": "gradcam", "workdir": os.path.abspath(workdir), "step": step,
            "layer": layer, "num_examples": num_examples, "frames": frames,
            "pointing_game": {**pointing_game.summary(game),
                              "untrained_model": game_at_init["hit_rate"]},
            "peak_on": {"mover": on(mover, every), "other": on(other, np.flatnonzero(shown)),
                        "mover_area": float(mover.mean()),
                        "other_area": float(other[shown].mean())},
            "mean_similarity": float(result["similarity"].mean())}

  out = write_scores(workdir, out, "gradcam", scores)
  k = min(num_drawn, len(maps))
  if k:  # the first clips' frames, in order
    overlay.save_scored(
        os.path.join(out, "maps.png"),
        sources.denormalize(inputs["video"].reshape(-1, *inputs["video"].shape[2:])[:k]),
        maps[:k], [f"clip {j // frames} frame {j % frames}" for j in range(k)],
        game["hits"][:k], game["peaks"][:k], columns=frames)
  scores["out"] = out
  return scores
