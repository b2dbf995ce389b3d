"""Word and character error rates (WER / CER), the metrics speech recognition papers report.

Both are corpus-level: the Levenshtein edit distance (substitutions + deletions + insertions)
summed over all utterances, divided by the total length of the references, as NIST's sclite
and jiwer compute them. (The mean of per-utterance rates would weight a two-word utterance as
much as a twenty-word one.) WER counts whitespace-separated words; CER counts the characters
of the words joined by single spaces, so spaces count and runs of whitespace do not.
"""

from typing import Sequence


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
  """Levenshtein distance: the fewest substitutions, deletions and insertions (each costing 1)
  that turn `ref` into `hyp`; works on any sequences (lists of words, strings)."""
  prev = list(range(len(hyp) + 1))  # distances from ref[:0] to every prefix of hyp
  for i, r in enumerate(ref, 1):
    cur = [i]
    for j, h in enumerate(hyp, 1):
      cur.append(min(prev[j - 1] + (r != h), prev[j] + 1, cur[j - 1] + 1))
    prev = cur
  return prev[-1]


def _check(refs, hyps):
  if isinstance(refs, str) or isinstance(hyps, str):
    raise ValueError("refs and hyps must be sequences of transcripts, not single strings.")
  if len(refs) != len(hyps):
    raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses; need one each.")


def _rate(refs, hyps, units) -> float:
  _check(refs, hyps)
  edits = total = 0
  for ref, hyp in zip(refs, hyps):
    r = units(ref)
    edits += edit_distance(r, units(hyp))
    total += len(r)
  if total == 0:
    raise ValueError("the references are all empty: the error rate is undefined.")
  return edits / total


def words(text: str) -> list:
  return text.split()


def characters(text: str) -> str:
  return " ".join(text.split())


def word_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
  """Corpus WER: total word edits / total reference words. Can exceed 1 (insertions)."""
  return _rate(refs, hyps, words)


def char_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
  """Corpus CER: total character edits / total reference characters (spaces included)."""
  return _rate(refs, hyps, characters)


def error_rates(refs: Sequence[str], hyps: Sequence[str]) -> dict:
  """{"wer", "cer", "sentence_error"}: the corpus rates and the fraction of utterances whose
  words are not exactly right."""
  _check(refs, hyps)
  if not refs:
    raise ValueError("no transcripts to score.")
  wrong = sum(words(r) != words(h) for r, h in zip(refs, hyps))
  return {"wer": word_error_rate(refs, hyps), "cer": char_error_rate(refs, hyps),
          "sentence_error": wrong / len(refs)}
