"""Video captioning on the synthetic clips: a video encoder and a caption decoder trained with
teacher forcing, then the test clips captioned by greedy and beam search and scored.

  python experiments/video_captioning.py --config configs/video_captioning.py:tiny --workdir runs/vc

config -> data (data.source clips) -> model (captioning.build_captioner with a video encoder,
model.video) -> train -> evaluate -> results.json and examples.json. For each decoding (greedy,
beam<k>), results.json has:
  <decoding>/BLEU-1..4, CIDEr-D, exact_match   against every paraphrase of each test clip;
  <decoding>/motion/direction_accuracy, event_accuracy, accuracy (both)   whether the caption's
      motion words are the clip's (chance 0.25, 0.5, 0.125; a model blind to order: 0.5 each);
  shuffled_frames/<decoding>/...   the same with each test clip's frames in a random order;
  compositional/<decoding>/...     on clips with a held-out (shape, colour) pair.
"""

import json
import os

import jax
import jax.numpy as jnp

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.tokenizer import WordTokenizer
from mmjax.tasks import captioning, video_text
from mmjax.tasks.captioning import METRICS
from mmjax.tasks.classification import variables_of


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores), captions the test clips and scores them; writes
  results.json and examples.json and returns the results."""
  train.validate(config)
  captioning.check_eval(config.eval)
  e, text_len = config.eval, config.data.text_len
  world = sources.build(config.data, reads=("clips",))
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"), world.vocabulary())
  encode = captioning.caption_encoder(tokenizer, text_len)
  test = video_text.evaluation_clips(world, "test", e.num_examples)
  splits = {"": test, "shuffled_frames/": video_text.with_shuffled_frames(test, config.seed)}
  if world.held_out and e.compositional_examples:
    splits["compositional/"] = video_text.evaluation_clips(world, "test_compositional",
                                                           e.compositional_examples)
  for split in splits.values():
    for refs in split["references"]:
      encode(refs)  # every reference must fit data.text_len

  model = captioning.build_captioner(config.model, tokenizer.vocab_size, text_len,
                                     jnp.dtype(config.compute_dtype), visual="video")

  def init_fn(rng):
    variables = dict(model.init(rng, test["video"][:1], jnp.zeros((1, text_len), jnp.int32)))
    return variables.pop("params"), variables  # the rest (BatchNorm statistics) is model_state

  generate = {"greedy": captioning.captioner_fn(model, tokenizer, text_len),
              f"beam{e.beam_size}": captioning.captioner_fn(
                  model, tokenizer, text_len, "beam", e.beam_size, e.alpha)}

  def evaluate(state, step):
    variables, metrics = variables_of(state), {}
    for prefix, split in splits.items():
      for name, fn in generate.items():
        tokens = captioning.caption_images(fn, variables, split["video"], e.batch_size)
        said = [tokenizer.decode(t) for t in tokens]
        metrics[f"{prefix}{name}/captions"] = said
        scores = {**captioning.score(said, split["references"]), **{
            f"motion/{k}": v for k, v in
            video_text.motion_accuracy(said, split["direction"], split["event"]).items()}}
        metrics.update({f"{prefix}{name}/{k}": v for k, v in scores.items()})
    return metrics

  result = train.train_or_restore(
      config, workdir, init_fn=init_fn,
      loss_fn=captioning.caption_loss_fn(model, tokenizer, config.model.label_smoothing),
      train_data=captioning.train_batches(world, encode, config.batch_size, config.data.seed,
                                          field="video"),
      evaluate=evaluate)
  metrics = result.eval_metrics
  results = {"step": result.step, "video_encoder": config.model.video.name,
             "num_test_examples": len(test["captions"]), **train.scalars(metrics),
             **{f"motion/chance/{k}": v for k, v in video_text.MOTION_CHANCE.items()},
             **{f"motion/order_blind/{k}": v for k, v in video_text.MOTION_ORDER_BLIND.items()}}
  examples = [{"index": i, "references": test["references"][i],
               **{name: metrics[f"{name}/captions"][i] for name in generate},
               **{f"shuffled_frames/{name}": metrics[f"shuffled_frames/{name}/captions"][i]
                  for name in generate}}
              for i in range(min(e.num_examples_saved, len(test["captions"])))]
  experiment.write_results(workdir, results)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "examples.json"), "w") as f:
      json.dump(examples, f, indent=2)

  motion = [f"motion/{k}" for k in video_text.MOTION_CHANCE]
  print(f"Captions of {len(test['captions'])} test clips at step {result.step}, against all "
        f"{len(test['references'][0])} paraphrases of each; motion words (chance "
        f"{'/'.join(str(v) for v in video_text.MOTION_CHANCE.values())}, order-blind "
        f"{'/'.join(str(v) for v in video_text.MOTION_ORDER_BLIND.values())}):")
  print(f"  {'':26s}" + "".join(f"{m.split('/')[-1][:11]:>12s}" for m in (*METRICS, *motion)))
  for prefix in splits:
    for name in generate:
      print(f"  {prefix + name:26s}" + "".join(
          f"{results[f'{prefix}{name}/{m}']:12.3f}" for m in (*METRICS, *motion)))
  for ex in examples:
    print(f"  [{ex['index']}] greedy: {ex['greedy']} | shuffled frames: "
          f"{ex['shuffled_frames/greedy']} | reference: {ex['references'][0]}")
  return results


if __name__ == "__main__":
  experiment.main(run)
