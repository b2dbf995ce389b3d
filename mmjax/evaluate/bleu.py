"""Corpus BLEU-1..4 (Papineni et al. 2002, "BLEU: a Method for Automatic Evaluation of Machine
Translation"), computed as sacrebleu computes it (Post 2018) with its defaults: the mteval-v13a
tokenisation, case-sensitive, "exp" smoothing, no effective order.

Corpus BLEU is not the mean of sentence scores: n-gram matches and lengths are summed over the
whole corpus first. A hypothesis n-gram matches at most as many times as it occurs in the one
reference that has it most often (clipping across multiple references); the brevity penalty
compares the total hypothesis length with the sum, over sentences, of the reference length
closest to each hypothesis (ties: the shorter one).
"""

import collections
import math
import re
from typing import Sequence

SMOOTHING = ("exp", "none")
TOKENIZERS = ("13a", "none")

# mteval-v13a's language-independent rules, in order (the ones sacrebleu's "13a" applies).
_13A_RULES = (
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # split off punctuation
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period / comma unless after a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # ... unless before a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # a dash after a digit
)
_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))


def tokenize_13a(line: str) -> list:
  """The mteval-v13a tokenisation (WMT's, sacrebleu's default) -> list of tokens."""
  line = line.rstrip().replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
  for entity, char in _ENTITIES:
    line = line.replace(entity, char)
  line = f" {line} "
  for pattern, repl in _13A_RULES:
    line = pattern.sub(repl, line)
  return line.split()


def ngram_counts(tokens, max_order: int) -> collections.Counter:
  """Counts of every 1..max_order-gram (a tuple of tokens) of `tokens`."""
  return collections.Counter(tuple(tokens[i:i + n]) for n in range(1, max_order + 1)
                             for i in range(len(tokens) - n + 1))


def _closest(hyp_len, ref_lens):
  return min(ref_lens, key=lambda r: (abs(hyp_len - r), r))


def brevity_penalty(hyp_len: int, ref_len: int) -> float:
  """exp(1 - ref_len / hyp_len) for a corpus shorter than its references, else 1."""
  if hyp_len >= ref_len:
    return 1.0
  return math.exp(1 - ref_len / hyp_len) if hyp_len else 0.0


def _geometric_mean(correct, total, smooth):
  """Geometric mean of the clipped precisions correct[n] / total[n], smoothed."""
  if not any(correct):
    return 0.0
  log_sum, smooth_div = 0.0, 1.0
  for c, t in zip(correct, total):
    if t == 0:  # no hypothesis is this long: the precision is 0, and so is the mean
      return 0.0
    if c:
      log_sum += math.log(c / t)
    elif smooth == "exp":  # NIST / mteval "method 3": 1 / (2^k * total) for the k-th zero
      smooth_div *= 2
      log_sum += math.log(1.0 / (smooth_div * t))
    else:
      return 0.0
  return math.exp(log_sum / len(correct))


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
  split = tokenize_13a if tokenize == "13a" else str.split
  prep = lambda s: split(s.lower() if lowercase else s)
  correct, total = [0] * max_order, [0] * max_order
  hyp_len = ref_len = 0
  for i, (hyp, refs) in enumerate(zip(hypotheses, references)):
    if isinstance(refs, str) or not refs:
      raise ValueError(f"references[{i}] must be a non-empty list of strings, got {refs!r}.")
    ref_tokens = [prep(r) for r in refs]
    max_ref = collections.Counter()
    for r in ref_tokens:
      max_ref |= ngram_counts(r, max_order)  # union keeps each n-gram's largest count
    tokens = prep(hyp)
    hyp_len += len(tokens)
    ref_len += _closest(len(tokens), [len(r) for r in ref_tokens])
    for gram, count in ngram_counts(tokens, max_order).items():
      total[len(gram) - 1] += count
      correct[len(gram) - 1] += min(count, max_ref[gram])
  bp = brevity_penalty(hyp_len, ref_len)
  out = {"brevity_penalty": bp, "hyp_len": hyp_len, "ref_len": ref_len}
  for k in range(1, max_order + 1):
    out[f"BLEU-{k}"] = bp * _geometric_mean(correct[:k], total[:k], smooth)
    out[f"precision-{k}"] = correct[k - 1] / total[k - 1] if total[k - 1] else 0.0
  return out
