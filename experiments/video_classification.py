"""Video classification on the synthetic clips: labels that need the order of frames
(direction, event) or sound and picture together (sync), and a frame-order ablation.

  python experiments/video_classification.py --config configs/video.py:tiny --workdir runs/vid

config -> data (data.source clips, data.label) -> model (a video encoder, and with
model.modalities=video,audio an audio encoder and a fusion) -> train -> evaluate on the test
split -> results.json: accuracy; shuffled_frames/accuracy, the same model with each test clip's
frames in a random order (a model that uses time falls towards the order-blind limit, one that
cannot see order does not move); compositional/accuracy on clips with a held-out (shape,
colour) pair; beside chance, Bayes-optimal and what a model lacking the needed evidence reaches.
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

MODALITIES = ("video", "audio")


def batch_maker(world, split: str, modalities, label: str):
  """make(indices int [n]) -> {"label": int32 [n], "video": float32 [n, frames, s, s, 3]
  normalised pixels, "audio": float32 [n, samples]} of `split`'s clips."""
  fields = ("labels",) + tuple(modalities)

  def make(indices):
    examples = [world.example(split, int(i), fields) for i in indices]
    return {"label": np.array([e["labels"][label] for e in examples], np.int32),
            **classification.stack_inputs(examples, modalities)}
  return make


def run(config, workdir) -> dict:
  """Trains (or with eval_only, restores) and evaluates; writes and returns results.json's dict."""
  train.validate(config)
  mods = classification.modalities_of(config, MODALITIES)
  if config.data.label not in clips.LABELS:
    raise ConfigError(f"data.label={config.data.label!r}; valid: {', '.join(clips.LABELS)}.")
  world = sources.build(config.data, reads=("clips",))
  info = clips.label_info(config.data.label)
  model = classification.classifier(config, mods, info["num_classes"])
  make = lambda split: batch_maker(world, split, mods, config.data.label)
  train_data = Batches(make("train"), config.batch_size, seed=config.data.seed)
  test = make("test")(np.arange(config.eval.num_examples))
  n_comp = config.eval.compositional_examples if world.held_out else 0
  splits = {"": test}
  if "video" in mods:
    splits["shuffled_frames/"] = {**test, "video": shuffle_frames(test["video"], config.seed)}
  if n_comp:
    splits["compositional/"] = make("test_compositional")(np.arange(n_comp))
  predict = classification.predictor(model)

  def evaluate(state, step):
    metrics = {}
    for prefix, split in splits.items():
      pred = classification.in_batches(predict, classification.variables_of(state),
                                       {m: split[m] for m in mods}, config.eval.batch_size)
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
  experiment.write_results(workdir, results)
  print(f"{config.data.label} from {'+'.join(mods)}, {len(test['label'])} test clips at step "
        f"{result.step}: accuracy {results['accuracy']:.3f} (chance {info['chance']:.3f}, "
        f"Bayes-optimal {info['bayes_optimal']:.3f})")
  for k in ("shuffled_frames/accuracy", "compositional/accuracy"):
    if k in results:
      print(f"  {k} {results[k]:.3f}")
  limits = {k: v for k, v in info.items() if k in ("order_blind", "audio_only", "video_only")}
  print("  without what the label needs: " + ", ".join(f"{k} {v:.2f}" for k, v in limits.items()))
  return results


if __name__ == "__main__":
  experiment.main(run)
