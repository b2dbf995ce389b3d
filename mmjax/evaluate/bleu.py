"""Corpus BLEU-1..4 (Papineni et al. 2002, "BLEU: a Method for Automatic Evaluation of Machine
Translation") by sacrebleu (Post 2018), with its defaults: the mteval-v13a tokenisation,
case-sensitive, "exp" smoothing, no effective order.

Corpus BLEU is not the mean of sentence scores: n-gram matches and lengths are summed over the
whole corpus first. A hypothesis n-gram matches at most as many times as it occurs in the one
reference that has it most often (clipping across multiple references); the brevity penalty
compares the total hypothesis length with the sum, over sentences, of the reference length
closest to each hypothesis (ties: the shorter one).
"""

from typing import Sequence

from sacrebleu.metrics.bleu import BLEU

SMOOTHING = ("exp", "none")
TOKENIZERS = ("13a", "none")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                max_order: int = 4, smooth: str = "exp", tokenize: str = "13a",
                lowercase: bool = False) -> dict:
  """Corpus BLEU-1 .. BLEU-max_order of `hypotheses` [n] against `references` [n][refs_i]
  (any number >= 1 of references per hypothesis).

  Returns {"BLEU-k": score in [0, 1] (sacrebleu's score / 100), "precision-k": clipped n-gram
  precision, "brevity_penalty", "hyp_len", "ref_len"}. BLEU-k, the brevity penalty times the
  geometric mean of precisions 1..k, is what captioning papers list as B@k (their coco-caption
  script smooths zero counts differently, which matters only when an order has no match).
  tokenize: "13a" (sacrebleu's default) or "none" (split on whitespace).
  """
  if smooth not in SMOOTHING:
    raise ValueError(f"smooth={smooth!r}; valid: {', '.join(SMOOTHING)}.")
  if tokenize not in TOKENIZERS:
    raise ValueError(f"tokenize={tokenize!r}; valid: {', '.join(TOKENIZERS)}.")
  if max_order < 1:
    raise ValueError(f"max_order={max_order}; it must be >= 1.")
  if len(hypotheses) != len(references):
    raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists; "
                     "give one list of references per hypothesis.")
  if not hypotheses:
    raise ValueError("no hypotheses: corpus BLEU needs at least one sentence.")
  for i, refs in enumerate(references):
    if isinstance(refs, str) or not refs:
      raise ValueError(f"references[{i}] must be a non-empty list of strings, got {refs!r}.")
  # sacrebleu reads references as streams (the j-th reference of every sentence); None marks a
  # sentence with fewer references than the most.
  width = max((len(r) for r in references), default=1)
  streams = [[r[j] if j < len(r) else None for r in references] for j in range(width)]
  # force: captions often end in " ." (Flickr8k's do); sacrebleu would only warn about it.
  stats = BLEU(lowercase=lowercase, tokenize=tokenize, smooth_method=smooth,
               max_ngram_order=max_order, force=True).corpus_score(list(hypotheses), streams)
  correct, total = stats.counts, stats.totals
  out = {"brevity_penalty": stats.bp, "hyp_len": stats.sys_len, "ref_len": stats.ref_len}
  # Matches of orders <= k do not depend on the largest order: BLEU-k from the same counts.
  for k in range(1, max_order + 1):
    score = BLEU.compute_bleu(correct[:k], total[:k], stats.sys_len, stats.ref_len,
                              smooth_method=smooth, max_ngram_order=k).score
    out[f"BLEU-{k}"] = score / 100
    out[f"precision-{k}"] = correct[k - 1] / total[k - 1] if total[k - 1] else 0.0
  return out
