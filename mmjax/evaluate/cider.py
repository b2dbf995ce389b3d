"""CIDEr-D (Vedantam et al. 2015, "CIDEr: Consensus-based Image Description Evaluation"), the
variant the COCO captioning server reports as "CIDEr".

Each sentence becomes, for n = 1..4, a vector of n-gram tf-idf weights: count of the n-gram in
the sentence times log(N / max(1, df)), where N is the number of images and df the number of
images whose references contain the n-gram (idf from the reference corpus: n-grams every image
has, like "a", weigh nothing). For image i with references s_1..s_m and candidate c:

  CIDEr-D_n = 10 / m * sum_j exp(-(len(c) - len(s_j))^2 / (2 sigma^2))
                         * <min(g_n(c), g_n(s_j)), g_n(s_j)> / (|g_n(c)| |g_n(s_j)|)
  CIDEr-D   = mean over n of CIDEr-D_n, averaged over images for the corpus score.

The "-D" changes against plain CIDEr stop gaming by repetition and length: the candidate's
weights are clipped by the reference's, and a Gaussian penalty (sigma = 6 words) shrinks the
score of candidates much longer or shorter than a reference. Scores lie in [0, 10]. Sentences are
split on whitespace; normalise case and punctuation first (coco-caption's PTB tokenizer
lower-cases and drops punctuation).
"""

import collections
import math
from typing import Sequence

import numpy as np


def ngram_counts(tokens, max_order: int) -> collections.Counter:
  """Counts of every 1..max_order-gram (a tuple of tokens) of `tokens`."""
  return collections.Counter(tuple(tokens[i:i + n]) for n in range(1, max_order + 1)
                             for i in range(len(tokens) - n + 1))


def _tfidf(tokens, max_order, idf):
  """Per order n: ({n-gram: tf * idf}, the vector's L2 norm)."""
  vecs = [{} for _ in range(max_order)]
  for gram, count in ngram_counts(tokens, max_order).items():
    vecs[len(gram) - 1][gram] = count * idf(gram)
  return [(v, math.sqrt(sum(w * w for w in v.values()))) for v in vecs]


def _similarity(cand, ref, length_gap, sigma):
  """Clipped cosine per order [max_order], times the Gaussian length penalty."""
  penalty = math.exp(-length_gap ** 2 / (2 * sigma ** 2))
  out = []
  for (vc, nc), (vr, nr) in zip(cand, ref):
    if nc == 0 or nr == 0:  # no n-gram of this order (or only idf-0 ones) on one side
      out.append(0.0)
      continue
    dot = sum(min(w, vr.get(g, 0.0)) * vr.get(g, 0.0) for g, w in vc.items())
    out.append(penalty * dot / (nc * nr))
  return out


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]],
            max_order: int = 4, sigma: float = 6.0):
  """CIDEr-D of `candidates` [n] (one caption per image) against `references` [n][refs_i].

  Returns (corpus score: the mean over images, per-image scores float64 [n]).
  """
  if len(candidates) != len(references):
    raise ValueError(f"{len(candidates)} candidates but {len(references)} reference lists; "
                     "give one list of references per image.")
  if not candidates:
    raise ValueError("no candidates: CIDEr-D needs at least one image.")
  if max_order < 1 or sigma <= 0:
    raise ValueError(f"max_order={max_order}, sigma={sigma}; valid: max_order >= 1, sigma > 0.")
  refs = []
  for i, r in enumerate(references):
    if isinstance(r, str) or not r:
      raise ValueError(f"references[{i}] must be a non-empty list of strings, got {r!r}.")
    refs.append([s.split() for s in r])
  df = {}
  for image_refs in refs:
    for gram in set().union(*(ngram_counts(s, max_order) for s in image_refs)):
      df[gram] = df.get(gram, 0) + 1
  log_n = math.log(len(refs))
  idf = lambda gram: log_n - math.log(max(1, df.get(gram, 0)))

  scores = np.zeros(len(refs))
  for i, (cand, image_refs) in enumerate(zip(candidates, refs)):
    tokens = cand.split()
    vc = _tfidf(tokens, max_order, idf)
    sims = [_similarity(vc, _tfidf(s, max_order, idf), len(tokens) - len(s), sigma)
            for s in image_refs]
    scores[i] = 10.0 * np.mean(np.sum(sims, axis=0)) / len(image_refs)
  return float(scores.mean()), scores
