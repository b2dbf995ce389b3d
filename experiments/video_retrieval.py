"""Video-text retrieval on the synthetic clips, CLIP-style: a video tower and a text tower
trained with a contrastive loss, then R@1/5/10 both ways and a frame-order key.

  python experiments/video_retrieval.py --config configs/video_retrieval.py:tiny --workdir runs/vr

config -> data (data.source clips) -> model (image_text.two_tower with a video tower,
model.video) -> train -> evaluate on the test split -> results.json:
  v2t/R@k, t2v/R@k (and chance_R@k)  retrieval among eval.num_examples test clips and their
                        captions (a caption is right for every clip it describes);
  time_reversed/accuracy  how often a clip prefers its caption to its time-reversed caption
                        (direction and event both swapped): 0.5 for a model blind to order;
  direction_swapped/accuracy, event_swapped/accuracy  one word swapped (a bag of frames can
                        tell these apart; mmjax/tasks/video_text.py says why);
  shuffled_frames/...   all of these with each test clip's frames in a random order;
  compositional/...     on clips with a held-out (shape, colour) pair.
"""

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.tasks import image_text, video_text


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores) and evaluates; writes and returns results.json's dict."""
  train.validate(config)
  e = config.eval
  world = sources.build(config.data, reads=("clips",))
  tokenizer = image_text.word_tokenizer(world, workdir)
  model = image_text.two_tower(config.model, tokenizer.vocab_size, config.data.text_len,
                               config.compute_dtype, visual="video")
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  test = video_text.evaluation_clips(world, "test", e.num_examples)
  splits = {"": test, "shuffled_frames/": video_text.with_shuffled_frames(test, config.seed)}
  if world.held_out and e.compositional_examples:
    splits["compositional/"] = video_text.evaluation_clips(world, "test_compositional",
                                                           e.compositional_examples)
  result = train.train_or_restore(
      config, workdir,
      init_fn=image_text.init_fn(model, sources.normalize(test["video"][:1]),
                                 tokens(test["captions"][:1])),
      loss_fn=image_text.contrastive_loss_fn(model, config.model.loss),
      train_data=image_text.caption_batches(world, tokens, config.batch_size, config.data.seed,
                                            field="video"),
      evaluate=video_text.retrieval_evaluator(model, tokens, splits, e.batch_size))
  results = {"step": result.step, "video_tower": config.model.video.name,
             "num_test_examples": len(test["captions"]), **result.eval_metrics}
  experiment.write_results(workdir, results)

  print(f"Video-text retrieval on {len(test['captions'])} test clips at step {result.step}:")
  for prefix in splits:
    for k in ("v2t/R@1", "v2t/R@5", "t2v/R@1", "t2v/R@5"):
      print(f"  {prefix + k:30s} {results[prefix + k]:.3f}   (chance "
            f"{results[prefix + k.replace('R@', 'chance_R@')]:.3f})")
    for name in video_text.NEGATIVES:
      print(f"  {prefix + name + '/accuracy':30s} {results[f'{prefix}{name}/accuracy']:.3f}"
            f"   (chance 0.5)")
  return results


if __name__ == "__main__":
  experiment.main(run)
