"""Modality translation, judged by what a classifier can read back from the translation.

text -> image: a text-conditioned diffusion model draws each test caption; an image classifier
trained on real images names the first object's shape, colour and size, scored against the
caption. image -> caption -> text: a captioner describes each test image and a text classifier
trained on real captions names the same attributes from the generated caption.

  python experiments/translation.py --config configs/translation.py:tiny --workdir runs/t2i

config -> data -> stages (each trained or restored in workdir/<stage>) -> results.json, and
generated.png (generated images with their captions).
"""

import functools
import json
import os

from absl import app, flags, logging
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_flags

from mmjax import train
from mmjax.data.pipeline import Batches
from mmjax.data.synthetic import SceneWorld
from mmjax.data.synthetic.scenes import ATTRIBUTES
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.image_grid import save_image_grid
from mmjax.losses.captioning import caption_loss, shift_right
from mmjax.models import HEADS, IMAGE_ENCODERS, TEXT_ENCODERS
from mmjax.models.attribute_classifier import AttributeClassifier, attribute_loss
from mmjax.models.captioner import build_captioner, decode
from mmjax.models.heads import diffusion
from mmjax.models.text_to_image import build_text_to_image
from mmjax.registry import ConfigError

FLAGS = flags.FLAGS

MEAN, STD = 0.5, 0.25  # pixel normalisation of the synthetic world's [0, 1] images.
MODES = {"text_to_image": ("image_classifier", "generator"),
         "caption_route": ("image_classifier", "text_classifier", "captioner"),
         "both": ("image_classifier", "generator", "text_classifier", "captioner")}


def stage_config(config, name):
  """The trainer config of stage `name`: its own section over the shared top-level keys."""
  section, out = config[name], train.defaults()
  unknown = set(section) - set(out) - {"model", "workdir"}
  if unknown:
    raise ConfigError(f"{name} has unknown keys {sorted(unknown)}; valid: the trainer keys "
                      f"{', '.join(sorted(out))}, model.")
  for key in out:
    out[key] = section[key] if key in section else config[key]
  # The data goes into each stage's config.json too: a captioner stage's workdir is then
  # interchangeable with an experiments/captioning.py one.
  out.model, out.data, out.eval_only = section.model, config.data, config.eval_only
  try:
    train.validate(out)
  except ConfigError as e:
    raise ConfigError(f"{name}: {e}") from None
  return out


def check_config(config, stages):
  """The run's own choices (not the models': make_models checks those) fail before compiling."""
  if config.mode not in MODES:
    raise ConfigError(f"mode={config.mode!r}; valid choices: {', '.join(MODES)}.")
  if config.data.source != "shapes":
    raise ConfigError(f"data.source={config.data.source!r}; valid choices: shapes.")
  for name in stages:
    stage_config(config, name)
  e, g = config.eval, config.generator.model
  for key in ("num_examples", "batch_size", "sample_examples", "sample_steps"):
    if not isinstance(e[key], int) or e[key] < 1:
      raise ConfigError(f"eval.{key}={e[key]!r}; it must be an integer >= 1.")
  if e.eta < 0 or not isinstance(e.grid_examples, int) or e.grid_examples < 0:
    raise ConfigError(f"eval.eta={e.eta}, eval.grid_examples={e.grid_examples!r}; valid: "
                      "eta >= 0 (0 = deterministic DDIM), grid_examples an integer >= 0.")
  if not 1 <= e.sample_steps <= g.timesteps:
    raise ConfigError(f"eval.sample_steps={e.sample_steps}; valid: 1..generator.model."
                      f"timesteps ({g.timesteps}).")
  diffusion.noise_schedule(g.noise_schedule, g.timesteps)  # names the valid kinds
  if "captioner" in stages and config.captioner.workdir:
    check_captioning_workdir(config)


def make_models(config, stages, vocab_size) -> dict:
  """The model of each stage; each part is built once here, so a bad name or option fails now,
  before anything compiles."""
  dtype, max_len = jnp.dtype(config.compute_dtype), config.data.max_len
  out = {}
  for name, modality, registry in (("image_classifier", "image", IMAGE_ENCODERS),
                                   ("text_classifier", "text", TEXT_ENCODERS)):
    if name not in stages:
      continue
    m = config[name].model
    options = registry.with_data_fields(m.encoder, m.encoder_options, f"{name}.model.encoder",
                                        vocab_size=vocab_size, max_len=max_len)
    registry.build(m.encoder, f"{name}.model.encoder", **options)
    HEADS.build("classification", f"{name}.model.head_options", num_classes=2,
                **m.head_options)
    out[name] = AttributeClassifier(
        num_classes={a: len(v) for a, v in ATTRIBUTES.items()}, modality=modality,
        encoder=m.encoder, encoder_options=options, head_options=dict(m.head_options),
        dtype=dtype)
  if "generator" in stages:
    out["generator"] = build_text_to_image(config.generator.model, vocab_size, max_len, dtype,
                                           "generator.model")
  if "captioner" in stages:
    out["captioner"] = build_captioner(config.captioner.model, vocab_size, max_len, dtype,
                                       "captioner.model")
  return out


def make_data(config, workdir):
  """The tokenizer, a train-batch maker and the test set (images in [0, 1]); the workdir records
  the data options, and refuses stages trained on other data."""
  d = config.data
  spec = d.to_dict()
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "data.json")
  if os.path.exists(path) and json.load(open(path)) != spec:  # stages would mix two datasets
    raise ConfigError(f"{workdir} holds stages trained on data {json.load(open(path))}, not "
                      f"{spec}; use another workdir.")
  with open(path, "w") as f:
    json.dump(spec, f)
  world = SceneWorld(d.seed, d.image_size, d.max_objects, d.noise)
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"), world.vocabulary())

  def encode(captions):
    for c in captions:  # truncating would teach captions that stop mid-sentence.
      if len(tokenizer.words(c)) + 1 > d.max_len:
        raise ConfigError(f"data.max_len={d.max_len} cannot hold {c!r}; raise data.max_len.")
    return tokenizer.encode_batch(captions, d.max_len)

  def train_batch(indices):  # a fresh scene per example, one of its paraphrases at random.
    ex = [world.example("train", int(i), ("image", "caption")) for i in indices]
    labels = world.first_object_labels("train", indices)  # minus n_objects: no stage uses it
    return {"images": np.stack([e["image"] for e in ex]),
            "tokens": encode([e["caption"] for e in ex]), **{a: labels[a] for a in ATTRIBUTES}}

  n = max(config.eval.num_examples, config.eval.sample_examples)
  ex = [world.example("test", i, ("image", "caption")) for i in range(n)]
  test = {"images": np.stack([e["image"] for e in ex]), "captions": [e["caption"] for e in ex],
          "tokens": encode([e["caption"] for e in ex]),
          **world.first_object_labels("test", range(n)),
          "references": [world.scene("test", i).captions() for i in range(n)]}
  return tokenizer, train_batch, test


def accuracies(predictions, labels):
  """{attribute: accuracy, "all": all attributes right} as floats."""
  right = {a: predictions[a] == labels[a] for a in ATTRIBUTES}
  return {**{a: float(r.mean()) for a, r in right.items()},
          "all": float(np.mean(np.all(list(right.values()), axis=0)))}


def rbg(key):
  """An "rbg" key seeded by one small draw from `key`. XLA:CPU takes seconds to compile each
  threefry draw of this jax and ~8x less for an rbg one: parameter inits and image-sized noise
  draw from this key instead (init compiles in a third of the time)."""
  return jax.random.wrap_key_data(jax.random.bits(key, (4,), jnp.uint32), impl="rbg")


def run_stage(config, name, workdir, *, init_fn, loss_fn, make_batch, evaluate):
  """Trains (or with eval_only restores) stage `name` in workdir/name -> (step, metrics,
  variables). evaluate(variables) -> {name: float}."""
  cfg = stage_config(config, name)
  final = {}

  def evaluate_state(state, step):
    params = state.eval_params
    final["variables"] = {"params": params, **state.model_state}
    return evaluate(final["variables"])

  sub = os.path.join(workdir, name)
  if name == "captioner" and config.captioner.workdir:
    sub, cfg.eval_only = config.captioner.workdir, True
  step, metrics = train.train_or_restore(
      cfg, sub, init_fn=init_fn, loss_fn=loss_fn,
      train_data=Batches(make_batch, cfg.batch_size, seed=config.data.seed),
      evaluate=evaluate_state)
  return step, metrics, final["variables"]


def apply_and_update(model, params, model_state, *args, rng, **kw):
  """model.apply in training mode -> (outputs, new model_state) (BatchNorm statistics)."""
  variables = {"params": params, **model_state}
  if model_state:
    return model.apply(variables, *args, train=True, rngs={"dropout": rng},
                       mutable=list(model_state), **kw)
  return model.apply(variables, *args, train=True, rngs={"dropout": rng}, **kw), model_state


def classifier_stage(config, name, workdir, model, make_batch, test):
  """An attribute classifier of images or captions -> (step, metrics, predict(x) -> {attribute:
  int [n]})."""
  key = "images" if model.modality == "image" else "tokens"
  prepare = (lambda x: (x - MEAN) / STD) if model.modality == "image" else (lambda x: x)

  def init_fn(rng):
    variables = dict(model.init(rbg(rng), prepare(test[key][:1])))
    return variables.pop("params"), variables

  def loss_fn(params, model_state, batch, rng, axis_name):
    logits, model_state = apply_and_update(model, params, model_state, prepare(batch[key]),
                                           rng=rng)
    loss, acc = attribute_loss(logits, batch)
    return loss, ({f"accuracy/{a}": v for a, v in acc.items()}, model_state)

  logits_fn = jax.jit(lambda v, x: {a: jnp.argmax(y, -1) for a, y in
                                    model.apply(v, prepare(x)).items()})
  predict = lambda variables, x: apply_in_batches(lambda b, _: logits_fn(variables, b), x,
                                                  config.eval.batch_size)
  n = config.eval.num_examples
  evaluate = lambda v: accuracies(predict(v, test[key][:n]), {a: test[a][:n] for a in ATTRIBUTES})
  step, metrics, variables = run_stage(config, name, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                       make_batch=make_batch, evaluate=evaluate)
  return step, metrics, functools.partial(predict, variables)


def generator_stage(config, workdir, model, make_batch, test, judge):
  """Text -> image diffusion, scored by `judge` (the image classifier) on generated images."""
  m = config.generator.model
  alpha_bars = diffusion.noise_schedule(m.noise_schedule, m.timesteps)
  apply_fn = lambda p, x, t, tokens, **kw: model.apply({"params": p}, x, t, tokens, **kw)
  s, e = config.data.image_size, config.eval

  def init_fn(rng):
    x = jnp.zeros((1, s, s, 3))
    return model.init(rbg(rng), x, jnp.zeros((1,), jnp.int32), test["tokens"][:1])["params"], {}

  def loss_fn(params, model_state, batch, rng, axis_name):
    images = batch["images"] * 2.0 - 1.0  # the diffusion model's pixels live in [-1, 1]
    rng = rbg(rng)
    loss = diffusion.diffusion_loss(params, apply_fn, images, batch["tokens"], rng, alpha_bars)
    return loss, ({}, model_state)

  draw = jax.jit(lambda params, tokens, rng: diffusion.sample(
      apply_fn, params, tokens, rng, alpha_bars, (s, s, 3), e.sample_steps, e.guidance_scale,
      e.eta))
  generated = {}

  def evaluate(variables):
    n, key = e.sample_examples, jax.random.key(config.seed)
    sample = lambda t, i: draw(variables["params"], t, jax.random.fold_in(key, i))
    images = apply_in_batches(sample, test["tokens"][:n], e.batch_size)
    generated["images"] = images = np.clip((images + 1.0) / 2.0, 0.0, 1.0)
    labels = {a: test[a][:n] for a in ATTRIBUTES}
    metrics = {f"generated/{k}": v for k, v in accuracies(judge(images), labels).items()}
    metrics.update({f"real/{k}": v for k, v in
                    accuracies(judge(test["images"][:n]), labels).items()})
    return metrics

  step, metrics, _ = run_stage(config, "generator", workdir, init_fn=init_fn, loss_fn=loss_fn,
                               make_batch=make_batch, evaluate=evaluate)
  return step, metrics, generated["images"]


def captioner_stage(config, workdir, model, make_batch, test, tokenizer, read_caption):
  """Image -> caption, scored by `read_caption` (the text classifier) on the captions."""
  m, max_len = config.captioner.model, config.data.max_len
  s, bos = config.data.image_size, tokenizer.bos_id

  def init_fn(rng):
    variables = dict(model.init(rbg(rng), jnp.zeros((1, s, s, 3)),
                                 jnp.zeros((1, max_len), jnp.int32)))
    return variables.pop("params"), variables

  def loss_fn(params, model_state, batch, rng, axis_name):
    captions = batch["tokens"]
    logits, model_state = apply_and_update(model, params, model_state,
                                           (batch["images"] - MEAN) / STD,
                                           shift_right(captions, bos), rng=rng)
    mask = captions != tokenizer.pad_id
    return caption_loss(logits, captions, mask, m.label_smoothing), ({}, model_state)

  greedy = jax.jit(functools.partial(decode, model, max_len=max_len, bos_id=bos,
                                     eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id))
  captions = {}

  def evaluate(variables):
    n = config.eval.num_examples
    tokens = apply_in_batches(lambda x, _: greedy(variables, (x - MEAN) / STD)[0],
                              test["images"][:n], config.eval.batch_size)
    captions["text"] = [tokenizer.decode(t) for t in tokens]
    labels = {a: test[a][:n] for a in ATTRIBUTES}
    metrics = {f"generated/{k}": v for k, v in accuracies(read_caption(tokens), labels).items()}
    metrics["caption_exact_match"] = float(np.mean(
        [c in refs for c, refs in zip(captions["text"], test["references"])]))
    return metrics

  step, metrics, _ = run_stage(config, "captioner", workdir, init_fn=init_fn, loss_fn=loss_fn,
                               make_batch=make_batch, evaluate=evaluate)
  return step, metrics, captions["text"]


def check_captioning_workdir(config):
  """A captioner trained elsewhere (experiments/captioning.py, or this script's captioner stage)
  is usable if it was trained with this run's model and data options (and so vocabulary)."""
  path = os.path.join(config.captioner.workdir, "config.json")
  if not os.path.exists(path):
    raise ConfigError(f"captioner.workdir={config.captioner.workdir!r} has no config.json; "
                      "give the workdir of a captioning run.")
  theirs = json.load(open(path))
  theirs = {k: theirs.get(k) for k in ("model", "data")}
  ours = json.loads(json.dumps({"model": config.captioner.model.to_dict(),
                                "data": config.data.to_dict()}))
  if theirs != ours:
    raise ConfigError(f"captioner.workdir={config.captioner.workdir!r} was trained with "
                      f"{theirs}; this run has {ours}: set captioner.model and data to match.")


def with_prefix(metrics, prefix):
  """The metrics named prefix + x, as {x: value}."""
  return {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}


def run(config, workdir) -> dict:
  """The whole experiment; returns (and writes) the results."""
  stages = MODES.get(config.mode, ())
  check_config(config, stages)
  tokenizer, train_batch, test = make_data(config, workdir)
  chance = {a: 1.0 / len(v) for a, v in ATTRIBUTES.items()}
  chance["all"] = float(np.prod(list(chance.values())))
  results = {"mode": config.mode, "chance": chance}

  models = make_models(config, stages, tokenizer.vocab_size)

  step, metrics, see = classifier_stage(config, "image_classifier", workdir,
                                        models["image_classifier"], train_batch, test)
  results["image_classifier"] = {"step": step, "real_images": metrics,
                                 "num_test_examples": config.eval.num_examples}
  if "generator" in stages:
    step, metrics, images = generator_stage(config, workdir, models["generator"], train_batch,
                                            test, see)
    results["generator"] = {
        "step": step, "num_test_captions": config.eval.sample_examples,
        "generated_images": with_prefix(metrics, "generated/"),
        "real_images": with_prefix(metrics, "real/")}
    k = min(config.eval.grid_examples, len(images))
    if jax.process_index() == 0 and k:
      save_image_grid(os.path.join(workdir, "generated.png"), images[:k], test["captions"][:k],
                      wrap_width=18)
  if "text_classifier" in stages:
    step, metrics, read = classifier_stage(config, "text_classifier", workdir,
                                           models["text_classifier"], train_batch, test)
    results["text_classifier"] = {"step": step, "real_captions": metrics}
    step, metrics, captions = captioner_stage(config, workdir, models["captioner"],
                                              train_batch, test, tokenizer, read)
    results["captioner"] = {
        "step": step, "caption_exact_match": metrics["caption_exact_match"],
        "generated_captions": with_prefix(metrics, "generated/"),
        "examples": [{"caption": c, "references": r} for c, r in
                     zip(captions[:config.eval.grid_examples], test["references"])]}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
  report(results)
  return results


def report(results):
  cols = (*ATTRIBUTES, "all")
  rows = [("image classifier, real images", results["image_classifier"]["real_images"])]
  if "generator" in results:
    g = results["generator"]
    print(f"Text -> image: {g['num_test_captions']} test captions, generator step {g['step']}.")
    rows += [("  the same examples' real images", g["real_images"]),
             ("  images generated from captions", g["generated_images"])]
  if "captioner" in results:
    print(f"Image -> caption -> text classifier (caption exact match "
          f"{results['captioner']['caption_exact_match']:.3f}).")
    rows += [("text classifier, real captions", results["text_classifier"]["real_captions"]),
             ("text classifier, generated captions",
              results["captioner"]["generated_captions"])]
  rows.append(("chance", results["chance"]))
  print(f"  {'attribute accuracy':36s}" + "".join(f"{c:>8s}" for c in cols))
  for name, values in rows:
    print(f"  {name:36s}" + "".join(f"{values[c]:8.3f}" for c in cols))


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO.
  run(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  # Defined only when run as a script, so that tests can import run().
  config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/translation.py:tiny.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Where each stage's checkpoints and the results go.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
