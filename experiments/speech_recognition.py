"""CTC speech recognition of the synthetic world's spoken captions, or of your own recordings
and transcripts (data.source manifest: audio and text fields), scored by WER and CER with greedy
and prefix-beam-search decoding.

  python experiments/speech_recognition.py --config configs/speech_recognition.py:tiny \
      --workdir runs/asr

config -> data -> model -> train -> evaluate -> write results.json (metrics + example
transcripts).
"""

import collections
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import experiment, train
from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate.batched import apply_in_batches
from mmjax.evaluate.error_rate import word_error_rate
from mmjax.registry import ConfigError
from mmjax.tasks import speech


def check_config(config):
  """Fail in seconds, before any compile, on a value this experiment cannot use."""
  train.validate(config)
  if not config.data.audio_seconds or config.data.audio_seconds <= 0:
    raise ConfigError(f"data.audio_seconds={config.data.audio_seconds}; CTC batches need "
                      "fixed-length clips: give a length in seconds > 0.")
  for key in ("num_examples", "batch_size", "beam_size"):
    if config.eval[key] < 1:
      raise ConfigError(f"eval.{key}={config.eval[key]} must be >= 1.")


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores) and transcribes the test clips; writes and returns the
  results (metrics and example transcripts)."""
  check_config(config)
  d, e = config.data, config.eval

  source = sources.build(d, reads=("shapes", "manifest"))
  sources.require(source, ("audio", "transcript"))
  n_train, n_test = sources.size(source, "train"), sources.size(source, "test")
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"),
                                          source.vocabulary())
  batch = functools.partial(speech.transcript_batch, source, tokenizer=tokenizer,
                            text_len=d.text_len)
  test = batch("test", np.arange(min(e.num_examples, n_test or e.num_examples)))
  refs = [tokenizer.decode(t) for t in test["labels"]]
  # A reference point for WER: always answering the commonest training caption.
  common = collections.Counter(" ".join(source.example("train", i, ("transcript",))["transcript"])
                               for i in range(min(1000, n_train or 1000))).most_common(1)[0][0]
  baseline_wer = word_error_rate(refs, [common] * len(refs))

  model = speech.build_recognizer(config.model, tokenizer, d.sample_rate,
                                  jnp.dtype(config.compute_dtype))
  speech.check_frames(model, test["audio"].shape[1], d.text_len)

  def init_fn(rng):
    return model.init(rng, jnp.zeros((1, test["audio"].shape[1])))["params"], {}

  logits_fn = jax.jit(lambda p, x: model.apply({"params": p}, x))

  def evaluate(state, step):
    logits = apply_in_batches(lambda x, _: logits_fn(state.eval_params, x), test["audio"],
                              e.batch_size)
    transcripts = speech.transcribe(logits, tokenizer, e.beam_size)
    return {**speech.score(transcripts, refs), "baseline/wer": baseline_wer,
            "transcripts": transcripts}

  result = train.train_or_restore(
      config, workdir, init_fn=init_fn, loss_fn=speech.ctc_loss_fn(model),
      train_data=Batches(functools.partial(batch, "train"), config.batch_size, seed=d.seed,
                         num_examples=n_train),
      evaluate=evaluate)
  metrics, transcripts = train.scalars(result.eval_metrics), result.eval_metrics["transcripts"]
  examples = [{"ref": r, "greedy": g, "beam": b} for r, g, b in
              zip(refs, transcripts["greedy"], transcripts["beam"])][:e.num_printed]
  results = {"step": result.step, **metrics, "examples": examples}
  experiment.write_results(workdir, results)

  print(f"Speech recognition on {len(refs)} test clips at step {result.step}:")
  for k in ("wer", "cer", "sentence_error"):
    print(f"  {k:15s} greedy {metrics['greedy/' + k]:.3f}   beam {metrics['beam/' + k]:.3f}")
  print(f"  (WER of always saying the commonest training caption: {baseline_wer:.3f})")
  for ex in examples:
    print(f"  ref:    {ex['ref']}\n  greedy: {ex['greedy']}\n  beam:   {ex['beam']}")
  return results


if __name__ == "__main__":
  experiment.main(run)
