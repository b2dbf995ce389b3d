"""Does cross-modal pretraining help downstream? Two experiments, chosen by `config.experiment`:

(a) "finetune": CLIP pretraining of a two-tower model on captioned scenes -> <workdir>/pretrain;
    its image tower + a fresh classification head fine-tuned on a few labelled images ->
    <workdir>/finetune; the identical classifier trained from scratch, same steps ->
    <workdir>/scratch; plus a linear probe of the frozen pretrained tower.
(b) "lit": an image tower trained against the locked all-MiniLM-L6-v2 text tower (LiT, Zhai et
    al. 2022, text side locked) -> <workdir>/lit, and against a text tower trained from scratch
    -> <workdir>/scratch_text; retrieval, zero-shot, and both on wordings the captions never use
    (checked: eval.novel_templates, "zero_shot_novel/<attr>/top1").
    On the synthetic world, your own image-text files (data.source manifest) or COCO
    (coco_captions): retrieval only.

  python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py:tiny \
      --workdir runs/pf_tiny

config -> data -> one `train.train_or_restore` per run (each resumable in its own sub-workdir; a
finished run is restored, not retrained) -> write results.json. The contrastive runs train with
stage `pretrain`'s config, the classifiers with stage `finetune`'s (mmjax.train.stages).
"""

import os
import re

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.data.synthetic.scenes import ATTRIBUTES as CLASSES  # of the first object
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.classification import classification_metrics
from mmjax.evaluate.linear_probe import linear_probe
from mmjax.losses.classification import softmax_cross_entropy
from mmjax.models import HEADS, IMAGE_ENCODERS
from mmjax.models.from_checkpoint import graft
from mmjax.models.multimodal_classifier import MultimodalClassifier
from mmjax.registry import ConfigError
from mmjax.tasks import image_text
from mmjax.train import stages

EXPERIMENTS = {"finetune": ("pretrain", "finetune"), "lit": ("pretrain",)}  # -> stages used
NOVEL_HINT = " Put wordings the captions never use in eval.novel_templates."


def check_config(config) -> dict:
  """Fails, naming the key, on a value of this experiment's own sections; returns the trainer
  config of each stage the experiment uses (built and validated once)."""
  if config.experiment not in EXPERIMENTS:
    raise ConfigError(f"experiment={config.experiment!r}; valid choices: "
                      f"{', '.join(EXPERIMENTS)}.")
  d = config.downstream
  if d.task not in CLASSES:
    raise ConfigError(f"downstream.task={d.task!r}; valid choices: {', '.join(CLASSES)}.")
  if not isinstance(d.num_labels, int) or d.num_labels < 5:
    raise ConfigError(f"downstream.num_labels={d.num_labels!r}; valid: an integer >= 5 (the "
                      "linear probe validates on a fifth of them).")
  image_text.check_tasks(config.eval, ("zero_shot_tasks",), CLASSES)
  for key in ("zero_shot_templates", "novel_templates"):
    image_text.check_templates(config.eval, key)
  image_text.check_novel_templates(config.eval)
  return stages.configs(config, EXPERIMENTS[config.experiment])


def paraphrase(text: str, pairs) -> str:
  """`text` with each (phrase, replacement) of `pairs` swapped in, whole words, longest first."""
  table = dict(pairs)
  if not table:
    return text
  alternatives = "|".join(map(re.escape, sorted(table, key=len, reverse=True)))
  return re.sub(rf"\b({alternatives})\b", lambda m: table[m.group(1)], text)


def eval_scenes(config, world) -> dict:
  """The test scenes with captions, labels, and (eval.paraphrases) paraphrased captions."""
  test = image_text.scenes(world, "test", config.eval.num_examples, captions=True)
  if config.eval.paraphrases:
    test["paraphrases"] = [paraphrase(c, config.eval.paraphrases) for c in test["captions"]]
  return test


def train_contrastive(stage, workdir, model, world, text_input, test) -> train.FitResult:
  """Trains `model` (the TwoTower interface) with stage config `stage` on train-split
  image-caption pairs; text_input(captions) -> the text side's input."""
  return train.train_or_restore(
      stage, workdir,
      init_fn=image_text.init_fn(model, test["images"][:1], text_input(test["captions"][:1])),
      loss_fn=image_text.contrastive_loss_fn(model, stage.model.loss),
      train_data=image_text.caption_batches(world, text_input, stage.batch_size, stage.data.seed),
      evaluate=image_text.evaluator(model, test, text_input, stage.eval, CLASSES))


def train_classifier(stage, workdir, model, predict, labelled, test, pretrained=None,
                     freeze=False) -> train.FitResult:
  """Trains `model` (an image MultimodalClassifier) with stage config `stage` on the labelled
  examples {"image", "label"}, its image tower initialised from `pretrained` params (None: at
  random). freeze: the tower is kept in model_state, out of the optimizer's reach (no gradient,
  no weight decay): only the head trains. predict(variables, images) -> class ids (one jit
  shared by the runs). Its evaluation: classification_metrics on `test`."""
  labels, num_classes = labelled["label"], int(model.num_classes)
  data = Batches(lambda idx: {"image": labelled["image"][idx], "label": labels[idx]},
                 stage.batch_size, seed=stage.data.seed, num_examples=len(labels))

  def init_fn(rng):
    params = model.init(rng, {"image": test["image"][:1]})["params"]
    if pretrained is not None:
      params = graft(params, "towers_image", pretrained)
    if freeze:
      tower = {"towers_image": params.pop("towers_image")}
      return params, {"frozen": tower}
    return params, {}

  def variables(params, model_state):
    return {"params": {**params, **model_state.get("frozen", {})}}

  def loss_fn(params, model_state, batch, rng, axis_name):
    logits = model.apply(variables(params, model_state), {"image": batch["image"]}, train=True,
                         rngs={"dropout": rng})
    accuracy = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    return softmax_cross_entropy(logits, batch["label"]), ({"accuracy": accuracy}, model_state)

  def evaluate(state, step):
    params = variables(state.eval_params, state.model_state)
    preds = apply_in_batches(lambda x, _: predict(params, x), test["image"],
                             stage.eval.batch_size)
    return classification_metrics(test["label"], preds.astype(np.int64), num_classes)

  return train.train_or_restore(stage, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                train_data=data, evaluate=evaluate)


def run_finetune(config, workdir, runs) -> dict:
  d, pre = config.downstream, runs["pretrain"]
  world = sources.build(config.data, reads=("shapes",))
  tokenizer = image_text.word_tokenizer(world, workdir)
  image_text.check_templates(config.eval, "zero_shot_templates", tokenizer, NOVEL_HINT)
  clip = image_text.two_tower(pre.model, tokenizer.vocab_size, config.data.text_len,
                              config.compute_dtype, "stages.pretrain.model")
  # The classifier: the pretrained image tower's architecture and a head.
  image_name, image = IMAGE_ENCODERS.choose(pre.model.image, "stages.pretrain.model.image")
  head_name, head = HEADS.choose(runs["finetune"].model.head, "stages.finetune.model.head")
  classifier = MultimodalClassifier(
      num_classes=len(CLASSES[d.task]), modalities=("image",),
      encoders={"image": {"name": image_name, **image}}, head=head_name, head_options=head,
      dtype=jnp.dtype(config.compute_dtype))
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  test = eval_scenes(config, world)
  results = {"experiment": "finetune", "task": d.task, "num_labels": d.num_labels,
             "freeze_encoder": d.freeze_encoder}

  # 1. CLIP pretraining on image-caption pairs (no labels).
  out = train_contrastive(pre, os.path.join(workdir, "pretrain"), clip, world, tokens, test)
  results.update({"pretrain/step": out.step,
                  **{f"pretrain/{k}": v for k, v in out.eval_metrics.items()}})
  params = jax.tree.map(np.asarray, out.state.eval_params)

  # 2. and 3. The same classifier from the pretrained tower and from scratch, trained on
  # train images 0 .. num_labels - 1 (pretraining saw them with captions, never with labels).
  train_scenes = image_text.scenes(world, "train", d.num_labels)
  labelled = {"image": train_scenes["images"], "label": train_scenes[d.task]}
  scored = {"image": test["images"], "label": test[d.task]}
  predict = jax.jit(lambda v, x: jnp.argmax(classifier.apply(v, {"image": x}), -1))
  for name, init in (("finetune", params["img_tower"]), ("scratch", None)):
    out = train_classifier(runs["finetune"], os.path.join(workdir, name), classifier, predict,
                           labelled, scored, pretrained=init, freeze=d.freeze_encoder)
    results.update({f"{name}/step": out.step, f"{name}/accuracy": out.eval_metrics["accuracy"],
                    f"{name}/macro_f1": out.eval_metrics["macro_f1"]})
  if d.linear_probe:  # on the frozen pretrained tower's pooled features
    embed = image_text.embed_images(clip, config.eval.batch_size)
    pooled = lambda x: embed(params, x)[1]
    probe = linear_probe(pooled(labelled["image"]), labelled["label"], pooled(scored["image"]),
                         scored["label"], len(CLASSES[d.task]))
    results.update({"linear_probe/accuracy": probe["accuracy"], "linear_probe/l2": probe["l2"]})
  results["chance"] = float(np.bincount(scored["label"]).max() / len(scored["label"]))
  results["num_test_examples"] = len(scored["label"])
  return results


def run_lit(config, workdir, runs) -> dict:
  pre = runs["pretrain"]
  # Loaded first: a missing MiniLM package fails in seconds, naming the pip command.
  lit, locked_text = image_text.locked_text_model(config)
  world = sources.build(config.data, reads=("shapes", "manifest", "coco_captions"))
  image_text.check_source(world, config.eval, ("zero_shot_tasks",))
  tokenizer = image_text.word_tokenizer(world, workdir)
  if config.eval.zero_shot_tasks:  # prompts of words the scratch text tower was trained on
    image_text.check_templates(config.eval, "zero_shot_templates", tokenizer, NOVEL_HINT)
  scratch = image_text.two_tower(pre.model, tokenizer.vocab_size, config.data.text_len,
                                 config.compute_dtype, "stages.pretrain.model")
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  test = eval_scenes(config, world)
  results = {"experiment": "lit", "text_tower": "all-MiniLM-L6-v2 (locked)",
             "num_test_examples": len(test["keys"])}
  for name, model, text_input in (("lit", lit, locked_text), ("scratch_text", scratch, tokens)):
    out = train_contrastive(pre, os.path.join(workdir, name), model, world, text_input, test)
    results.update({f"{name}/step": out.step,
                    **{f"{name}/{k}": v for k, v in out.eval_metrics.items()}})
  results["locked_text/cached_texts"] = len(locked_text)
  return results


def report(results):
  """The comparison, as a few printed lines."""
  r = results
  if r["experiment"] == "finetune":
    print(f"{r['task']} of the first object from {r['num_labels']} labels, "
          f"{r['num_test_examples']} test images (majority class {r['chance']:.3f}):")
    for name in ("finetune", "scratch", "linear_probe"):
      if f"{name}/accuracy" in r:
        print(f"  {name:13s} accuracy {r[name + '/accuracy']:.3f}")
    print(f"  (pretraining: i2t R@1 {r['pretrain/i2t/R@1']:.3f}, "
          f"t2i R@1 {r['pretrain/t2i/R@1']:.3f})")
    return
  keys = sorted(k[4:] for k in r if k.startswith("lit/") and "chance" not in k and k != "lit/step")
  print(f"{'':32s} {'locked MiniLM':>14s} {'scratch text':>13s}")
  for k in keys:
    print(f"  {k:30s} {r['lit/' + k]:14.3f} {r.get('scratch_text/' + k, float('nan')):13.3f}")


def run(config, workdir) -> dict:
  """Runs (or with eval_only, re-evaluates) every run; writes and returns results.json's dict."""
  runs = check_config(config)
  experiment.write_config(workdir, config)  # each stage's run is rebuilt from it (interpret)
  results = (run_lit if config.experiment == "lit" else run_finetune)(config, workdir, runs)
  experiment.write_results(workdir, results)
  report(results)
  return results


if __name__ == "__main__":
  experiment.main(run)
