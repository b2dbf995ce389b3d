"""The evaluation battery: seeded pure corruptions, robustness sweeps, modality contribution and
the report, on a hand-made model; then experiments/evaluate.py on a finished tiny
fusion_classification run (trained in-process with a held-out pair)."""

import json

import numpy as np
import pytest

from mmjax.evaluate import robustness as rb
from mmjax.evaluate.modality_contribution import (derangement, modality_contribution,
                                                  shuffle_across_examples)
from mmjax.registry import ConfigError

EOS = 2
TOKENS = np.array([[5, 6, 7, 8, 9, EOS, 0, 0]] * 500, np.int32)


def test_gaussian_noise_is_pure_seeded_and_has_the_asked_std():
  x = np.linspace(-1, 1, 20000, dtype=np.float32).reshape(100, 200)
  before = x.copy()
  a = rb.gaussian_noise(x, 0.3, np.random.default_rng(0))
  np.testing.assert_array_equal(x, before)
  np.testing.assert_array_equal(a, rb.gaussian_noise(x, 0.3, np.random.default_rng(0)))
  assert not np.array_equal(a, rb.gaussian_noise(x, 0.3, np.random.default_rng(1)))
  assert a.dtype == np.float32 and np.std(a - x) == pytest.approx(0.3, rel=0.03)
  np.testing.assert_array_equal(rb.gaussian_noise(x, 0.0, np.random.default_rng(0)), x)
  clipped = rb.gaussian_noise(x, 2.0, np.random.default_rng(0), clip=(-1.0, 1.0))
  assert clipped.min() == -1.0 and clipped.max() == 1.0
  with pytest.raises(ValueError, match="std=-0.1; valid: >= 0"):
    rb.gaussian_noise(x, -0.1, np.random.default_rng(0))


def test_white_noise_reaches_the_asked_snr_per_example():
  t = np.arange(16000) / 8000
  waves = np.stack([np.sin(2 * np.pi * 440 * t), 0.01 * np.sin(2 * np.pi * 300 * t),
                    np.zeros_like(t)]).astype(np.float32)
  for snr in (20.0, 0.0, -10.0):
    noisy = rb.white_noise(waves, snr, np.random.default_rng(0))
    noise = noisy - waves
    for i in (0, 1):  # loud and quiet waves each get their own noise level
      measured = 10 * np.log10(np.mean(waves[i] ** 2) / np.mean(noise[i] ** 2))
      assert measured == pytest.approx(snr, abs=0.15)
    np.testing.assert_array_equal(noisy[2], 0.0)  # silence has no SNR: it stays silent


def test_token_dropout_removes_words_keeps_order_eos_and_length():
  np.testing.assert_array_equal(
      rb.token_dropout(TOKENS, 0.0, np.random.default_rng(0), protected=(EOS,)), TOKENS)
  gone = rb.token_dropout(TOKENS[:2], 1.0, np.random.default_rng(0), protected=(EOS,))
  np.testing.assert_array_equal(gone, [[EOS, 0, 0, 0, 0, 0, 0, 0]] * 2)
  out = rb.token_dropout(TOKENS, 0.3, np.random.default_rng(0), protected=(EOS,))
  assert out.shape == TOKENS.shape and out.dtype == TOKENS.dtype
  for row in out:
    words = row[(row != 0) & (row != EOS)].tolist()
    assert words == sorted(words) and set(words) <= {5, 6, 7, 8, 9}  # a subsequence, in order
    n = len(words)
    assert row[n] == EOS and not row[n + 1:].any()  # then <eos>, then padding
  removed = 1 - ((out != 0) & (out != EOS)).sum() / (5 * len(TOKENS))
  assert removed == pytest.approx(0.3, abs=0.03)


def test_token_replacement_draws_words_and_spares_padding_and_eos():
  rng = np.random.default_rng(0)
  np.testing.assert_array_equal(rb.token_replacement(TOKENS, 0.0, rng, 12, protected=(EOS,)),
                                TOKENS)
  every = rb.token_replacement(TOKENS, 1.0, rng, 12, protected=(EOS,))
  assert set(np.unique(every[:, :5])) <= {1, 3, *range(4, 12)}  # never padding or <eos>
  np.testing.assert_array_equal(every[:, 5:], TOKENS[:, 5:])
  out = rb.token_replacement(TOKENS, 0.4, rng, 12, protected=(EOS,))
  # 10 candidate ids: a replaced word stays the same with probability 1/10.
  assert (out[:, :5] != TOKENS[:, :5]).mean() == pytest.approx(0.4 * 0.9, abs=0.03)
  with pytest.raises(ValueError, match="p=1.5; valid: a probability"):
    rb.token_replacement(TOKENS, 1.5, rng, 12)


def test_drop_and_shuffle_across_examples():
  x = np.arange(24, dtype=np.float32).reshape(6, 4)
  dropped = rb.drop(x)
  assert dropped.shape == x.shape and dropped.dtype == x.dtype and not dropped.any()
  perm = derangement(50, np.random.default_rng(0))
  assert sorted(perm) == list(range(50)) and not np.any(perm == np.arange(50))
  shuffled = shuffle_across_examples(x, np.random.default_rng(3))
  # Same rows (the marginal is kept), none in its own place.
  assert sorted(map(tuple, shuffled)) == sorted(map(tuple, x))
  assert not np.any(np.all(shuffled == x, axis=1))
  with pytest.raises(ValueError, match="at least 2"):
    derangement(1, np.random.default_rng(0))


def toy(n=2000, seed=123):
  """A model that reads only "a": p(label 1) = sigmoid(8 a), with label = [a > 0]; "b" is noise
  it ignores. (Not seed 0: the sweeps' noise would then be "a" itself.)"""
  rng = np.random.default_rng(seed)
  inputs = {"a": rng.normal(0, 1, (n, 1)).astype(np.float32),
            "b": rng.normal(0, 1, (n, 3)).astype(np.float32)}
  labels = (inputs["a"][:, 0] > 0).astype(np.int64)

  def probabilities(x):
    p = 1 / (1 + np.exp(-np.clip(8 * x["a"][:, 0], -50, 50)))
    return np.stack([1 - p, p], 1)
  return probabilities, inputs, labels


def accuracy(labels, probs):
  return {"accuracy": float(np.mean(probs.argmax(1) == labels))}


def test_sweep_curve_degrades_is_seeded_and_its_area_is_the_trapezoid():
  probabilities, inputs, labels = toy()
  noise = rb.Corruption("gaussian_noise", rb.gaussian_noise, (0.0, 0.25, 0.5, 1.0, 2.0), "std")
  curve = rb.sweep(probabilities, inputs, labels, "a", noise, accuracy, seed=0)
  acc = curve["accuracy"]
  assert curve["levels"] == [0.0, 0.25, 0.5, 1.0, 2.0] and acc[0] == 1.0
  assert all(a >= b for a, b in zip(acc, acc[1:])) and acc[-1] < 0.8
  assert rb.sweep(probabilities, inputs, labels, "a", noise, accuracy, seed=0) == curve
  assert rb.sweep(probabilities, inputs, labels, "a", noise, accuracy, seed=1) != curve
  assert rb.sweep(probabilities, inputs, labels, "b", noise, accuracy)["accuracy"] == [1.0] * 5

  def flip_first(x, level, rng):  # flips a known fraction: accuracy is exactly 1 - level
    x = x.copy()
    x[:int(level * len(x))] *= -1
    return x
  exact = rb.sweep(probabilities, inputs, labels, "a",
                   rb.Corruption("flip", flip_first, (0.0, 0.5, 1.0)), accuracy)
  assert exact["accuracy"] == [1.0, 0.5, 0.0]
  # Trapezoid over levels spaced evenly on [0, 1]: .5 * (1 + .5) / 2 + .5 * (.5 + 0) / 2.
  assert exact["relative_robustness"]["accuracy"] == pytest.approx(0.5)
  with pytest.raises(ValueError, match="modality='c' is not an input; valid: a, b"):
    rb.sweep(probabilities, inputs, labels, "c", noise, accuracy)


def test_contribution_is_zero_for_an_ignored_modality_and_large_for_the_used_one():
  probabilities, inputs, labels = toy()
  out = modality_contribution(probabilities, inputs, labels, {"a": rb.drop, "b": rb.drop},
                              accuracy, seed=0)
  assert out["b"]["drop_zeroed"]["accuracy"] == out["b"]["drop_shuffled"]["accuracy"] == 0.0
  # Without "a" the model is blind: zeroed it says class 0 always, shuffled it guesses.
  assert out["a"]["zeroed"]["accuracy"] == pytest.approx(np.mean(labels == 0))
  assert out["a"]["shuffled"]["accuracy"] == pytest.approx(0.5, abs=0.05)
  assert out["a"]["drop_shuffled"]["accuracy"] == pytest.approx(
      1.0 - out["a"]["shuffled"]["accuracy"])
  with pytest.raises(ValueError, match=r"no drop function for modalities \['b'\]"):
    modality_contribution(probabilities, inputs, labels, {"a": rb.drop}, accuracy)


def test_battery_and_report_on_a_toy_subject():
  from experiments import evaluate
  from mmjax.evaluate.report import markdown
  from mmjax.evaluate.subject import Subject
  probabilities, inputs, labels = toy(400)
  noise = rb.Corruption("gaussian_noise", rb.gaussian_noise, (0.0, 0.5, 1.0), "std")
  subject = Subject(probabilities, inputs, labels, 2, {"a": [noise]},
                             {"a": rb.drop, "b": rb.drop}, run={"step": 7, "chance": 0.5})
  report = evaluate.battery(subject, seed=0, num_bins=10)
  assert report["metrics"]["accuracy"] == 1.0 and report["metrics"]["macro_f1"] == 1.0
  assert report["robustness"]["a"]["gaussian_noise"]["accuracy"][0] == 1.0
  assert report["dropped"]["b"] == {"accuracy": 1.0, "macro_f1": 1.0}
  assert report["compositional"] == {"available": False, "reason": subject.compositional_note}
  assert len(report["calibration"]["bin_count"]) == 10
  md = markdown(report, {("a", "gaussian_noise"): "a.png", "calibration": "cal.png"})
  for text in ("## Robustness: a gaussian_noise", "| dropped |", "| b | 1.000 | 0.000 | 1.000 | "
               "0.000 |", "Not measured", "(a.png)", "(cal.png)", "| 1.000 | 1.000 | 1.000 | "
               "1.000 | 0.500 | — |"):
    assert text in md, text


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  from experiments import fusion_classification
  from tests.scripts import preset
  config = preset("configs/fusion.py:tiny", **{
      "data.source.shapes.held_out": (("circle", "red"),), "total_steps": 3,
      "checkpoint.every_steps": 3,
      "eval.num_examples": 16})  # one batch: one compile, few examples to make
  workdir = tmp_path_factory.mktemp("fusion")
  return str(workdir), fusion_classification.run(config, str(workdir))


def test_evaluate_a_fusion_run_reproduces_its_results_and_writes_the_report(finished_run):
  from experiments import evaluate
  from mmjax.evaluate.subject import AUDIO_SNR_DB, IMAGE_NOISE_STD
  workdir, results = finished_run
  report = evaluate.evaluate(workdir)
  # The same checkpoint on the same test examples: the run's own numbers.
  m = report["metrics"]
  assert m["confusion_matrix"] == results["confusion_matrix"]
  assert m["accuracy"] == results["accuracy"] and report["run"]["step"] == results["step"] == 3
  image = report["robustness"]["image"]["gaussian_noise"]
  assert image["levels"] == list(IMAGE_NOISE_STD) and image["accuracy"][0] == m["accuracy"]
  audio = report["robustness"]["audio"]["white_noise"]
  assert audio["levels"] == list(AUDIO_SNR_DB)
  assert set(report["modality_contribution"]) == {"image", "audio"}
  comp = report["compositional"]
  assert comp["available"] and comp["held_out"] == [["circle", "red"]]
  assert comp["num_examples"] == 16 and 0 <= comp["test_compositional"]["accuracy"] <= 1
  assert sum(report["calibration"]["bin_count"]) == 16
  assert 0 <= report["calibration"]["ece"] <= 1
  out = f"{workdir}/evaluation"
  assert json.load(open(f"{out}/report.json"))["metrics"]["accuracy"] == m["accuracy"]
  assert "## Compositional generalisation" in open(f"{out}/report.md").read()
  for name in ("robustness_image_gaussian_noise.png", "robustness_audio_white_noise.png",
               "reliability.png"):
    assert open(f"{out}/{name}", "rb").read(8) == b"\x89PNG\r\n\x1a\n", name
  assert "compositional: test" in evaluate.summary(report)


def test_evaluate_names_what_is_wrong(tmp_path, finished_run):
  from experiments import evaluate
  with pytest.raises(ConfigError, match='--experiment=.vqa.. Valid choices: '
                                        'fusion_classification'):
    evaluate.evaluate(finished_run[0], experiment="vqa")
  with pytest.raises(ConfigError, match="--num_bins=0; valid: an integer >= 1"):
    evaluate.evaluate(finished_run[0], num_bins=0)
  with pytest.raises(FileNotFoundError, match="config.json does not exist"):
    evaluate.evaluate(str(tmp_path))


def test_evaluation_writes_into_readme_exactly_its_summary(tmp_path, finished_run):
  from experiments import evaluate
  from mmjax.reproduce import tables
  readme = tmp_path / "README.md"
  begin, end = tables.markers("evaluation:fusion_classification")
  readme.write_text(f"intro\n{begin}\nold\n{end}\nafter\n")
  command = "python experiments/evaluate.py --workdir runs/fusion"
  report, text = evaluate.evaluate_and_summarise(finished_run[0], command, str(readme))
  assert open(f"{finished_run[0]}/evaluation/readme.md").read() == text
  assert tables.current_block(readme.read_text(), begin, end) == text.strip()
  assert text.startswith(f"`{command}` (the run at step 3; task redundant, fusion concat_late) on ")
  m = report["metrics"]
  bayes = report["run"]["bayes_optimal"]  # 0.953 with every pair; held-out pairs raise it
  assert 0.953 < bayes < 0.96
  for row in (f"| test split, 16 examples (chance 0.250, Bayes-optimal {bayes:.3f}) | "
              f"{m['accuracy']:.3f} (macro F1 {m['macro_f1']:.3f}) |",
              "| calibration: ECE over 15 confidence bins |", "| image gaussian_noise, noise std",
              "| audio white_noise, SNR (dB) 30 / 20",
              "| audio zeroed / shuffled across examples |",
              "| held-out pairs (circle, red): test_compositional, 16 examples |"):
    assert row in text, row
