"""Modality translation, judged by what a classifier can read back from the translation.

text -> image: a text-conditioned diffusion model draws each test caption; an image classifier
trained on real images names the first object's shape, colour and size, scored against the
caption. image -> caption -> text: a captioner describes each test image and a text classifier
trained on real captions names the same attributes from the generated caption. On your own
files (data.source manifest, rows of image, text and label) the one judged attribute is the
label; each test row is an example (its caption's references: every caption of its image).

  python experiments/translation.py --config configs/translation.py:tiny --workdir runs/t2i
  python experiments/translation.py --config configs/translation.py --workdir runs/t2i_files \
      --config.data.source.name=manifest --config.data.source.manifest.dir=DIR

config -> data -> stages (each trained or restored in workdir/<stage>) -> results.json, and
generated.png (generated images with their captions).
"""

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.image_grid import save_image_grid
from mmjax.models.attribute_classifier import attribute_loss
from mmjax.registry import ConfigError
from mmjax.tasks import captioning
from mmjax.tasks import translation as stage_models
from mmjax.tasks.classification import variables_of
from mmjax.tasks.translation import accuracies, attributes_of, labels_of, rbg
from mmjax.train import stages

MODES = {"text_to_image": ("image_classifier", "generator"),
         "caption_route": ("image_classifier", "text_classifier", "captioner"),
         "both": ("image_classifier", "generator", "text_classifier", "captioner")}


def check_config(config) -> dict:
  """The run's own choices fail before compiling (make_models checks the models'). Returns
  {stage: its trainer config} for the stages `mode` runs, each built and validated once."""
  if config.mode not in MODES:
    raise ConfigError(f"mode={config.mode!r}; valid choices: {', '.join(MODES)}.")
  configs = stages.configs(config, MODES[config.mode])
  e, g = config.eval, config.stages.generator.model
  for key in ("num_examples", "batch_size", "sample_examples", "sample_steps"):
    if not isinstance(e[key], int) or e[key] < 1:
      raise ConfigError(f"eval.{key}={e[key]!r}; it must be an integer >= 1.")
  if e.eta < 0 or not isinstance(e.grid_examples, int) or e.grid_examples < 0:
    raise ConfigError(f"eval.eta={e.eta}, eval.grid_examples={e.grid_examples!r}; valid: "
                      "eta >= 0 (0 = deterministic DDIM), grid_examples an integer >= 0.")
  if not 1 <= e.sample_steps <= g.timesteps:
    raise ConfigError(f"eval.sample_steps={e.sample_steps}; valid: 1..stages.generator.model."
                      f"timesteps ({g.timesteps}).")
  if "captioner" in configs and config.captioner_workdir:
    check_captioning_workdir(config, configs["captioner"])
    configs["captioner"].eval_only = True  # a captioner trained elsewhere is only scored
  return configs


def check_captioning_workdir(config, captioner):
  """A captioner trained elsewhere (experiments/captioning.py, or this script's captioner stage)
  is usable if it was trained on this run's data (and so vocabulary) with the same encoder,
  decoder and features as this run's captioner stage."""
  where = config.captioner_workdir
  try:
    theirs = experiment.load_run_config(where)
  except FileNotFoundError:
    raise ConfigError(f"captioner_workdir={where!r} has no config.json; give the workdir of a "
                      "captioning run.") from None
  plain = lambda section: json.loads(json.dumps(section.to_dict()))
  try:
    same_model = (captioning.model_choices(theirs.model, "captioner_workdir's model")
                  == captioning.model_choices(captioner.model, "stages.captioner.model"))
  except (AttributeError, KeyError, ConfigError) as e:
    raise ConfigError(f"captioner_workdir={where!r} holds no captioner this run can read: "
                      f"{e}") from None
  if not same_model or data_spec(theirs.data) != data_spec(config.data):
    raise ConfigError(f"captioner_workdir={where!r} was trained with model "
                      f"{plain(theirs.model)} and data {data_spec(theirs.data)}; this run "
                      f"has {plain(captioner.model)} and {data_spec(config.data)}: set "
                      "stages.captioner.model and data to match.")


def data_spec(d) -> dict:
  """Data section `d` as plain JSON with only the chosen source's options: what a stage's data
  is (the options of sources not read do not matter)."""
  spec = json.loads(json.dumps(d.to_dict()))
  name = spec["source"]["name"]
  spec["source"] = {"name": name, name: spec["source"].get(name, {})}
  return spec


def make_data(config, workdir):
  """The tokenizer, batches(stage config) -> the stage's train Batches, the test set (images in
  [0, 1], captions, references, labels {attribute: int32 [n]}) and the judged attributes
  {name: number of classes}; the workdir records the data options, and refuses stages trained
  on other data. A source of files is read in seeded epochs, its test set capped at its size."""
  d, e = config.data, config.eval
  spec = data_spec(d)
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "data.json")
  if os.path.exists(path) and json.load(open(path)) != spec:  # stages would mix two datasets
    raise ConfigError(f"{workdir} holds stages trained on data {json.load(open(path))}, not "
                      f"{spec}; use another workdir.")
  with open(path, "w") as f:
    json.dump(spec, f)
  source = sources.build(d, reads=("shapes", "manifest"))
  sources.require(source, ("image", "caption", "label"))
  attributes = attributes_of(source)
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"),
                                          source.vocabulary())
  encode = captioning.caption_encoder(tokenizer, d.text_len)

  def train_batch(indices):  # synthetic: a fresh scene per example, a random paraphrase.
    images, captions = captioning.image_captions(source, "train", indices)
    return {"images": images, "captions": encode(captions),
            **labels_of(source, "train", indices)}

  num_train = sources.size(source, "train")  # None: the synthetic world's fresh scenes
  batches = lambda cfg: Batches(train_batch, cfg.batch_size, seed=cfg.data.seed,
                                num_examples=num_train)
  n = max(e.num_examples, e.sample_examples)
  rows = sources.size(source, "test")
  n = n if rows is None else min(n, rows)
  images, captions = captioning.image_captions(source, "test", range(n))
  test = {"images": images, "text": captions, "captions": encode(captions),
          "labels": labels_of(source, "test", range(n)),
          "references": (captioning.references(source, "test", n) if rows is None
                         else row_references(source, "test", n))}
  return tokenizer, batches, test, attributes


def row_references(source, split: str, n: int) -> list:
  """The references of each of the first n rows of a source of files: every caption of the
  row's image (captioning.file_references)."""
  refs = captioning.file_references(source, split)
  return [refs[source.example(split, i, ("key",))["key"]][1] for i in range(n)]


def make_models(config, configs, vocab_size, attributes) -> dict:
  """The model of each stage that runs (the classifiers: one head per attribute of `attributes`,
  {name: number of classes}); a bad name or option fails now, naming its key."""
  dtype, text_len = jnp.dtype(config.compute_dtype), config.data.text_len
  out = {}
  for name, modality in (("image_classifier", "image"), ("text_classifier", "text")):
    if name in configs:
      out[name] = stage_models.build_attribute_classifier(
          configs[name].model, modality, vocab_size, text_len, dtype, f"stages.{name}.model",
          attributes)
  if "generator" in configs:
    out["generator"] = stage_models.build_text_to_image(
        configs["generator"].model, vocab_size, text_len, dtype, "stages.generator.model")
  if "captioner" in configs:
    out["captioner"] = captioning.build_captioner(
        configs["captioner"].model, vocab_size, text_len, dtype, "stages.captioner.model")
  return out


def run_stage(config, name, cfg, workdir, *, init_fn, loss_fn, batches, evaluate):
  """Trains (or with eval_only restores) stage `name` in workdir/name (the captioner of
  captioner_workdir: there) on batches(cfg) -> its FitResult. evaluate(variables) -> dict."""
  sub = os.path.join(workdir, name)
  if name == "captioner" and config.captioner_workdir:
    sub = config.captioner_workdir
  return train.train_or_restore(
      cfg, sub, init_fn=init_fn, loss_fn=loss_fn,
      train_data=batches(cfg),
      evaluate=lambda state, step: evaluate(variables_of(state)))


def classifier_stage(config, name, cfg, workdir, model, batches, test):
  """An attribute classifier of images or captions -> (FitResult, predict(x) -> {attribute:
  int [n]})."""
  key = "images" if model.modality == "image" else "captions"
  prepare = sources.normalize if model.modality == "image" else (lambda x: x)

  init_fn = stage_models.classifier_init_fn(model, prepare(test[key][:1]))

  def loss_fn(params, model_state, batch, rng, axis_name):
    logits, model_state = captioning.apply_train(model, params, model_state,
                                                 prepare(batch[key]), rng=rng)
    loss, acc = attribute_loss(logits, batch)
    return loss, ({f"accuracy/{a}": v for a, v in acc.items()}, model_state)

  logits_fn = jax.jit(lambda v, x: {a: jnp.argmax(y, -1) for a, y in
                                    model.apply(v, prepare(x)).items()})
  predict = lambda variables, x: apply_in_batches(lambda b, _: logits_fn(variables, b), x,
                                                  config.eval.batch_size)
  n = config.eval.num_examples
  evaluate = lambda v: accuracies(predict(v, test[key][:n]),
                                  {a: y[:n] for a, y in test["labels"].items()})
  result = run_stage(config, name, cfg, workdir, init_fn=init_fn, loss_fn=loss_fn,
                     batches=batches, evaluate=evaluate)
  return result, functools.partial(predict, variables_of(result.state))


def generator_stage(config, cfg, workdir, model, batches, test, judge):
  """Text -> image diffusion, scored by `judge` (the image classifier) on generated images; the
  FitResult's eval_metrics hold the images too."""
  alpha_bars = stage_models.noise_schedule(cfg.model)
  s, e = config.data.image_size, config.eval
  sampler = stage_models.image_sampler(model, alpha_bars, s, e.sample_steps, e.guidance_scale,
                                       e.eta)

  def init_fn(rng):
    x = jnp.zeros((1, s, s, 3))
    return model.init(rbg(rng), x, jnp.zeros((1,), jnp.int32), test["captions"][:1])["params"], {}

  def evaluate(variables):
    n = e.sample_examples
    images = stage_models.generate_images(sampler, variables["params"], test["captions"][:n],
                                          config.seed, e.batch_size)
    labels = {a: y[:n] for a, y in test["labels"].items()}
    return {**{f"generated/{k}": v for k, v in accuracies(judge(images), labels).items()},
            **{f"real/{k}": v for k, v in accuracies(judge(test["images"][:n]), labels).items()},
            "images": images}

  return run_stage(config, "generator", cfg, workdir, init_fn=init_fn,
                   loss_fn=stage_models.diffusion_loss_fn(model, alpha_bars),
                   batches=batches, evaluate=evaluate)


def captioner_stage(config, cfg, workdir, model, batches, test, tokenizer, read_caption):
  """Image -> caption, scored by `read_caption` (the text classifier) on the captions; the
  FitResult's eval_metrics hold the captions too."""
  s, text_len, e = config.data.image_size, config.data.text_len, config.eval
  greedy = captioning.captioner_fn(model, tokenizer, text_len)

  def init_fn(rng):
    variables = dict(model.init(rbg(rng), jnp.zeros((1, s, s, 3)),
                                jnp.zeros((1, text_len), jnp.int32)))
    return variables.pop("params"), variables

  def evaluate(variables):
    n = e.num_examples
    tokens = captioning.caption_images(greedy, variables, test["images"][:n], e.batch_size)
    captions = [tokenizer.decode(t) for t in tokens]
    labels = {a: y[:n] for a, y in test["labels"].items()}
    return {**{f"generated/{k}": v for k, v in accuracies(read_caption(tokens), labels).items()},
            "caption_exact_match": captioning.exact_match(captions, test["references"]),
            "captions": captions}

  loss_fn = captioning.caption_loss_fn(model, tokenizer, cfg.model.label_smoothing)
  return run_stage(config, "captioner", cfg, workdir, init_fn=init_fn, loss_fn=loss_fn,
                   batches=batches, evaluate=evaluate)


def with_prefix(metrics, prefix):
  """The metrics named prefix + x, as {x: value}."""
  return {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}


def run(config, workdir) -> dict:
  """The whole experiment; returns (and writes) the results."""
  configs = check_config(config)
  experiment.write_config(workdir, config)  # above the stages' runs, as they were configured
  tokenizer, batches, test, attributes = make_data(config, workdir)
  models = make_models(config, configs, tokenizer.vocab_size, attributes)
  chance = {a: 1.0 / n for a, n in attributes.items()}
  chance["all"] = float(np.prod(list(chance.values())))
  results = {"mode": config.mode, "attributes": attributes, "chance": chance}
  num_test = min(config.eval.num_examples, len(test["text"]))
  num_sampled = min(config.eval.sample_examples, len(test["text"]))

  fit, see = classifier_stage(config, "image_classifier", configs["image_classifier"], workdir,
                              models["image_classifier"], batches, test)
  results["image_classifier"] = {"step": fit.step, "real_images": fit.eval_metrics,
                                 "num_test_examples": num_test}
  if "generator" in configs:
    fit = generator_stage(config, configs["generator"], workdir, models["generator"],
                          batches, test, see)
    results["generator"] = {
        "step": fit.step, "num_test_captions": num_sampled,
        "generated_images": with_prefix(fit.eval_metrics, "generated/"),
        "real_images": with_prefix(fit.eval_metrics, "real/")}
    images = fit.eval_metrics["images"]
    k = min(config.eval.grid_examples, len(images))
    if jax.process_index() == 0 and k:
      save_image_grid(os.path.join(workdir, "generated.png"), images[:k], test["text"][:k],
                      wrap_width=18)
  if "text_classifier" in configs:
    fit, read = classifier_stage(config, "text_classifier", configs["text_classifier"],
                                 workdir, models["text_classifier"], batches, test)
    results["text_classifier"] = {"step": fit.step, "real_captions": fit.eval_metrics}
    fit = captioner_stage(config, configs["captioner"], workdir, models["captioner"],
                          batches, test, tokenizer, read)
    results["captioner"] = {
        "step": fit.step, "caption_exact_match": fit.eval_metrics["caption_exact_match"],
        "generated_captions": with_prefix(fit.eval_metrics, "generated/"),
        "examples": [{"caption": c, "references": r} for c, r in
                     zip(fit.eval_metrics["captions"][:config.eval.grid_examples],
                         test["references"])]}
  experiment.write_results(workdir, results)
  report(results)
  return results


def report(results):
  cols = tuple(results["chance"])  # the judged attributes, then "all"
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


if __name__ == "__main__":
  experiment.main(run)
