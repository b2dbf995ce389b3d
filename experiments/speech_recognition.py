"""CTC speech recognition of the synthetic world's spoken captions, scored by WER and CER with
greedy and prefix-beam-search decoding.

  python experiments/speech_recognition.py --config configs/speech_recognition.py:tiny \
      --workdir runs/asr

config -> data -> model -> train -> evaluate -> write results.json (metrics + example
transcripts).
"""

import collections
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
from mmjax.evaluate.error_rate import error_rates, word_error_rate
from mmjax.losses.ctc import ctc_loss
from mmjax.models import AUDIO_ENCODERS
from mmjax.models.heads.ctc_decoding import greedy_decode, prefix_beam_search
from mmjax.models.speech_recognizer import SpeechRecognizer
from mmjax.registry import ConfigError

FLAGS = flags.FLAGS


def check_config(config):
  """Fail in seconds, before any compile, on a value this experiment cannot use."""
  if config.data.source != "spoken_captions":
    raise ConfigError(f"data.source={config.data.source!r}; valid choices: spoken_captions.")
  AUDIO_ENCODERS.get(config.model.encoder, "model.encoder")
  if not config.data.audio_seconds or config.data.audio_seconds <= 0:
    raise ConfigError(f"data.audio_seconds={config.data.audio_seconds}; CTC batches need "
                      "fixed-length clips: give a length in seconds > 0.")
  for key in ("num_examples", "batch_size", "beam_size"):
    if config.eval[key] < 1:
      raise ConfigError(f"eval.{key}={config.eval[key]} must be >= 1.")


def make_data(config, workdir):
  d = config.data
  world = SceneWorld(d.seed, max_objects=d.max_objects, sample_rate=d.sample_rate,
                     snr_db=d.snr_db, audio_seconds=d.audio_seconds)
  tokenizer = WordTokenizer.load_or_build(os.path.join(workdir, "vocab.json"), world.vocabulary())

  def make(split):
    def batch(indices):
      ex = [world.example(split, int(i), fields=("audio",)) for i in indices]
      labels = np.zeros((len(ex), d.max_labels), np.int32)  # 0: <pad>, also the CTC blank
      for row, e in enumerate(ex):
        if len(e["transcript"]) > d.max_labels:
          raise ConfigError(f"a {len(e['transcript'])}-word transcript is longer than "
                            f"data.max_labels={d.max_labels}; raise data.max_labels.")
        labels[row, :len(e["transcript"])] = [tokenizer.stoi[w] for w in e["transcript"]]
      return {"audio": np.stack([e["audio"] for e in ex]), "labels": labels,
              "label_paddings": (labels == tokenizer.pad_id).astype(np.float32)}
    return batch

  train_data = Batches(make("train"), config.batch_size, seed=d.seed)
  test = make("test")(np.arange(config.eval.num_examples))
  test["refs"] = [tokenizer.decode(t) for t in test["labels"]]
  # A reference point for WER: always answering the commonest training caption.
  common = collections.Counter(world.example("train", i, ("caption",))["caption"]
                               for i in range(1000)).most_common(1)[0][0]
  baseline_wer = word_error_rate(test["refs"], [common] * len(test["refs"]))
  return train_data, test, tokenizer, baseline_wer


def run(config, workdir) -> dict:
  """Trains (or with eval_only restores) and transcribes the test clips; writes and returns the
  results (metrics and example transcripts)."""
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO.
  train.validate(config)
  check_config(config)
  train_data, test, tokenizer, baseline_wer = make_data(config, workdir)
  # Class ids are token ids; the blank takes <pad>'s id 0, which is never a label.
  model = SpeechRecognizer(vocab_size=tokenizer.vocab_size - 1, encoder=config.model.encoder,
                           encoder_options=dict(config.model.encoders.get(
                               config.model.encoder, {})),
                           blank_id=tokenizer.pad_id, dtype=jnp.dtype(config.compute_dtype))
  clip = jnp.zeros((1, test["audio"].shape[1]))
  frames = jax.eval_shape(model.init_with_output, jax.random.key(0), clip)[0].shape[1]
  if frames < config.data.max_labels:
    raise ConfigError(f"model.encoder gives {frames} frames per clip, fewer than "
                      f"data.max_labels={config.data.max_labels}: CTC needs a frame per word. "
                      "Lengthen data.audio_seconds or shrink the encoder's time stride.")

  def init_fn(rng):
    return model.init(rng, clip)["params"], {}

  def loss_fn(params, model_state, batch, rng, axis_name):
    logits = model.apply({"params": params}, batch["audio"], train=True)
    nll = ctc_loss(logits, jnp.zeros(logits.shape[:2]), batch["labels"], batch["label_paddings"],
                   blank_id=tokenizer.pad_id)
    words = jnp.sum(1.0 - batch["label_paddings"], axis=1)
    return nll.mean(), ({"nll_per_word": jnp.sum(nll) / jnp.sum(words)}, model_state)

  logits_fn = jax.jit(lambda p, x: model.apply({"params": p}, x))
  last = {}  # the latest evaluation's transcripts, for printing and results.json

  def evaluate(state, step):
    params = state.eval_params
    bs, n = config.eval.batch_size, len(test["refs"])
    logits = np.concatenate([np.asarray(logits_fn(params, test["audio"][i:i + bs]))
                             for i in range(0, n, bs)])
    text = lambda ids: tokenizer.decode([i for i in ids if i > tokenizer.unk_id])
    greedy = [text(s) for s in greedy_decode(logits, blank_id=tokenizer.pad_id)]
    beam = [text(prefix_beam_search(lg, config.eval.beam_size, tokenizer.pad_id)[0][0])
            for lg in logits]
    last.update(greedy=greedy, beam=beam)
    metrics = {f"greedy/{k}": v for k, v in error_rates(test["refs"], greedy).items()}
    metrics.update({f"beam/{k}": v for k, v in error_rates(test["refs"], beam).items()})
    metrics["baseline/wer"] = baseline_wer
    return metrics

  step, metrics = train.train_or_restore(config, workdir, init_fn=init_fn, loss_fn=loss_fn,
                                         train_data=train_data, evaluate=evaluate)
  examples = [{"ref": r, "greedy": g, "beam": b} for r, g, b in
              zip(test["refs"], last["greedy"], last["beam"])][:config.eval.num_printed]
  results = {"step": step, **metrics, "examples": examples}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
  print(f"Speech recognition on {len(test['refs'])} test clips at step {step}:")
  for k in ("wer", "cer", "sentence_error"):
    print(f"  {k:15s} greedy {metrics['greedy/' + k]:.3f}   beam "
          f"{metrics['beam/' + k]:.3f}")
  print(f"  (WER of always saying the commonest training caption: {baseline_wer:.3f})")
  for e in examples:
    print(f"  ref:    {e['ref']}\n  greedy: {e['greedy']}\n  beam:   {e['beam']}")
  return results


def main(argv):
  del argv
  run(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  # Flags are defined only when run as a script, so tests can import `run` in-process without
  # clashing with other experiments' flags of the same names.
  config_flags.DEFINE_config_file("config", None, "Config file, e.g. "
                                  "configs/speech_recognition.py:tiny.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
