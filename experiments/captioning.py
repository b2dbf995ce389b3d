"""Image captioning: an image encoder and a caption decoder trained with teacher forcing, then
the test images captioned by greedy and beam search and scored with BLEU-1..4 and CIDEr-D
against every paraphrase of each scene (every caption of each image of your files or COCO).

  python experiments/captioning.py --config configs/captioning.py:tiny --workdir runs/captioning

config -> data -> model -> train -> evaluate -> write results.json and examples.json.

Beside the i.i.d. test split, results.json has compositional/<decoding>/<metric> (e.g.
compositional/greedy/BLEU-4): the same scores on eval.compositional_examples scenes of the
test_compositional split, each with a (shape, colour) pair training never sees
(data.source.shapes.held_out); and [compositional/]test_captions_seen_in_training, the share of
those splits' reference captions whose exact string was a caption of a training example.
"""

import json
import os

import jax
import jax.numpy as jnp

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.tokenizer import WordTokenizer
from mmjax.tasks import captioning
from mmjax.tasks.captioning import METRICS
from mmjax.tasks.classification import variables_of


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores), captions the test images and scores them; writes
  results.json and examples.json and returns the results."""
  train.validate(config)
  captioning.check_eval(config.eval)
  e, text_len = config.eval, config.data.text_len

  # Data: each training example is an image with one of its captions (a fresh scene with one of
  # its paraphrases); the test images are scored against all of theirs.
  source = sources.build(config.data, reads=("shapes", "manifest", "coco_captions"))
  sources.require(source, ("image", "caption"))
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"),
                                          source.vocabulary())
  encode = captioning.caption_encoder(tokenizer, text_len)

  test_images, refs = captioning.test_set(source, "test", e.num_examples)
  n_comp = sources.compositional_examples(source, e.compositional_examples)
  comp_images, comp_refs = captioning.test_set(source, "test_compositional", n_comp) \
      if n_comp else (None, [])
  for r in refs + comp_refs:
    encode(r)  # every reference must fit too

  model = captioning.build_captioner(config.model, tokenizer.vocab_size, text_len,
                                     jnp.dtype(config.compute_dtype))
  s = config.data.image_size

  init_fn = captioning.init_fn(model, s, text_len)
  loss_fn = captioning.caption_loss_fn(model, tokenizer, config.model.label_smoothing)
  generate = {"greedy": captioning.captioner_fn(model, tokenizer, text_len),
              f"beam{e.beam_size}": captioning.captioner_fn(
                  model, tokenizer, text_len, "beam", e.beam_size, e.alpha)}

  def evaluate(state, step):
    variables = variables_of(state)
    metrics = {}
    for name, fn in generate.items():
      tokens = captioning.caption_images(fn, variables, test_images, e.batch_size)
      metrics[f"{name}/captions"] = [tokenizer.decode(t) for t in tokens]
      metrics.update({f"{name}/{m}": v for m, v in
                      captioning.score(metrics[f"{name}/captions"], refs).items()})
      if comp_images is not None:  # scenes with a held-out pair: captions never trained on
        comp = captioning.caption_images(fn, variables, comp_images, e.batch_size)
        metrics.update({f"compositional/{name}/{m}": v for m, v in captioning.score(
            [tokenizer.decode(t) for t in comp], comp_refs).items()})
    # Reference point: a true caption of the wrong image (the next one), as a blind model might.
    shuffled = [r[i % len(r)] for i, r in enumerate(refs[1:] + refs[:1])]
    metrics.update({f"shuffled/{m}": v for m, v in captioning.score(shuffled, refs).items()})
    return metrics

  result = train.train_or_restore(config, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                  train_data=captioning.train_batches(
                                      source, encode, config.batch_size, config.data.seed),
                                  evaluate=evaluate)
  metrics = result.eval_metrics
  results = {"step": result.step, **train.scalars(metrics)}
  seen = sources.train_captions(source, config.total_steps * config.batch_size)
  if seen is not None:  # how many test references the decoder could have memorised
    results["test_captions_seen_in_training"] = sources.seen_fraction(sum(refs, []), seen)
    if comp_refs:
      results["compositional/test_captions_seen_in_training"] = sources.seen_fraction(
          sum(comp_refs, []), seen)
  examples = [{"index": i, "references": refs[i],
               **{name: metrics[f"{name}/captions"][i] for name in generate}}
              for i in range(min(e.num_examples_saved, len(refs)))]
  experiment.write_results(workdir, results)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "examples.json"), "w") as f:
      json.dump(examples, f, indent=2)

  print(f"Captions of {len(refs)} test images at step {result.step}, against all "
        f"{len(refs[0])} references of each:")
  print(f"  {'':9s}" + "".join(f"{m:>12s}" for m in METRICS))
  for name in (*generate, "shuffled"):
    print(f"  {name:9s}" + "".join(f"{results[f'{name}/{m}']:12.3f}" for m in METRICS))
  if comp_refs:
    print(f"{len(comp_refs)} test_compositional images (a held-out pair in each):")
    for name in generate:
      print(f"  {name:9s}" + "".join(f"{results[f'compositional/{name}/{m}']:12.3f}"
                                     for m in METRICS))
  for k in ("test_captions_seen_in_training", "compositional/test_captions_seen_in_training"):
    if k in results:
      print(f"  {k}: {results[k]:.3f}")
  for ex in examples:
    print(f"  [{ex['index']}] " + " | ".join(f"{n}: {ex[n]}" for n in generate) +
          f" | reference: {ex['references'][0]}")
  return results


if __name__ == "__main__":
  experiment.main(run)
