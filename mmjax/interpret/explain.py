"""Saliency maps of a trained classification run's inputs, drawn and scored: what
`python -m mmjax.interpret` runs.

  gradcam               Grad-CAM of the image encoder's last feature map (cnn, resnet).
  rollout               attention rollout of the image ViT (and its last layer's heads) and
                        of the audio AST (over time).
  integrated_gradients  integrated gradients of every continuous modality (image, audio) from
                        `baselines` (mid-grey image, noise at the clip's loudness): the
                        per-modality shares, and the image's |attribution| summed over colour
                        channels as its map.

Each map explains the predicted class. On the synthetic world, for a task whose label is about
an object (redundant, unique_audio), the maps play the pointing game against a random map
and input-blind maps (pointing_game.py): an image map on the object, an audio map on the word
that names it. The run is rebuilt from its config.json, vocabulary and newest checkpoint,
as experiments/evaluate.py does.
"""

import json
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic import SceneWorld
from mmjax.data.synthetic.scenes import SHAPES
from mmjax.data.synthetic.tasks import MATERIALS
from mmjax.interpret import attention, gradcam, integrated_gradients, overlay, pointing_game
from mmjax.models.audio.ast import AudioSpectrogramTransformer as AST
from mmjax.models.audio.log_mel import LogMel
from mmjax.models.image.vit import ViT
from mmjax.registry import ConfigError
from mmjax.tasks import classification

METHODS = ("gradcam", "rollout", "integrated_gradients")
IMAGE_ENCODERS = {"gradcam": ("cnn", "resnet"), "rollout": ("vit",)}  # (or rollout: ast audio)
CONTINUOUS = ("image", "audio")
CLASS_NAMES = {"redundant": SHAPES, "unique_audio": MATERIALS}  # for the pictures' titles


def check(method: str, modalities, encoders: dict):
  """ConfigError, before anything compiles, when `method` cannot explain this model (encoders:
  {modality: encoder name})."""
  if method not in METHODS:
    raise ConfigError(f"--method={method!r}; valid: {', '.join(METHODS)}.")
  if method == "rollout" and encoders.get("audio") == "ast" and encoders.get("image") != "vit":
    return  # the audio Transformer's rollout alone
  if "image" not in modalities:
    raise ConfigError(f"the run's model.modalities={tuple(modalities)} has no image to map.")
  image_encoder = encoders.get("image")
  if method in IMAGE_ENCODERS and image_encoder not in IMAGE_ENCODERS[method]:
    raise ConfigError(f"--method={method} needs an image encoder among "
                      f"{', '.join(IMAGE_ENCODERS[method])}"
                      + (" (or an ast audio encoder)" if method == "rollout" else "")
                      + f"; the run's model.encoders.image.name is {image_encoder!r}.")


def check_counts(num_examples: int, num_drawn: int, batch_size: int, tolerance: float,
                 steps: int = 1):
  """ConfigError, before anything compiles, for a count or tolerance out of range (the
  command's flags; steps: integrated gradients')."""
  if num_examples < 1 or num_drawn < 0 or batch_size < 1 or steps < 1 or tolerance < 0:
    raise ConfigError(f"--num_examples={num_examples}, --num_drawn={num_drawn}, "
                      f"--batch_size={batch_size}, --steps={steps}, --tolerance={tolerance}; "
                      "valid: num_examples, batch_size, steps >= 1; num_drawn, tolerance >= 0.")


def synthetic_world(config) -> SceneWorld:
  """The run's synthetic world, whose objects the pointing game scores maps against;
  ConfigError for another data source."""
  world = sources.build(config.data, reads=("shapes",))
  if not isinstance(world, SceneWorld):
    raise ConfigError("the pointing game needs the synthetic world's objects "
                      "(data.source.name=shapes).")
  return world


def untrained(init_fn, seed: int) -> dict:
  """The variables of a model as the trainer initialises it (init_fn(rng) -> (params,
  model_state)) from `seed`: the untrained model whose maps are a baseline."""
  params, model_state = init_fn(jax.random.key(seed))
  return {"params": params, **model_state}


def write_scores(workdir: str, out: Optional[str], method: str, scores: dict) -> str:
  """Writes scores.json into `out` (default <workdir>/interpret/<method>), made if missing;
  returns the folder, where the command's pictures go too."""
  out = out or os.path.join(workdir, "interpret", method)
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "scores.json"), "w") as f:
    json.dump(scores, f, indent=2)
  return out


def baselines(inputs: dict) -> dict:
  """Integrated gradients' uninformative inputs: a mid-grey image (zeros of the normalised
  pixels) and white noise with each clip's RMS (fixed seed). Not silence: the AST normalises
  each clip's spectrogram, so it sees any scaled clip alike and jumps only at zero, which a
  path from silence would miss (the completeness error shows it)."""
  out = {}
  if "image" in inputs:
    out["image"] = jnp.zeros_like(inputs["image"])
  if "audio" in inputs:
    audio = inputs["audio"]
    rms = jnp.sqrt(jnp.mean(jnp.square(audio), axis=-1, keepdims=True))
    out["audio"] = rms * jax.random.normal(jax.random.key(0), audio.shape, audio.dtype)
  return out


def map_function(method: str, model, example: dict, variables, layer: str = "",
                 steps: int = 32):
  """f(variables, inputs) -> {"map": [n, h', w'], "class": int [n], ...}, jitted: the method's
  image maps of the predicted classes (and what else it measures)."""
  if method == "gradcam":
    layer = layer or gradcam.default_layer(model, variables, example, "towers_image")

    def f(v, x):
      maps, classes, _ = gradcam.gradcam(model, v, x, layer)
      return {"map": maps, "class": classes}
  elif method == "rollout":
    encoders = model.encoders
    image = "image" in encoders and encoders["image"]["name"] == "vit"
    audio = "audio" in encoders and encoders["audio"]["name"] == "ast"
    if image:
      cls_token = encoders["image"].get("pool", ViT.pool) == "cls"
      side = example["image"].shape[1] // encoders["image"].get("patch_size", ViT.patch_size)

    def f(v, x):
      logits, state = model.apply(v, x, mutable=["intermediates"])
      out = {"class": jnp.argmax(logits, -1)}
      if image:
        weights = list(attention.collect(state["intermediates"], "towers_image").values())
        out.update(map=attention.token_map(attention.rollout(weights), cls_token, (side, side)),
                   heads=attention.head_maps(weights[-1], cls_token, (side, side)))
      if audio:
        weights = list(attention.collect(state["intermediates"], "towers_audio").values())
        cls = encoders["audio"].get("pool", AST.pool) == "cls"
        out["audio_map"] = attention.token_map(attention.rollout(weights), cls)
      return out
  else:
    mods = [m for m in model.modalities if m in CONTINUOUS]

    def f(v, x):
      out = integrated_gradients.modality_attributions(model, v, x, mods, steps=steps,
                                                       baselines=baselines(x))
      return {"map": jnp.abs(out["attributions"]["image"]).sum(-1), "class": out["classes"],
              "score": out["score"], "baseline_score": out["baseline_score"],
              **{f"attribution/{m}": a for m, a in out["per_modality"].items()}}
  return jax.jit(f)


def audio_time_map(options: dict, maps: np.ndarray, num_samples: int) -> tuple:
  """An AST's token map [n, time patches x frequency patches] -> ([n, time patches] summed over
  frequency, the centre sample of each time patch [time patches]). options: the AST's."""
  get = lambda k: options.get(k, getattr(AST, k))
  (pt, pf), (st, sf) = tuple(get("patch_size")), tuple(get("patch_stride") or get("patch_size"))
  nf = 1 + (get("num_mel_bins") - pf) // sf
  length, step = LogMel(sample_rate=get("sample_rate"), frame_length_ms=get("frame_length_ms"),
                        frame_step_ms=get("frame_step_ms")).frame_sizes()
  per_time = maps.reshape(len(maps), -1, nf).sum(-1)
  centres = pointing_game.token_centres(per_time.shape[1], pt, st, length, step)
  return per_time, np.minimum(centres, num_samples - 1)


def in_batches(f, variables, inputs: dict, batch_size: int) -> dict:
  """f over `inputs` in batches of exactly batch_size (the last padded by repeating its final
  example, whose outputs are dropped), so f compiles once; numpy outputs [n, ...]."""
  n, out = len(next(iter(inputs.values()))), []
  for start in range(0, n, batch_size):
    idx = np.arange(start, min(start + batch_size, n))
    batch = {k: v[np.pad(idx, (0, batch_size - len(idx)), mode="edge")]
             for k, v in inputs.items()}
    out.append({k: np.asarray(v)[:len(idx)] for k, v in f(variables, batch).items()})
  return {k: np.concatenate([o[k] for o in out]) for k in out[0]}


def summarise(method: str, result: dict, labels: np.ndarray, masks, tolerance: float,
              audio_on=None) -> dict:
  """The scores written to scores.json: accuracy of the explained predictions, the pointing
  game (all maps, and the maps of correct predictions), and integrated gradients' shares."""
  correct = result["class"] == labels
  scores = {"num_examples": int(len(labels)), "accuracy": float(correct.mean())}
  if audio_on is not None:  # the peak time patch on the word the label is about
    game = pointing_game.pointing_game_tokens(result["audio_map"], audio_on)
    scores["audio_pointing_game"] = {k: game[k] for k in ("hit_rate", "random_baseline",
                                                          "best_fixed_baseline", "num_maps")}
    result["audio_hits"] = game["hits"]
  if masks is not None:
    game = pointing_game.pointing_game(result["map"], masks, tolerance)
    on_correct = pointing_game.pointing_game(result["map"][correct], masks[correct], tolerance) \
        if correct.any() else None
    scores["pointing_game"] = {
        "tolerance_pixels": tolerance, "hit_rate": game["hit_rate"],
        "random_baseline": game["random_baseline"],
        "centre_baseline": game["centre_baseline"],
        "best_fixed_baseline": game["best_fixed_baseline"], "num_maps": game["num_maps"],
        "empty_maps": int((result["map"].max(axis=(1, 2)) <= 0).sum()),
        "correct_predictions": None if on_correct is None else {
            k: on_correct[k] for k in ("hit_rate", "random_baseline", "centre_baseline",
                                       "best_fixed_baseline", "num_maps")}}
    result["hits"], result["peaks"] = game["hits"], game["peaks"]
  if method == "integrated_gradients":
    parts = {k.split("/", 1)[1]: v for k, v in result.items() if k.startswith("attribution/")}
    total = sum(parts.values())
    magnitude = sum(np.abs(v) for v in parts.values())
    change = result["score"] - result["baseline_score"]
    scores["integrated_gradients"] = {
        "mean_attribution": {m: float(v.mean()) for m, v in parts.items()},
        "mean_share_of_magnitude": {m: float((np.abs(v) / np.maximum(magnitude, 1e-12)).mean())
                                    for m, v in parts.items()},
        "mean_score_change": float(change.mean()),
        # Completeness: the attributions sum to f(x) - f(baseline) up to the quadrature error.
        "mean_completeness_error": float(np.abs(total - change).mean())}
  return scores


def explain(workdir: str, method: str, out: Optional[str] = None, split: str = "test",
            num_examples: int = 200, num_drawn: int = 12, layer: str = "", steps: int = 32,
            tolerance: float = 0.0, batch_size: int = 50) -> dict:
  """Maps of `num_examples` examples of `split` for the run in `workdir`; writes
  <out>/maps.png (the first `num_drawn`), rollout's heads.png (the ViT's last layer) and
  audio.png (the AST's rollout over time), and scores.json; returns the scores. out defaults
  to <workdir>/interpret/<method>."""
  config = experiment.load_run_config(workdir)
  mods = classification.modalities_of(config)
  check(method, mods, {m: config.model.encoders[m].name for m in mods})
  check_counts(num_examples, num_drawn, batch_size, tolerance, steps)
  mods, source, task, info, tokenizer, model = classification.setup(
      config, os.path.join(workdir, "vocab.json"))
  n = min(num_examples, sources.size(source, split) or num_examples)
  indices = np.arange(n)
  data = classification.batch_maker(source, split, mods, tokenizer, config.data.text_len)(indices)
  inputs = {m: data[m] for m in mods}
  state, step = train.restore_latest(config, workdir, classification.init_fn(model, inputs))
  variables = classification.variables_of(state)
  example = {m: x[:batch_size] for m, x in inputs.items()}
  f = map_function(method, model, example, variables, layer, steps)
  result = in_batches(f, variables, inputs, min(batch_size, n))

  masks = audio_on = None
  if "audio_map" in result:
    result["audio_map"], centres = audio_time_map(model.encoders["audio"], result["audio_map"],
                                                  inputs["audio"].shape[1])
  if isinstance(source, SceneWorld) and task in pointing_game.OBJECT_TASKS:
    if "map" in result:
      masks = pointing_game.referent_masks(source, split, indices)
    if "audio_map" in result:
      words = pointing_game.word_masks(source, split, indices, inputs["audio"].shape[1])
      audio_on = words[:, centres]
  scores = {"method": method, "workdir": os.path.abspath(workdir), "step": step, "task": task,
            "split": split,
            **summarise(method, result, data["label"], masks, tolerance, audio_on)}
  if method == "gradcam":
    scores["layer"] = layer or gradcam.default_layer(model, variables, example, "towers_image")

  out = write_scores(workdir, out, method, scores)
  k = min(num_drawn, n)
  if k and "audio_map" in result:
    on = None if audio_on is None else audio_on[:k]
    overlay.save_curves(os.path.join(out, "audio.png"), result["audio_map"][:k],
                        centres / float(config.data.sample_rate), on,
                        [f"example {i}" + ("" if on is None else (
                            ", hit" if result["audio_hits"][i] else ", miss")) for i in range(k)])
  if k and "map" in result:
    images = sources.denormalize(inputs["image"][:k])
    hit = result.get("hits")
    names = CLASS_NAMES.get(task, ())
    name = lambda c: names[c] if c < len(names) else str(c)
    titles = [f"label {name(data['label'][i])}, predicted {name(result['class'][i])}"
              + ("" if hit is None else (", hit" if hit[i] else ", miss")) for i in range(k)]
    colours = None if hit is None else ["green" if h else "red" for h in hit[:k]]
    overlay.save_overlays(os.path.join(out, "maps.png"), images, result["map"][:k], titles,
                          None if hit is None else result["peaks"][:k], colours)
    if "heads" in result:
      heads = result["heads"][:min(k, 4)]
      per = heads.shape[1]
      overlay.save_overlays(
          os.path.join(out, "heads.png"), np.repeat(images[:len(heads)], per, axis=0),
          heads.reshape(-1, *heads.shape[2:]),
          [f"example {i}, head {h}" for i in range(len(heads)) for h in range(per)],
          columns=per)
  scores["out"] = out
  return scores
