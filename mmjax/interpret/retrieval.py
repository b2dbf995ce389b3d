"""Where a contrastive model finds a text in an image: for one object of a test scene, the map of
the image-text similarity between the image and a caption of that object alone, drawn and
scored (`python -m mmjax.interpret --method rollout` or `gradcam` on a contrastive.py run).

  rollout  (ViT image tower) gradient-weighted attention rollout of the similarity (Chefer et
           al. 2021; attention.gradient_rollout), and plain attention rollout, which is blind
           to the text, as its control.
  gradcam  (cnn or resnet image tower) Grad-CAM of the similarity.

Every object whose phrase ("small red circle") is unique in its scene is a query, captioned as
a one-object scene is ("a small red circle"); its map plays the pointing game
(pointing_game.py) on that object's pixels. In a two-object scene both objects are queried, so
a map that ignores the text hits at most one of the two: `query_blind_ceiling` is the best any
text-blind map can do on these queries (the best pixel per image, in hindsight), the bar a map
must clear before it says it follows the text; `every_query_hit` is the stricter test, the
images whose every query's map lands on its own object (a text-blind map manages it only
where the objects overlap). Scores are given for all queries and for those of multi-object
scenes.

On your own image-caption files (or COCO), whose objects are not known, each of the first test
images is paired with its first caption and the maps are drawn and tested by deletion
(deletion.py): the similarity each loses when its top pixels by the map are set to mid-grey,
against random and brightest-first orders. A pretrain_finetune.py `lit` stage's run (locked
MiniLM text tower) is rebuilt from the experiment's whole config above it.
"""

import os
import types
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic.scenes import Scene
from mmjax.data.synthetic import SceneWorld
from mmjax.interpret import attention, deletion, gradcam, overlay, pointing_game
from mmjax.interpret.explain import check_counts, in_batches, write_scores
from mmjax.models.image.vit import ViT
from mmjax.registry import ConfigError
from mmjax.tasks import image_text
from mmjax.tasks.classification import variables_of

METHODS = {"rollout": ("vit",), "gradcam": ("cnn", "resnet")}


def check_method(method: str, encoder: str, run: str):
  """ConfigError, before anything loads, when `method` cannot map `run`'s (e.g. "a contrastive
  run") image tower `encoder`, naming the method each tower takes."""
  if method not in METHODS or encoder not in METHODS[method]:
    valid = "; ".join(f"--method={m} for a {' or '.join(e)} image tower"
                      for m, e in METHODS.items())
    raise ConfigError(f"--method={method} on {run} with a {encoder} image tower; valid: "
                      f"{valid}.")


def queries(scene: Scene) -> list:
  """[(object, its one-object caption)] for each object of `scene` whose phrase no other
  object shares."""
  phrases = [o.phrase for o in scene.objects]
  return [(o, Scene(objects=(o,)).captions()[0]) for o in scene.objects
          if phrases.count(o.phrase) == 1]


def query_blind_ceiling(masks: np.ndarray, image_of: np.ndarray) -> float:
  """The best hit rate of maps that give every query of an image the same peak: per image, the
  pixel on the most of its queries' objects. masks bool [q, s, s]; image_of int [q]."""
  hits = 0
  for i in np.unique(image_of):
    hits += masks[image_of == i].sum(0).max()
  return float(hits / len(masks))


def every_query_hit(hits: np.ndarray, near: np.ndarray, image_of: np.ndarray) -> dict:
  """Over the images with two or more queries: the fraction whose every query's map hits its
  own object ("rate"), and the same for the best text-blind map ("query_blind_ceiling": the
  images where one pixel lies on every queried object). hits bool [q]; near bool [q, s, s]
  (the objects' masks, dilated by the tolerance); image_of int [q]."""
  images = [i for i in np.unique(image_of) if (image_of == i).sum() > 1]
  if not images:
    return {"rate": None, "query_blind_ceiling": None, "num_images": 0}
  return {"rate": float(np.mean([hits[image_of == i].all() for i in images])),
          "query_blind_ceiling": float(np.mean([near[image_of == i].all(0).any()
                                                for i in images])),
          "num_images": len(images)}


def map_function(method: str, model, options: dict, example: tuple, variables, size: int):
  """f(variables, (images, tokens)) -> {"map": [n, h', w'], "similarity": [n], and for rollout
  "blind_map"}, jitted: each image's map for the similarity with its query's tokens."""
  similarity = lambda out: jnp.sum(out[0] * out[1], axis=-1)

  # model.apply(v, (images, tokens)): the one-input interface gradcam and rollout take.
  pair = types.SimpleNamespace(apply=lambda v, x, **kw: model.apply(v, *x, **kw))

  if method == "gradcam":
    layer = gradcam.default_layer(pair, variables, example, "img_tower")

    def f(v, x):
      maps, _, scores = gradcam.gradcam(pair, v, x, layer, jnp.zeros(len(x[0]), jnp.int32),
                                        lambda out: similarity(out)[:, None])
      return {"map": maps, "similarity": scores[:, 0]}
  else:
    cls_token = options.get("pool", ViT.pool) == "cls"
    side = size // options.get("patch_size", ViT.patch_size)

    def f(v, x):
      rolled = attention.gradient_rollout(pair, v, x, similarity, "img_tower")
      out, state = model.apply(v, x[0], x[1], mutable=["intermediates"])
      blind = attention.rollout(list(attention.collect(state["intermediates"],
                                                       "img_tower").values()))
      return {"map": attention.token_map(rolled, cls_token, (side, side)),
              "blind_map": attention.token_map(blind, cls_token, (side, side)),
              "similarity": similarity(out)}
  return jax.jit(f)


def model_of(workdir: str, config, world) -> tuple:
  """(the run's two-tower model, captions -> its text input): a pretrain_finetune.py `lit`
  stage's locked-text model from the experiment's whole config above it, else the TwoTower
  config.model describes with the run's word vocabulary."""
  parent = os.path.dirname(os.path.normpath(workdir))
  if os.path.basename(os.path.normpath(workdir)) == "lit" and os.path.exists(
      os.path.join(parent, "config.json")):
    whole = experiment.load_run_config(parent)
    if whole.get("experiment") == "lit":
      return image_text.locked_text_model(whole)
  tokenizer = image_text.word_tokenizer(world, workdir)
  model = image_text.two_tower(config.model, tokenizer.vocab_size, config.data.text_len,
                               config.compute_dtype)
  return model, lambda captions: tokenizer.encode_batch(captions, config.data.text_len)


def explain_retrieval(workdir: str, method: str, out: Optional[str] = None, split: str = "test",
                      num_examples: int = 200, num_drawn: int = 12, tolerance: float = 0.0,
                      batch_size: int = 50) -> dict:
  """Maps of a contrastive run's image-text similarity for each query of `split`'s first
  `num_examples` images; writes <out>/maps.png (the first `num_drawn` queries) and scores.json;
  returns the scores. out: <workdir>/interpret/<method> by default."""
  config = experiment.load_run_config(workdir)
  encoder = config.model.image.name
  check_method(method, encoder, "a contrastive run")
  check_counts(num_examples, num_drawn, batch_size, tolerance)
  world = sources.build(config.data, reads=("shapes", "manifest", "coco_captions"))
  model, text_input = model_of(workdir, config, world)
  size = config.data.image_size
  known = isinstance(world, SceneWorld)  # objects known: queries of one object each
  # Files list an image once per caption: all of the split's rows give its first images whole.
  rows_wanted = num_examples if known else (sources.size(world, split) or num_examples)
  test = image_text.scenes(world, split, rows_wanted, captions=not known)
  rows = []  # (image index, object or None, query text)
  for i in range(min(num_examples, len(test["images"]))):
    if known:
      rows += [(i, o, text) for o, text in queries(world.scene(split, i))]
    else:  # the image's first caption
      rows.append((i, None, test["captions"][int(np.argmax(test["caption_keys"]
                                                           == test["keys"][i]))]))
  index = np.array([r[0] for r in rows])
  inputs = (test["images"][index], np.asarray(text_input([r[2] for r in rows])))
  state, step = train.restore_latest(config, workdir, image_text.init_fn(
      model, inputs[0][:1], inputs[1][:1]))
  variables = variables_of(state)
  batch = min(batch_size, len(rows))
  options = dict(config.model.image[encoder])
  f = map_function(method, model, options, (inputs[0][:batch], inputs[1][:batch]), variables,
                   size)
  pairs = {"images": inputs[0], "tokens": inputs[1]}
  result = in_batches(lambda v, x: f(v, (x["images"], x["tokens"])), variables, pairs, batch)
  if not known:
    return explain_files(workdir, method, out, split, num_drawn, model, variables, pairs,
                         result, rows, step, batch)

  masks = np.stack([pointing_game.object_mask(r[1], size) for r in rows])
  multi = np.array([len(world.scene(split, int(i)).objects) > 1 for i in index])

  def scored(key, sel, several=False):
    game = pointing_game.pointing_game(result[key][sel], masks[sel], tolerance)
    summary = pointing_game.summary(game)
    near = pointing_game.dilate(masks[sel], tolerance)
    summary["query_blind_ceiling"] = query_blind_ceiling(near, index[sel])
    if several:  # the multi-object scenes: several queries of one image to hit
      summary["every_query_hit"] = every_query_hit(game["hits"], near, index[sel])
    return summary, game

  everything = np.ones(len(rows), bool)
  game_all, game = scored("map", everything)
  scores = {"method": method, "workdir": os.path.abspath(workdir), "step": step, "split": split,
            "num_images": int(len(test["images"])), "num_queries": len(rows),
            "tolerance_pixels": tolerance, "pointing_game": game_all}
  if multi.any():
    scores["pointing_game_multi_object"] = scored("map", multi, True)[0]
  if "blind_map" in result:  # plain rollout: the same for every query of an image
    scores["rollout_control"] = {"pointing_game": scored("blind_map", everything)[0]}
    if multi.any():
      scores["rollout_control"]["pointing_game_multi_object"] = scored("blind_map", multi,
                                                                       True)[0]

  out = write_scores(workdir, out, method, scores)
  # The drawn queries: those of multi-object scenes first, where following the text shows.
  drawn = np.concatenate([np.flatnonzero(multi), np.flatnonzero(~multi)])[:num_drawn]
  if len(drawn):
    overlay.save_scored(os.path.join(out, "maps.png"), sources.denormalize(inputs[0][drawn]),
                        result["map"][drawn], [f"'{rows[j][2]}'" for j in drawn],
                        game["hits"][drawn], game["peaks"][drawn])
  scores["out"] = out
  return scores


def explain_files(workdir, method, out, split, num_drawn, model, variables, pairs, result, rows,
                  step, batch, pixels=sources.denormalize) -> dict:
  """explain_retrieval on images whose objects are unknown: the maps drawn and tested by
  deletion; writes <out>/maps.png and scores.json, returns the scores. pixels: the model's
  image inputs -> [0, 1] pixels (for the picture)."""
  def similarity(v, x):
    zimg, ztxt, _ = model.apply(v, x["images"], x["tokens"])
    return jnp.sum(zimg * ztxt, axis=-1)
  before = result["similarity"]
  after = deletion.deletion(jax.jit(similarity), variables, pairs,
                            {"map": result["map"], **deletion.blind_orders(pairs["images"])},
                            batch, key="images", fill=0.0)
  scores = {"method": method, "workdir": os.path.abspath(workdir), "step": step, "split": split,
            "num_images": len(rows), "mean_similarity": float(before.mean()),
            "deletion_similarity_drop": {
                order: {p: float(np.mean(before - s)) for p, s in by_p.items()}
                for order, by_p in after.items()}}
  out = write_scores(workdir, out, method, scores)
  k = min(num_drawn, len(rows))
  if k:
    overlay.save_overlays(os.path.join(out, "maps.png"),
                          pixels(pairs["images"][:k]), result["map"][:k],
                          [f"'{rows[j][2]}'" for j in range(k)])
  scores["out"] = out
  return scores


def explain_lit_coco(workdir: str, method: str, out: Optional[str] = None,
                     num_examples: int = 200, num_drawn: int = 12, batch_size: int = 50) -> dict:
  """explain_files on a lit_coco.py run: its model rebuilt from its config (the towers' sizes
  from the checkpoints it names, or its random towers and the word vocabulary in the workdir),
  each of the eval split's first `num_examples` images, as the experiment evaluates them, with
  its first caption; returns the scores (<out>/maps.png, scores.json)."""
  from mmjax.tasks import lit_coco  # the COCO reader: only these runs need tensorflow_datasets
  config = experiment.load_run_config(workdir)
  check_method(method, config.model.image.name, "a lit_coco run")
  check_counts(num_examples, num_drawn, batch_size, 0.0)
  source = sources.build(config.data, reads=("coco_captions",))
  # The towers' sizes only: their weights come with the restored state below.
  image, _, text, _, tokenizer = lit_coco.load_towers(config, source, workdir, weights=False)
  model, init_fn, _ = lit_coco.build(config, image, text)
  config.eval.num_images = num_examples
  test = lit_coco.load_eval(config, source, tokenizer)
  first = np.unique(test["caption_image"], return_index=True)[1]  # each image's first caption
  pairs = {"images": lit_coco.model_pixels(test["images"]),
           "tokens": np.asarray(test["tokens"][first])}
  rows = [(i, None, test["captions"][j]) for i, j in enumerate(first)]
  state, step = train.restore_latest(config, workdir, init_fn)
  variables = variables_of(state)
  batch = min(batch_size, len(rows))
  f = map_function(method, model, image, (pairs["images"][:batch], pairs["tokens"][:batch]),
                   variables, config.data.image_size)
  result = in_batches(lambda v, x: f(v, (x["images"], x["tokens"])), variables, pairs, batch)
  return explain_files(workdir, method, out, source.eval_split, num_drawn, model, variables,
                       pairs, result, rows, step, batch,
                       pixels=lambda x: np.clip(x * 0.5 + 0.5, 0.0, 1.0))
