"""CLIP / SigLIP pretraining of a two-tower image-text model, then retrieval, zero-shot
classification with prompt templates (of the scenes' attributes, and of tfds sets such as
cifar10 with eval.zero_shot_datasets), and a linear probe on the image tower's pooled features.

Beside the i.i.d. test split, results.json says how far that split flatters:
  compositional/{i2t,t2i}/R@K     retrieval among eval.compositional_examples test_compositional
                                  pairs (each scene has a held-out (shape, colour) pair);
  zero_shot_novel/<attr>/top1     zero-shot with eval.novel_templates, wordings no training
                                  caption uses (zero_shot/... uses the caption templates);
  <prompts>/<attr>/num_images     the single-object test images those top1s score;
  <prompts>/<attr>/multi_object/top1_any   the other test images, a class of any object right;
  [compositional/]test_captions_seen_in_training   the share of test captions whose exact
                                  string was a caption of a training example.

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
  if e.zero_shot_tasks:  # and prompts worded as no training caption is
    image_text.check_templates(e, "novel_templates")
    image_text.check_novel_templates(e)
  n_comp = sources.compositional_examples(world, e.compositional_examples)
  image_text.count_oov_classes(datasets, tokenizer)
  model = image_text.two_tower(config.model, tokenizer.vocab_size, config.data.text_len,
                               config.compute_dtype)
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  test = image_text.scenes(world, "test", config.eval.num_examples, captions=True)
  comp = image_text.scenes(world, "test_compositional", n_comp, captions=True) \
      if n_comp else None
  # The probe fits on train-split images and is scored on the test images.
  probe = image_text.scenes(world, "train", config.eval.probe_examples) \
      if config.eval.probe_tasks else None
  result = train.train_or_restore(
      config, workdir,
      init_fn=image_text.init_fn(model, test["images"][:1], tokens(test["captions"][:1])),
      loss_fn=image_text.contrastive_loss_fn(model, config.model.loss),
      train_data=image_text.caption_batches(world, tokens, config.batch_size, config.data.seed),
      evaluate=image_text.evaluator(model, test, tokens, e, CLASSES, probe=probe,
                                    datasets=datasets, compositional=comp))
  results = {"step": result.step, **result.eval_metrics}
  seen = sources.train_captions(world, config.total_steps * config.batch_size)
  if seen is not None:  # how much of the test text the model could have memorised
    results["test_captions_seen_in_training"] = sources.seen_fraction(test["captions"], seen)
    if comp is not None:
      results["compositional/test_captions_seen_in_training"] = sources.seen_fraction(
          comp["captions"], seen)
  experiment.write_results(workdir, results)

  n_img, n_txt = len(test["keys"]), len(test["captions"])
  shown = f"{n_img} test pairs" if n_img == n_txt else f"{n_img} test images, {n_txt} captions"
  print(f"Retrieval on {shown} at step {result.step}:")
  for prefix in ("", "compositional/") if comp is not None else ("",):
    for k in ("i2t/R@1", "i2t/R@5", "i2t/R@10", "t2i/R@1", "t2i/R@5", "t2i/R@10"):
      k = prefix + k
      print(f"  {k:23s} {results[k]:.3f}   (chance "
            f"{results[k.replace('R@', 'chance_R@')]:.3f})")
  for k in sorted(results):
    if "seen_in_training" in k:
      print(f"  {k:30s} {results[k]:.3f}")
    if k.endswith("/top1") or k.endswith("/accuracy") or k.endswith("/top1_any"):
      chance = k.replace("/top1", "/chance_top1").replace("/accuracy", "/chance")
      oov = results.get(k.replace("/top1", "/oov_classes")) if k.endswith("/top1") else None
      unknown = f", {oov} class names not in the vocabulary" if oov else ""
      print(f"  {k:30s} {results[k]:.3f}   (chance {results[chance]:.3f}{unknown})")
  return results


if __name__ == "__main__":
  experiment.main(run)
