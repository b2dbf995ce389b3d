"""Audio-visual event localisation on the synthetic clips: which segment (frame boundary) holds
an event both seen and heard (mmjax/data/synthetic/av_events.py), in the spirit of AVE.

  python experiments/av_event_localisation.py --config configs/av_events.py:tiny --workdir runs/ave

config -> data (data.source clips) -> model (video and / or audio encoder, tokens pooled to
segments, a temporal fusion, a per-segment head) -> train (per-segment cross-entropy) ->
evaluate on the test split -> results.json: segment_accuracy, exact (the right segment or "no
event"), detection (an event or not), event_recall / event_precision; beside `limits`[observer]
for the same metrics: chance, audio_only, video_only, order_blind and bayes_optimal. With
model.missing.placeholders, also missing_<modality>/<metric>: each modality left out.
"""

import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.data.synthetic import av_events
from mmjax.evaluate.event_localisation import localisation_metrics
from mmjax.tasks import classification, event_localisation


def run(config, workdir) -> dict:
  """Trains (or with eval_only, restores) and evaluates; writes and returns results.json's dict."""
  train.validate(config)
  mods = event_localisation.modalities_of(config)
  world = sources.build(config.data, reads=("clips",))
  model = event_localisation.localiser(config, mods, world.frames - 1)
  limits = av_events.limits(world.frames)
  make = lambda split: event_localisation.batch_maker(world, split, mods)
  train_data = Batches(make("train"), config.batch_size, seed=config.data.seed)
  test = make("test")(np.arange(config.eval.num_examples))
  inputs = {m: test[m] for m in mods}
  predict = classification.predictor(model)

  missing = classification.left_out(model, mods)  # each modality left out at test time

  def scored(state, given=mods):
    pred = classification.in_batches(predict, classification.variables_of(state),
                                     {m: inputs[m] for m in given}, config.eval.batch_size)
    return localisation_metrics(test["segments"], pred)

  def evaluate(state, step):
    metrics = scored(state)
    for gone in missing:
      alone = scored(state, tuple(m for m in mods if m != gone))
      metrics.update({f"missing_{gone}/{k}": alone[k] for k in av_events.METRICS})
    return metrics

  result = train.train_or_restore(
      config, workdir, init_fn=classification.init_fn(model, inputs),
      loss_fn=classification.loss_fn(model, mods, config.model, label="segments"),
      train_data=train_data, evaluate=evaluate)
  results = {"step": result.step, "modalities": list(mods), "fusion": config.model.fusion.name,
             "segments": world.frames - 1, "num_test_examples": len(test["segments"]),
             **result.eval_metrics, "limits": limits}
  experiment.write_results(workdir, results)
  print(f"{'+'.join(mods)} ({config.model.fusion.name}), {len(test['segments'])} test clips at "
        f"step {result.step}:")
  for k in av_events.METRICS:
    reach = ", ".join(f"{o} {v[k]:.3f}" for o, v in limits.items())
    print(f"  {k} {results[k]:.3f}  ({reach})")
  for gone in missing:
    kept = next(m for m in mods if m != gone)
    print(f"  without {gone}: exact {results[f'missing_{gone}/exact']:.3f} ({kept} only "
          f"reaches {limits[f'{kept}_only']['exact']:.3f})")
  return results


if __name__ == "__main__":
  experiment.main(run)
