"""Video classification on the synthetic clips: labels that need the order of frames
(direction, event) or sound and picture together (sync), and a frame-order ablation; or on
your own clips (a manifest with a video field and a label) or UCF101 (tfds): data.label="label".

  python experiments/video_classification.py --config configs/video.py:tiny --workdir runs/vid

config -> data (data.source clips or manifest, data.label) -> model (a video encoder, and with
model.modalities=video,audio an audio encoder and a fusion) -> train -> evaluate on the test
split -> results.json: accuracy; shuffled_frames/accuracy, the same model with each test clip's
frames in a random order (a model that uses time falls towards the order-blind limit, one that
cannot see order does not move); compositional/accuracy on clips with a held-out (shape,
colour) pair; with model.missing.placeholders, missing_<modality>/accuracy; beside chance,
Bayes-optimal and what a model lacking the needed evidence reaches (for files: chance is the
test split's commonest class, and skipped/<split> counts the rows skipped as unusable with
data.source.manifest.on_bad_example="skip").
"""

import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.data.synthetic import clips
from mmjax.evaluate.classification import classification_metrics
from mmjax.evaluate.robustness import shuffle_frames
from mmjax.registry import ConfigError
from mmjax.tasks import classification
from mmjax.tasks.video import FILES_LABEL, MODALITIES, READS, batch_maker


def task_info(config, world, mods) -> dict:
  """The label's num_classes, chance and what is known of its limits; every data value checked
  (for files: the fields, each file decoded or found in the validation cache) before any
  compile."""
  if config.data.source.name == "clips":
    if config.data.label not in clips.LABELS:
      raise ConfigError(f"data.label={config.data.label!r}; valid: {', '.join(clips.LABELS)}.")
    return clips.label_info(config.data.label)
  if config.data.label != FILES_LABEL:
    raise ConfigError(f"data.label={config.data.label!r}: a {config.data.source.name} source has "
                      f"one label, its own; set data.label={FILES_LABEL}.")
  sources.require(world, ("label",) + tuple(mods))
  return classification.files_task(world, ())


def run(config, workdir) -> dict:
  """Trains (or with eval_only, restores) and evaluates; writes and returns results.json's dict."""
  train.validate(config)
  mods = classification.modalities_of(config, MODALITIES)
  world = sources.build(config.data, reads=READS)
  info = task_info(config, world, mods)
  # Files: the rows each split skipped as unusable (every split read, so checked, before training).
  skipped = {f"skipped/{s}": sum(world.dataset(s).skipped.values())
             for s in ("train", "val", "test")} if hasattr(world, "dataset") else {}
  model = classification.classifier(config, mods, info["num_classes"])
  make = lambda split: batch_maker(world, split, mods, config.data.label)
  train_data = Batches(make("train"), config.batch_size, seed=config.data.seed,
                       num_examples=sources.size(world, "train"))
  n_test = min(config.eval.num_examples, sources.size(world, "test") or config.eval.num_examples)
  test = make("test")(np.arange(n_test))
  n_comp = config.eval.compositional_examples if getattr(world, "held_out", ()) else 0
  splits = {"": test}
  if "video" in mods:
    splits["shuffled_frames/"] = {**test, "video": shuffle_frames(test["video"], config.seed)}
  if n_comp:
    splits["compositional/"] = make("test_compositional")(np.arange(n_comp))
  for gone in classification.left_out(model, mods):  # each modality left out at test time
    splits[f"missing_{gone}/"] = {k: v for k, v in test.items() if k != gone}
  predict = classification.predictor(model)

  def evaluate(state, step):
    metrics = {}
    for prefix, split in splits.items():
      pred = classification.in_batches(predict, classification.variables_of(state),
                                       {m: split[m] for m in mods if m in split},
                                       config.eval.batch_size)
      scores = classification_metrics(split["label"], pred, info["num_classes"])
      keep = scores if not prefix else {k: scores[k] for k in ("accuracy", "macro_f1")}
      metrics.update({prefix + k: v for k, v in keep.items()})
    return metrics

  result = train.train_or_restore(
      config, workdir, init_fn=classification.init_fn(model, {m: test[m] for m in mods}),
      loss_fn=classification.loss_fn(model, mods, config.model), train_data=train_data,
      evaluate=evaluate)
  results = {"step": result.step, "label": config.data.label, "modalities": list(mods),
             "video_encoder": config.model.encoders.video.name if "video" in mods else None,
             "num_test_examples": len(test["label"]), **result.eval_metrics,
             **{k: v for k, v in info.items() if k != "num_classes"}}
  results.update(skipped)
  experiment.write_results(workdir, results)
  bayes = info.get("bayes_optimal")
  print(f"{config.data.label} from {'+'.join(mods)}, {len(test['label'])} test clips at step "
        f"{result.step}: accuracy {results['accuracy']:.3f} (chance {info['chance']:.3f}"
        + (f", Bayes-optimal {bayes:.3f})" if bayes is not None else ")"))
  for k in ("shuffled_frames/accuracy", "compositional/accuracy", "missing_video/accuracy",
            "missing_audio/accuracy"):
    if k in results:
      print(f"  {k} {results[k]:.3f}")
  limits = {k: v for k, v in info.items() if k in ("order_blind", "audio_only", "video_only")}
  if limits:
    print("  without what the label needs: " + ", ".join(f"{k} {v:.2f}"
                                                         for k, v in limits.items()))
  if any(skipped.values()):
    print("  unusable rows skipped: " + ", ".join(f"{k[8:]} {v}" for k, v in skipped.items()))
  return results


if __name__ == "__main__":
  experiment.main(run)
