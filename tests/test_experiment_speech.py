"""The CTC speech recogniser (frames, gradients, the loss falling, dtypes, bad options), the
recogniser, batches and transcription of mmjax.tasks.speech, and the speech recognition
experiment's main: tiny preset and eval-only in-process, a clip too short for its labels on the
command line as a user runs it."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import speech_recognition as experiment
from mmjax.data.synthetic import SceneWorld
from mmjax.data.tokenizer import WordTokenizer
from mmjax.losses.ctc import ctc_loss
from mmjax.models.speech_recognizer import SpeechRecognizer
from mmjax.registry import ConfigError
from mmjax.tasks import speech
from tests.scripts import ROOT, preset, train_losses

CMD = [sys.executable, "experiments/speech_recognition.py", "--config",
       "configs/speech_recognition.py:tiny"]
AST = dict(patch_size=(4, 16), width=32, depth=1, num_heads=2, mlp_dim=64, sample_rate=8000.0,
           num_mel_bins=16, fmin=50.0, fmax=2000.0)
WORLD = SceneWorld(0, max_objects=1, audio_seconds=1.0)
TOKENIZER = WordTokenizer(WORLD.vocabulary())
VOCAB = TOKENIZER.vocab_size - 1  # class ids = token ids; the blank is <pad> = 0


def run(workdir, *extra):
  return subprocess.run(CMD + ["--workdir", str(workdir), *extra], cwd=ROOT, capture_output=True,
                        text=True, timeout=600)


@pytest.fixture(scope="module")
def clips():
  """Four 1 s clips of spoken one-object captions, their word ids and label paddings."""
  ex = [WORLD.example("train", i, ("audio",)) for i in range(4)]
  labels = np.zeros((4, 8), np.int32)
  for row, e in enumerate(ex):
    labels[row, :len(e["transcript"])] = [TOKENIZER.stoi[w] for w in e["transcript"]]
  return np.stack([e["audio"] for e in ex]), labels, (labels == 0).astype(np.float32)


def loss_fn(model, params, waves, labels, label_pad):
  logits = model.apply({"params": params}, waves)
  return ctc_loss(logits, jnp.zeros(logits.shape[:2]), labels, label_pad).mean()


@pytest.fixture(scope="module")
def fitted(clips):
  """Twelve Adam steps on the four clips: (model, initial params, final params, the first
  step's gradients, losses). One compile of init and one of the step serve every test."""
  model = SpeechRecognizer(vocab_size=VOCAB, encoder="ast", encoder_options=AST)
  params = jax.jit(model.init)(jax.random.key(0), clips[0][:1])["params"]
  opt = optax.adam(1e-2)

  @jax.jit
  def step(params, opt_state):
    loss, grads = jax.value_and_grad(lambda p: loss_fn(model, p, *clips))(params)
    updates, opt_state = opt.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss, grads

  p, opt_state, losses, first_grads = params, opt.init(params), [], None
  for _ in range(12):
    p, opt_state, loss, grads = step(p, opt_state)
    losses.append(float(loss))
    first_grads = grads if first_grads is None else first_grads
  return model, params, p, first_grads, losses


def test_frames_follow_the_hop_and_the_patch(fitted, clips):
  model, params = fitted[:2]
  logits = jax.eval_shape(lambda x: model.apply({"params": params}, x), clips[0])
  # 8000 samples, 25 ms frames (200) every 10 ms (80): 98 frames -> 24 four-frame patches.
  assert logits.shape == (4, 1 + (1 + (8000 - 200) // 80 - 4) // 4, VOCAB + 1)
  assert logits.dtype == jnp.float32


def test_ctc_gradients_reach_every_parameter_and_the_loss_falls(fitted):
  *_, grads, losses = fitted
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert np.isfinite(g).all() and np.abs(g).max() > 0, jax.tree_util.keystr(path)
  assert np.isfinite(losses).all() and losses[0] > 0
  assert losses[-1] < 0.25 * losses[0], losses


def test_bfloat16_matches_float32(fitted, clips):
  model, _, params = fitted[:3]
  bf16 = model.clone(dtype=jnp.bfloat16)
  a = jax.jit(model.apply)({"params": params}, clips[0])
  b = jax.jit(bf16.apply)({"params": params}, clips[0])
  assert b.dtype == jnp.float32 and np.isfinite(a).all()  # the CTC loss log-softmaxes them
  np.testing.assert_allclose(jax.nn.log_softmax(b), jax.nn.log_softmax(a), atol=0.2, rtol=0.05)
  # The trained model's best path agrees in both dtypes on almost every frame.
  assert np.mean(np.argmax(a, -1) == np.argmax(b, -1)) > 0.9


def test_bad_encoder_options_are_clear_errors(clips):
  waves = clips[0][:1]
  with pytest.raises(ValueError, match="span every mel bin"):
    SpeechRecognizer(vocab_size=VOCAB, encoder="ast",
                     encoder_options=dict(AST, patch_size=(4, 8))).init(jax.random.key(0), waves)
  with pytest.raises(ConfigError, match="Valid choices: ast, spec_cnn, wave_cnn"):
    SpeechRecognizer(vocab_size=VOCAB, encoder="wav2vec").init(jax.random.key(0), waves)


def tiny_model_section(**changes):
  """The tiny preset's model section with `changes` {"encoder.name": value, ...}."""
  return preset("configs/speech_recognition.py:tiny",
                **{f"model.{k}": v for k, v in changes.items()}).model


def test_build_recognizer_takes_the_data_sample_rate_and_checks_frames():
  model = speech.build_recognizer(tiny_model_section(), TOKENIZER, 8000)
  assert model.encoder == "ast" and model.encoder_options == dict(AST)
  assert model.vocab_size == VOCAB and model.blank_id == TOKENIZER.pad_id
  # 1 s: 98 frames of the 10 ms hop -> 24 four-frame patches, enough for 24 labels, not 25.
  assert speech.check_frames(model, 8000, 24) == 24
  with pytest.raises(ConfigError, match=r"model.encoder.ast gives 24 frames per clip, fewer "
                                        r"than data.text_len=25: CTC needs a frame per word"):
    speech.check_frames(model, 8000, 25)
  bad = model.clone(encoder_options=dict(AST, patch_size=(4, 8)))
  with pytest.raises(ConfigError, match=r"model.encoder.ast: the ast encoder with patch_size "
                                        r"frequency 8 != num_mel_bins 16 .*span every mel bin"):
    speech.check_frames(bad, 8000, 4)
  m = tiny_model_section(**{"encoder.name": "wav2vec"})
  with pytest.raises(ConfigError, match=r"model.encoder.name='wav2vec'. Valid choices: ast, "):
    speech.build_recognizer(m, TOKENIZER, 8000)


def test_transcript_batches_and_transcription():
  batch = speech.transcript_batch(WORLD, "train", [0, 1], TOKENIZER, 16)
  assert batch["audio"].shape == (2, 8000) and batch["labels"].shape == (2, 16)
  for row, i in enumerate((0, 1)):
    words = list(WORLD.example("train", i, ("audio",))["transcript"])
    n = len(words)
    assert TOKENIZER.decode(batch["labels"][row]) == " ".join(words)
    np.testing.assert_array_equal(batch["label_paddings"][row], np.arange(16) >= n)
  with pytest.raises(ConfigError, match=r"transcript is longer than data.text_len=2; raise "
                                        r"data.text_len"):
    speech.transcript_batch(WORLD, "train", [0], TOKENIZER, 2)
  # Frames: blank, w, w, blank, v -> "w v" by best path and by beam search.
  w, v = TOKENIZER.stoi["red"], TOKENIZER.stoi["circle"]
  logits = np.full((1, 5, VOCAB + 1), -10.0, np.float32)
  for t, c in enumerate((0, w, w, 0, v)):
    logits[0, t, c] = 10.0
  transcripts = speech.transcribe(logits, TOKENIZER, beam_size=2)
  assert transcripts == {"greedy": ["red circle"], "beam": ["red circle"]}
  scores = speech.score(transcripts, ["red square"])
  assert scores["greedy/wer"] == scores["beam/wer"] == 0.5 and scores["beam/sentence_error"] == 1


def test_tiny_trains_evaluates_and_writes_everything(tmp_path, capsys):
  config = preset("configs/speech_recognition.py:tiny")
  results = experiment.run(config, str(tmp_path))
  stdout = capsys.readouterr().out
  assert "wer" in stdout and "ref:" in stdout
  assert json.load(open(tmp_path / "results.json")) == results
  assert results["step"] == 4
  for k in ("greedy/wer", "greedy/cer", "beam/wer", "beam/cer", "baseline/wer"):
    assert 0.0 <= results[k] and np.isfinite(results[k]), k
  assert len(results["examples"]) == 2 and results["examples"][0]["ref"]
  # It learns: 4 steps are too few for a WER below the baseline's, but the CTC loss falls:
  # to 0.78, 0.81, 0.74 of its first logged value on seeds 0, 1, 2.
  losses = train_losses(tmp_path)
  assert losses[-1] < 0.9 * losses[0], losses
  for name in ("metrics.jsonl", "config.json", "vocab.json", "checkpoints"):
    assert (tmp_path / name).exists(), name
  config.eval_only = True
  assert experiment.run(config, str(tmp_path)) == results
  assert json.load(open(tmp_path / "results.json")) == results


def test_too_few_frames_for_the_labels_fails_before_training(tmp_path):
  p = run(tmp_path, "--config.data.audio_seconds=0.3")  # the command line, as a user runs it
  # 0.3 s: 28 frames of the 10 ms hop -> 7 four-frame patches, fewer than 16 labels.
  assert p.returncode != 0, p.stdout[-2000:]
  assert "gives 7 frames per clip, fewer than data.text_len=16" in p.stderr, p.stderr[-2000:]
  assert not (tmp_path / "checkpoints").exists()
