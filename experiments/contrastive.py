"""CLIP / SigLIP pretraining of a two-tower image-text model, then retrieval, zero-shot
classification with prompt templates (of the scenes' attributes, and of tfds sets such as
cifar10 with eval.zero_shot_datasets), and a linear probe on the image tower's pooled features.

  python experiments/contrastive.py --config configs/contrastive.py:tiny --workdir runs/clip

config -> data -> model -> train -> evaluate -> write results.json. The model, loss, batches and
evaluation are mmjax.tasks.image_text's, which pretrain_finetune shares.
"""

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.synthetic.scenes import ATTRIBUTES
from mmjax.tasks import image_text

# Attribute classification tasks: the class names of the first object (in reading order).
CLASSES = {a: ATTRIBUTES[a] for a in ("shape", "colour")}


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores) and evaluates; writes and returns the results."""
  train.validate(config)
  image_text.check_tasks(config.eval, ("zero_shot_tasks", "probe_tasks"), CLASSES)
  world = sources.build(config.data, reads=("shapes", "manifest", "coco_captions"))
  e = config.eval
  image_text.check_source(world, e, ("zero_shot_tasks", "probe_tasks"))
  datasets = image_text.zero_shot_sets(e, config.data.image_size)
  tokenizer = image_text.word_tokenizer(world, workdir)
  if e.zero_shot_tasks or e.zero_shot_datasets:  # prompts of words the text tower knows
    image_text.check_templates(e, "zero_shot_templates", tokenizer)
  image_text.count_oov_classes(datasets, tokenizer)
  model = image_text.two_tower(config.model, tokenizer.vocab_size, config.data.text_len,
                               config.compute_dtype)
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  test = image_text.scenes(world, "test", config.eval.num_examples, captions=True)
  # The probe fits on train-split images and is scored on the test images.
  probe = image_text.scenes(world, "train", config.eval.probe_examples) \
      if config.eval.probe_tasks else None
  result = train.train_or_restore(
      config, workdir,
      init_fn=image_text.init_fn(model, test["images"][:1], tokens(test["captions"][:1])),
      loss_fn=image_text.contrastive_loss_fn(model, config.model.loss),
      train_data=image_text.caption_batches(world, tokens, config.batch_size, config.data.seed),
      evaluate=image_text.evaluator(model, test, tokens, e, CLASSES, probe=probe,
                                    datasets=datasets))
  results = {"step": result.step, **result.eval_metrics}
  experiment.write_results(workdir, results)

  n_img, n_txt = len(test["keys"]), len(test["captions"])
  shown = f"{n_img} test pairs" if n_img == n_txt else f"{n_img} test images, {n_txt} captions"
  print(f"Retrieval on {shown} at step {result.step}:")
  for k in ("i2t/R@1", "i2t/R@5", "i2t/R@10", "t2i/R@1", "t2i/R@5", "t2i/R@10"):
    print(f"  {k:9s} {results[k]:.3f}   (chance {results[k.replace('R@', 'chance_R@')]:.3f})")
  for k in sorted(results):
    if k.endswith("/top1") or k.endswith("/accuracy"):
      chance = k.replace("/top1", "/chance_top1").replace("/accuracy", "/chance")
      oov = results.get(k.replace("/top1", "/oov_classes"))
      unknown = f", {oov} class names not in the vocabulary" if oov else ""
      print(f"  {k:30s} {results[k]:.3f}   (chance {results[chance]:.3f}{unknown})")
  return results


if __name__ == "__main__":
  experiment.main(run)
