"""LiT on COCO captions (Zhai et al. 2022): a locked pretrained ViT image tower, a BERT text tower
trained to match it, then COCO retrieval with every caption of each test image.

  python experiments/lit_coco.py --config configs/lit_coco.py --workdir runs/lit_coco \
      --config.model.image_init=B_16-i21k-....npz --config.model.text_init=bert-base-uncased

config -> checkpoints -> data -> model -> train -> evaluate -> results.json (configs/lit_coco.py
has the recipe, the published figures and where the checkpoints come from).
"""

import os
import re

import jax
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.retrieval import retrieval_metrics
from mmjax.losses.contrastive import CONTRASTIVE_LOSSES
from mmjax.registry import ConfigError
from mmjax.tasks.lit_coco import build, image_ops, load_eval, load_towers, model_pixels
from mmjax.train.optimizer import frozen_patterns

PUBLISHED = {"source": "big_vision configs/proj/image_text/README_lit.md, row coco_B16B",
             "i2t/R@1": 0.472, "t2i/R@1": 0.321, "imagenet_0shot_top1 (not evaluated)": 0.207}
IMAGE_URL = ("gs://vit_models/augreg/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0"
             ".npz")
BERT_FILES = ("config.json", "model.safetensors", "tokenizer.json")
KS = (1, 5, 10)


def check_config(config):
  """Everything that can be checked before reading data or compiling: checkpoint paths (with
  what to download), the towers they need, the loss, and that the identity image head is
  locked."""
  m = config.model
  problems = []
  if m.image_init and not os.path.isfile(m.image_init):
    problems.append(f"model.image_init={m.image_init!r} is not a file.")
  elif m.pretrained and not m.image_init:
    problems.append(f"model.image_init is empty: the recipe starts from the ImageNet-21k "
                    f"ViT-B/16; download {IMAGE_URL} and pass --config.model.image_init=PATH.")
  if m.text_init:
    absent = [f for f in BERT_FILES if not os.path.isfile(os.path.join(m.text_init, f))]
    if absent:
      problems.append(f"model.text_init={m.text_init!r} lacks {', '.join(absent)} (a "
                      f"HuggingFace BERT folder needs {', '.join(BERT_FILES)}).")
  elif m.pretrained:
    problems.append("model.text_init is empty: the recipe starts from BERT-base; download "
                    "HuggingFace bert-base-uncased (config.json, model.safetensors, "
                    "tokenizer.json) and pass --config.model.text_init=FOLDER.")
  if problems:
    raise FileNotFoundError("LiT on COCO cannot start:\n  " + "\n  ".join(problems) +
                            "\n(configs/lit_coco.py lists the commands; the tiny preset runs "
                            "without checkpoints.)")
  for init, key, name in ((m.image_init, "image", "vit"), (m.text_init, "text", "transformer")):
    if init and m[key].name != name:
      raise ConfigError(f"model.{key}.name={m[key].name!r}: model.{key}_init loads a {name} "
                        f"checkpoint, so model.{key}.name must be {name!r}.")
  CONTRASTIVE_LOSSES.get(m.loss, "model.loss")
  if not m.image_head and not any(re.fullmatch(p, "img_proj/kernel")
                                  for p in frozen_patterns(config.optimizer.frozen)):
    raise ConfigError("model.image_head=False makes img_proj a fixed identity, so "
                      "optimizer.frozen must match 'img_proj/kernel' (e.g. 'img_proj/.*').")
  if config.data.text_len < 2:
    raise ConfigError(f"data.text_len={config.data.text_len}; it must be >= 2.")


def make_train_data(config, source, tokenizer):
  d = config.data
  # Only what the step uses goes to the devices (not strings or ids).
  return source.train_batches(config.batch_size,
                              lambda b: {"images": b["images"], "text": b["tokens"]},
                              image_ops=image_ops(d.image_size, True), tokenizer=tokenizer,
                              max_len=d.text_len)


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores) and evaluates; writes and returns the results."""
  train.validate(config)
  check_config(config)
  source = sources.build(config.data, reads=("coco_captions",))
  source.check_prepared()  # is the data prepared? (cheap: metadata only)
  os.makedirs(workdir, exist_ok=True)
  image, image_params, text, text_params, tokenizer = load_towers(config, source, workdir)
  model, init_fn, loss_fn = build(config, image, text, image_params, text_params)
  test = load_eval(config, source, tokenizer)
  train_data = make_train_data(config, source, tokenizer)
  m = config.model
  embed_images = jax.jit(lambda p, x: model.apply({"params": p}, model_pixels(x), None)[0])
  embed_text = jax.jit(lambda p, t: model.apply({"params": p}, None, t)[1])

  def evaluate(state, step):
    params = state.eval_params
    bs = config.eval.batch_size
    zimg = apply_in_batches(lambda x, _: embed_images(params, x), test["images"], bs)
    ztxt = apply_in_batches(lambda t, _: embed_text(params, t), test["tokens"], bs)
    return retrieval_metrics(zimg, ztxt, keys=np.arange(len(zimg)), ks=KS,
                             txt_keys=test["caption_image"])

  result = train.train_or_restore(config, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                  train_data=train_data, evaluate=evaluate)
  results = {"step": result.step, "num_images": len(test["image_ids"]),
             "num_captions": len(test["captions"]), **result.eval_metrics,
             "image_init": m.image_init, "text_init": m.text_init, "published": PUBLISHED}
  experiment.write_results(workdir, results)
  print(f"COCO {source.eval_split} retrieval, {results['num_images']} images and "
        f"{results['num_captions']} captions, at step {result.step} (published coco_B16B R@1: "
        f"I->T {PUBLISHED['i2t/R@1']}, T->I {PUBLISHED['t2i/R@1']}):")
  for k in [f"{d}/R@{k}" for d in ("i2t", "t2i") for k in KS]:
    print(f"  {k:9s} {results[k]:.3f}   (chance {results[k.replace('R@', 'chance_R@')]:.3f})")
  return results


if __name__ == "__main__":
  experiment.main(run)
