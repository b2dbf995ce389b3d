"""BLEU against sacrebleu and by hand; CIDEr-D by hand and its invariants."""

import math
import random

import numpy as np
import pytest
import sacrebleu

from mmjax.evaluate.bleu import corpus_bleu
from mmjax.evaluate.cider import cider_d

WORDS = ("a b c d the cat sat on mat , . ! ? 3.5 1,000 x-ray 12-3 &amp; &quot;hi&quot; (ok) "
         "A").split()


def _corpus(rng, n, max_refs):
  sent = lambda: " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 10)))
  return [sent() for _ in range(n)], [[sent() for _ in range(rng.randint(1, max_refs))]
                                      for _ in range(n)]


def _sacrebleu(hyps, refs, order, smooth, lowercase=False):
  # sacrebleu takes reference *streams*; None marks a missing reference of a sentence.
  width = max(map(len, refs))
  streams = [[r[j] if j < len(r) else None for r in refs] for j in range(width)]
  return sacrebleu.BLEU(max_ngram_order=order, smooth_method=smooth,
                        lowercase=lowercase).corpus_score(hyps, streams).score / 100


@pytest.mark.parametrize("smooth", ["exp", "none"])
def test_bleu_equals_sacrebleu_on_random_corpora(smooth):
  rng = random.Random(0)
  for trial in range(40):
    hyps, refs = _corpus(rng, rng.randint(1, 6), max_refs=4)
    lowercase = trial % 2 == 1
    ours = corpus_bleu(hyps, refs, smooth=smooth, lowercase=lowercase)
    for k in range(1, 5):
      assert ours[f"BLEU-{k}"] == pytest.approx(
          _sacrebleu(hyps, refs, k, smooth, lowercase), abs=1e-12), (k, hyps, refs)


def test_bleu_tokenises_as_mteval_13a_unless_told_not_to():
  # 13a splits punctuation off words (not inside numbers), so these pairs match token for token.
  for hyp, ref in [("Hello, world!", "Hello , world !"),
                   ("3.5 and 1,000 (ok)", "3.5 and 1,000 ( ok )"),
                   ("&quot;hi&quot; &amp;", '" hi " &')]:
    assert corpus_bleu([hyp], [[ref]])["BLEU-4"] == pytest.approx(1.0), hyp
    assert corpus_bleu([hyp], [[ref]], tokenize="none")["BLEU-1"] < 1.0, hyp


def test_bleu_by_hand():
  # hyp a a a b vs refs "a b c", "c a b": clipped unigrams 2/4, bigrams (aa aa ab) 1/3,
  # trigrams 0/2 and 4-grams 0/1 smoothed to 1/(2*2) and 1/(4*1); lengths 4 vs 3: no penalty.
  out = corpus_bleu(["a a a b"], [["a b c", "c a b"]])
  assert out["BLEU-1"] == pytest.approx(0.5)
  assert out["BLEU-2"] == pytest.approx(math.sqrt(0.5 / 3))
  assert out["BLEU-3"] == pytest.approx((0.5 / 3 * 0.25) ** (1 / 3))
  assert out["BLEU-4"] == pytest.approx((0.5 / 3 * 0.25 * 0.25) ** (1 / 4))
  assert out["brevity_penalty"] == 1.0 and (out["hyp_len"], out["ref_len"]) == (4, 3)
  # Too short: 2 words against the closest reference (4 words): penalty exp(1 - 4 / 2).
  short = corpus_bleu(["a b"], [["a b c d", "a b c d e f"]], max_order=1)
  assert short["BLEU-1"] == pytest.approx(math.exp(-1.0)) and short["ref_len"] == 4
  # Equally close references (2 and 4 words for 3): the shorter one counts.
  assert corpus_bleu(["a b c"], [["a b c d", "a b"]])["ref_len"] == 2
  # Corpus-level: statistics are pooled, not sentence scores averaged.
  pooled = corpus_bleu(["a b", "x y"], [["a b"], ["c d"]], max_order=1)
  assert pooled["BLEU-1"] == pytest.approx(0.5)


def test_bleu_rejects_bad_input():
  with pytest.raises(ValueError, match="2 hypotheses but 1 reference lists"):
    corpus_bleu(["a", "b"], [["a"]])
  with pytest.raises(ValueError, match="non-empty list"):
    corpus_bleu(["a"], ["a"])
  with pytest.raises(ValueError, match="smooth='add-k'; valid: exp, none"):
    corpus_bleu(["a"], [["a"]], smooth="add-k")
  with pytest.raises(ValueError, match="no hypotheses"):
    corpus_bleu([], [])


L2 = math.log(2.0)  # idf of an n-gram found in the references of 1 of the 2 images


def test_cider_d_by_hand():
  refs = [["a b"], ["c d"]]
  # Perfect 2-word captions: cosine 1 for unigrams and bigrams, nothing for orders 3 and 4.
  total, per_image = cider_d(["a b", "c d"], refs)
  np.testing.assert_allclose(per_image, [5.0, 5.0])
  assert total == pytest.approx(5.0)
  # Clipping: "a a" has tf-idf (a: 2 L2), clipped to the reference's (a: L2, b: L2):
  # unigram cosine L2^2 / (2 L2 * sqrt(2) L2) = 1 / (2 sqrt 2); without clipping it would be 2x.
  _, clipped = cider_d(["a a", "c d"], refs)
  assert clipped[0] == pytest.approx(10 / 4 * 1 / (2 * math.sqrt(2)))
  # Gaussian length penalty: "a b b" is 1 word longer than "a b".
  # unigrams (a: L2, b: 2 L2).(L2, L2) clipped: 2 L2^2 / (sqrt5 L2 * sqrt2 L2);
  # bigrams {ab, bb} vs {ab}: L2^2 / (sqrt2 L2 * L2); trigram "a b b": none in the reference.
  _, longer = cider_d(["a b b", "c d"], refs)
  expected = 10 / 4 * (2 / math.sqrt(10) + 1 / math.sqrt(2)) * math.exp(-1 / (2 * 6.0 ** 2))
  assert longer[0] == pytest.approx(expected)
  # An n-gram in every image's references has idf log(2/2) = 0: "x" carries no weight.
  _, common = cider_d(["x", "x"], [["x a"], ["x c"]])
  np.testing.assert_allclose(common, 0.0)
  # Several references: the per-reference similarities are averaged.
  _, two = cider_d(["a b", "c d"], [["a b", "e f"], ["c d"]])
  assert two[0] == pytest.approx(2.5)


def test_cider_d_invariants():
  rng = random.Random(1)
  words = "a b c d e f g".split()
  sent = lambda: " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
  refs = [[sent() for _ in range(rng.randint(1, 4))] for _ in range(12)]
  cands = [sent() for _ in range(12)]
  total, scores = cider_d(cands, refs)
  assert np.all(scores >= 0) and np.all(scores <= 10) and total == pytest.approx(scores.mean())
  assert scores.max() > 0
  # The idf of a reference n-gram depends only on the fraction of images with it: duplicating
  # the corpus leaves every score as it is (for captions made of reference n-grams, as here:
  # each image's own last reference, or the first of the next image).
  own = [refs[i][-1] if i % 2 else refs[(i + 1) % 12][0] for i in range(12)]
  _, own_scores = cider_d(own, refs)
  np.testing.assert_allclose(cider_d(own * 2, refs * 2)[1], np.tile(own_scores, 2))
  # Order of images and of each image's references does not matter.
  perm = rng.sample(range(12), 12)
  np.testing.assert_allclose(cider_d([cands[i] for i in perm], [refs[i] for i in perm])[1],
                             scores[perm])
  np.testing.assert_allclose(cider_d(cands, [r[::-1] for r in refs])[1], scores)
  # A caption sharing no word with its references scores 0; one equal to its only reference,
  # with distinct n-grams of every order, scores the maximum 10.
  _, s = cider_d(["zz yy", "w x y z v"], [["a b"], ["w x y z v"]])
  assert s[0] == 0.0 and s[1] == pytest.approx(10.0)


def test_cider_d_rejects_bad_input():
  with pytest.raises(ValueError, match="2 candidates but 1 reference lists"):
    cider_d(["a", "b"], [["a"]])
  with pytest.raises(ValueError, match="non-empty list"):
    cider_d(["a"], [[]])
  with pytest.raises(ValueError, match="sigma > 0"):
    cider_d(["a"], [["a"]], sigma=0.0)
