"""Speech recognition from config sections: the CTC recogniser a model section describes, batches
of spoken captions and their transcripts from a data source, the CTC loss, and transcription
(greedy and prefix beam search) scored by word and character error rates.

The model section chooses the audio encoder, whose tokens are the CTC frames:

  model = dict(encoder=dict(name="ast", ast=dict(patch_size=(4, 40), ...),
                            spec_cnn=dict(...), wave_cnn=dict(...)))

The data's sample_rate fills the encoder's (a model can never hear at another rate than the data
is sampled at). Targets are words, the tokenizer's ids; the CTC blank reuses <pad>'s id 0, which
is never a label.
"""

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import models
from mmjax.evaluate.error_rate import error_rates
from mmjax.losses.ctc import ctc_loss
from mmjax.models.heads.ctc_decoding import greedy_decode, prefix_beam_search
from mmjax.models.speech_recognizer import SpeechRecognizer
from mmjax.registry import ConfigError


def build_recognizer(m, tokenizer, sample_rate: float, dtype=jnp.float32, key: str = "model"
                     ) -> SpeechRecognizer:
  """The SpeechRecognizer that config section `m` (at config key `key`) describes, with one
  class per token id of `tokenizer` (the blank is <pad>). A bad name or option fails here
  naming its key."""
  name, options = models.AUDIO_ENCODERS.choose(m.encoder, f"{key}.encoder",
                                               sample_rate=float(sample_rate))
  return SpeechRecognizer(vocab_size=tokenizer.vocab_size - 1, encoder=name,
                          encoder_options=options, blank_id=tokenizer.pad_id, dtype=dtype)


def check_frames(model: SpeechRecognizer, samples: int, text_len: int, key: str = "model"
                 ) -> int:
  """The frames the model gives a clip of `samples` samples (shapes only, nothing compiles);
  fails naming `key`.encoder.<name> when the encoder's options are invalid or it gives fewer
  frames than the text_len labels CTC must align."""
  where = f"{key}.encoder.{model.encoder}"
  try:
    logits = jax.eval_shape(model.init_with_output, jax.random.key(0),
                            jnp.zeros((1, samples)))[0]
  except ConfigError:
    raise
  except ValueError as e:  # the encoder's own checks of its options
    raise ConfigError(f"{where}: {e}") from None
  frames = logits.shape[1]
  if frames < text_len:
    raise ConfigError(f"{where} gives {frames} frames per clip, fewer than data.text_len="
                      f"{text_len}: CTC needs a frame per word. Lengthen data.audio_seconds or "
                      "shrink the encoder's time stride.")
  return frames


def transcript_batch(source, split: str, indices, tokenizer, text_len: int) -> dict:
  """Examples `indices` of `split`: {"audio": float32 [n, samples], "labels": int32 [n,
  text_len] word ids then 0 (<pad>, the blank), "label_paddings": float32 [n, text_len] 1 =
  padding}. A longer transcript fails naming data.text_len."""
  ex = [source.example(split, int(i), ("audio", "transcript")) for i in indices]
  labels = np.zeros((len(ex), text_len), np.int32)
  for row, e in enumerate(ex):
    if len(e["transcript"]) > text_len:
      raise ConfigError(f"a {len(e['transcript'])}-word transcript is longer than "
                        f"data.text_len={text_len}; raise data.text_len.")
    labels[row, :len(e["transcript"])] = [tokenizer.stoi[w] for w in e["transcript"]]
  return {"audio": np.stack([e["audio"] for e in ex]), "labels": labels,
          "label_paddings": (labels == tokenizer.pad_id).astype(np.float32)}


def ctc_loss_fn(model: SpeechRecognizer):
  """The trainer's loss_fn on `transcript_batch`es: mean CTC negative log-likelihood per clip,
  and its sum per word as a metric. Clips are fixed-length: no frame is padding."""
  def loss_fn(params, model_state, batch, rng, axis_name):
    logits = model.apply({"params": params}, batch["audio"], train=True)
    nll = ctc_loss(logits, jnp.zeros(logits.shape[:2]), batch["labels"], batch["label_paddings"],
                   blank_id=model.blank_id)
    words = jnp.sum(1.0 - batch["label_paddings"], axis=1)
    return nll.mean(), ({"nll_per_word": jnp.sum(nll) / jnp.sum(words)}, model_state)
  return loss_fn


def transcribe(logits, tokenizer, beam_size: int) -> dict:
  """Transcripts of logits [n, frames, classes] (numpy): {"greedy": best path, "beam": prefix
  beam search of width `beam_size`}, each a list of n strings."""
  blank = tokenizer.pad_id
  text = lambda ids: tokenizer.decode([i for i in ids if i > tokenizer.unk_id])
  return {"greedy": [text(s) for s in greedy_decode(logits, blank_id=blank)],
          "beam": [text(prefix_beam_search(lg, beam_size, blank)[0][0]) for lg in logits]}


def score(transcripts: dict, references) -> dict:
  """{"<method>/wer", "<method>/cer", "<method>/sentence_error"} of each method's transcripts
  (`transcribe`'s dict) against the reference strings."""
  return {f"{method}/{k}": v for method, hyps in transcripts.items()
          for k, v in error_rates(references, hyps).items()}
