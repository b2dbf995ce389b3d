"""WER / CER against edit distances counted by hand."""

import numpy as np
import pytest

from mmjax.evaluate.error_rate import (char_error_rate, edit_distance, error_rates,
                                       word_error_rate)


@pytest.mark.parametrize("ref, hyp, distance", [
    ("kitten", "sitting", 3),  # k->s, e->i, +g
    ("flaw", "lawn", 2),       # -f, +n
    ("abc", "abc", 0),
    ("", "abc", 3),
    ("abc", "", 3),
    ("ab", "ba", 2),           # no transpositions in Levenshtein
])
def test_edit_distance_by_hand(ref, hyp, distance):
  assert edit_distance(ref, hyp) == distance
  assert edit_distance(hyp, ref) == distance  # symmetric
  assert edit_distance(list(ref), list(hyp)) == distance  # any sequence


def _brute_force_distance(ref, hyp):
  """The shortest edit script, by breadth-first search over strings (tiny alphabets only)."""
  alphabet = sorted(set(ref + hyp))
  frontier, seen, d = {ref}, {ref}, 0
  while hyp not in frontier:
    nxt = set()
    for s in frontier:
      for i in range(len(s) + 1):
        nxt.add(s[:i] + s[i + 1:])
        for c in alphabet:
          nxt.update((s[:i] + c + s[i:], s[:i] + c + s[i + 1:]))
    frontier, d = nxt - seen, d + 1
    seen |= nxt
  return d


def test_edit_distance_matches_brute_force():
  rng = np.random.default_rng(0)
  for _ in range(20):
    ref, hyp = ("".join(rng.choice(list("ab"), rng.integers(0, 5))) for _ in range(2))
    assert edit_distance(ref, hyp) == _brute_force_distance(ref, hyp), (ref, hyp)


def test_wer_is_corpus_level_by_hand():
  refs = ["a red circle", "a small blue square left of a green diamond"]
  hyps = ["a red square", "a small blue square of a green diamond here"]
  # 1 substitution of 3 words; 1 deletion (left) + 1 insertion (here) of 9 words.
  assert word_error_rate(refs, hyps) == pytest.approx(3 / 12)
  # Corpus-level, not the mean of the per-utterance rates (1/3 + 2/9) / 2 = 5/18.
  assert word_error_rate(refs[:1], hyps[:1]) == pytest.approx(1 / 3)
  assert word_error_rate(refs[1:], hyps[1:]) == pytest.approx(2 / 9)


def test_wer_counts_insertions_above_one_and_ignores_extra_whitespace():
  assert word_error_rate(["a"], ["a b c"]) == pytest.approx(2.0)
  assert word_error_rate(["a  red\tcircle "], ["a red circle"]) == 0.0
  assert word_error_rate(["a red circle"], [""]) == pytest.approx(1.0)


def test_cer_by_hand():
  # "a red" -> "a bed": one substitution over 5 characters (the space counts).
  assert char_error_rate(["a red"], ["a bed"]) == pytest.approx(1 / 5)
  # "ab cd" (5 chars) vs "abcd": one deletion (the space); "xy" vs "xyz": one insertion.
  assert char_error_rate(["ab cd", "xy"], ["abcd", "xyz"]) == pytest.approx(2 / 7)
  assert char_error_rate(["a   b"], ["a b"]) == 0.0  # whitespace runs are one space


def test_error_rates_dict_and_sentence_error():
  out = error_rates(["a red circle", "a blue square"], ["a red circle", "a blue"])
  assert out["wer"] == pytest.approx(1 / 6)
  assert out["cer"] == pytest.approx(7 / 25)  # " square" deleted: 7 of 12 + 13 characters
  assert out["sentence_error"] == pytest.approx(0.5)


def test_permuted_corpus_gives_the_same_rates():
  refs = ["a b c", "d e", "f"]
  hyps = ["a c", "d e e", "g"]
  perm = [2, 0, 1]
  for fn in (word_error_rate, char_error_rate):
    assert fn(refs, hyps) == pytest.approx(fn([refs[i] for i in perm], [hyps[i] for i in perm]))


@pytest.mark.parametrize("refs, hyps, match", [
    (["a"], ["a", "b"], "1 references but 2 hypotheses"),
    ("a b", "a b", "sequences of transcripts"),
    (["", " "], ["a", "b"], "references are all empty"),
])
def test_bad_input_is_a_clear_error(refs, hyps, match):
  with pytest.raises(ValueError, match=match):
    word_error_rate(refs, hyps)
