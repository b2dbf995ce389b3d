"""Image captioning: an image encoder and a caption decoder trained with teacher forcing, then
the test images captioned by greedy and beam search and scored with BLEU-1..4 and CIDEr-D
against every paraphrase of each scene.

  python experiments/captioning.py --config configs/captioning.py:tiny --workdir runs/captioning

config -> data -> model -> train -> evaluate -> write results.json and examples.json.
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
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate.bleu import corpus_bleu
from mmjax.evaluate.cider import cider_d
from mmjax.losses.captioning import caption_loss, shift_right
from mmjax.models.captioner import build_captioner, decode
from mmjax.registry import ConfigError

FLAGS = flags.FLAGS

MEAN, STD = 0.5, 0.25  # pixel normalisation of the synthetic world's [0, 1] images.
METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D", "exact_match")


def make_data(config, workdir):
  if config.data.source != "shapes":
    raise ConfigError(f"data.source={config.data.source!r}; valid choices: shapes.")
  world = SceneWorld(config.data.seed, config.data.image_size, config.data.max_objects,
                     config.data.noise)
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"), world.vocabulary())
  max_len = config.data.max_len

  def encode(captions):
    for c in captions:  # truncating would teach the model captions that stop mid-sentence.
      if len(tokenizer.words(c)) + 1 > max_len:
        raise ConfigError(f"data.max_len={max_len} cannot hold {c!r} "
                          f"({len(tokenizer.words(c))} words + <eos>); raise data.max_len.")
    return tokenizer.encode_batch(captions, max_len)

  def make_train(indices):  # world.example draws one of the scene's paraphrases at random.
    ex = [world.example("train", int(i), fields=("image", "caption")) for i in indices]
    return {"images": (np.stack([e["image"] for e in ex]) - MEAN) / STD,
            "captions": encode([e["caption"] for e in ex])}

  n = config.eval.num_examples
  images = [world.example("test", i, fields=("image",))["image"] for i in range(n)]
  references = [world.scene("test", i).captions() for i in range(n)]
  for refs in references:
    encode(refs)
  test = {"images": (np.stack(images) - MEAN) / STD, "references": references}
  return Batches(make_train, config.batch_size, seed=config.data.seed), test, tokenizer


def make_model(config, vocab_size):
  return build_captioner(config.model, vocab_size, config.data.max_len,
                         jnp.dtype(config.compute_dtype))


def check_eval(e):
  """Decoding options fail here, not after training."""
  for key in ("num_examples", "batch_size", "beam_size"):
    if not isinstance(e[key], int) or e[key] < 1:
      raise ConfigError(f"eval.{key}={e[key]!r}; it must be an integer >= 1.")
  if e.alpha < 0:
    raise ConfigError(f"eval.alpha={e.alpha}; the length penalty exponent must be >= 0.")


def score(hypotheses, references):
  bleu = corpus_bleu(hypotheses, references)
  return {**{k: bleu[k] for k in METRICS[:4]}, "CIDEr-D": cider_d(hypotheses, references)[0],
          "exact_match": float(np.mean([h in r for h, r in zip(hypotheses, references)]))}


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores), captions the test images and scores them; writes
  results.json and examples.json and returns the results."""
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO.
  train.validate(config)
  check_eval(config.eval)
  train_data, test, tokenizer = make_data(config, workdir)
  model = make_model(config, tokenizer.vocab_size)
  s, max_len, bos = config.data.image_size, config.data.max_len, tokenizer.bos_id

  def init_fn(rng):
    variables = dict(model.init(rng, jnp.zeros((1, s, s, 3)), jnp.zeros((1, max_len), jnp.int32)))
    return variables.pop("params"), variables  # the rest (BatchNorm statistics) is model_state

  def loss_fn(params, model_state, batch, rng, axis_name):
    captions = batch["captions"]
    args = ({"params": params, **model_state}, batch["images"], shift_right(captions, bos))
    kw = dict(train=True, rngs={"dropout": rng})
    if model_state:
      logits, model_state = model.apply(*args, mutable=list(model_state), **kw)
    else:
      logits = model.apply(*args, **kw)
    mask = captions != tokenizer.pad_id
    loss = caption_loss(logits, captions, mask, config.model.label_smoothing)
    correct = (jnp.argmax(logits, -1) == captions) & mask
    return loss, ({"token_accuracy": correct.sum() / jnp.maximum(mask.sum(), 1)}, model_state)

  k = config.eval.beam_size
  generate = {name: jax.jit(functools.partial(
      decode, model, max_len=max_len, bos_id=bos, eos_id=tokenizer.eos_id,
      pad_id=tokenizer.pad_id, **kw))
      for name, kw in (("greedy", dict(method="greedy")),
                       (f"beam{k}", dict(method="beam", beam_size=k, alpha=config.eval.alpha)))}
  captions = {}  # the latest evaluation's captions, for examples.json

  def evaluate(state, step):
    params = state.eval_params
    variables = {"params": params, **state.model_state}
    images, refs, bs = test["images"], test["references"], config.eval.batch_size
    metrics = {}
    for name, fn in generate.items():
      tokens = np.concatenate([np.asarray(fn(variables, images[i:i + bs])[0])
                               for i in range(0, len(images), bs)])
      captions[name] = [tokenizer.decode(t) for t in tokens]
      metrics.update({f"{name}/{m}": v for m, v in score(captions[name], refs).items()})
    # Reference point: a true caption of the wrong image (the next one), as a blind model might.
    shuffled = [r[i % len(r)] for i, r in enumerate(refs[1:] + refs[:1])]
    metrics.update({f"shuffled/{m}": v for m, v in score(shuffled, refs).items()})
    return metrics

  step, metrics = train.train_or_restore(config, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                         train_data=train_data, evaluate=evaluate)
  examples = [{"index": i, "references": test["references"][i],
               **{name: caps[i] for name, caps in captions.items()}}
              for i in range(min(config.eval.num_examples_saved, len(test["references"])))]
  results = {"step": step, **metrics}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
    with open(os.path.join(workdir, "examples.json"), "w") as f:
      json.dump(examples, f, indent=2)
  print(f"Captions of {len(test['references'])} test scenes at step {step}, against all "
        f"{len(test['references'][0])} paraphrases of each:")
  print(f"  {'':9s}" + "".join(f"{m:>12s}" for m in METRICS))
  for name in (*generate, "shuffled"):
    print(f"  {name:9s}" + "".join(f"{metrics[f'{name}/{m}']:12.3f}" for m in METRICS))
  for ex in examples:
    print(f"  [{ex['index']}] " + " | ".join(f"{n}: {ex[n]}" for n in generate) +
          f" | reference: {ex['references'][0]}")
  return results


def main(argv):
  del argv
  run(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  # Flags are defined only when run as a script, so tests can import `run` in-process without
  # clashing with other experiments' flags of the same names.
  config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/captioning.py:tiny.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
