"""Decoding CTC outputs on the host (numpy): greedy best path and prefix beam search.

Collapsing an alignment: merge repeated classes, then drop blanks ("aa-ab" -> "aab").
"""

import collections

import numpy as np


def _log_softmax(x):
  x = np.asarray(x, np.float64)
  m = x.max(axis=-1, keepdims=True)
  return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def greedy_decode(logits, paddings=None, blank_id: int = 0) -> list[list[int]]:
  """Best-path decoding: per-frame argmax, merge repeats, drop blanks.

  logits: [batch, frames, classes] (or log-probabilities); paddings: [batch, frames], 1 = padded
  frame (dropped before merging, as the loss skips them) or None. Returns one list per sequence.
  """
  logits = np.asarray(logits)
  if logits.ndim != 3:
    raise ValueError(f"logits must be [batch, frames, classes]; got shape {logits.shape}.")
  if not 0 <= blank_id < logits.shape[-1]:
    raise ValueError(f"blank_id={blank_id}; valid: 0..{logits.shape[-1] - 1}.")
  best = logits.argmax(axis=-1)
  keep = np.ones(best.shape, bool) if paddings is None else np.asarray(paddings) == 0
  out = []
  for path, k in zip(best, keep):
    path = path[k]
    merged = path[np.r_[True, path[1:] != path[:-1]]] if path.size else path
    out.append([int(c) for c in merged if c != blank_id])
  return out


def prefix_beam_search(log_probs, beam_size: int, blank_id: int = 0):
  """CTC prefix beam search (Hannun et al. 2014, "First-Pass Large Vocabulary Continuous Speech
  Recognition using Bidirectional Recurrent DNNs"), without a language model.

  log_probs: [frames, classes] for one unpadded sequence (logits are normalised per frame).
  Each prefix carries the summed probability of its alignments ending in blank and in non-blank,
  so a prefix's score is log p(prefix) over all alignments kept in the beam; with a beam that
  never prunes, this is the exact labelling probability. Returns (sequences, scores): up to
  `beam_size` label tuples, best first, and their log-probabilities [n] float64.
  """
  log_probs = np.asarray(log_probs)
  if log_probs.ndim != 2:
    raise ValueError(f"log_probs must be [frames, classes]; got shape {log_probs.shape}.")
  if beam_size < 1:
    raise ValueError(f"beam_size={beam_size}; it must be >= 1.")
  classes = log_probs.shape[-1]
  if not 0 <= blank_id < classes:
    raise ValueError(f"blank_id={blank_id}; valid: 0..{classes - 1}.")
  lp = _log_softmax(log_probs)
  lae = np.logaddexp
  # prefix -> [log p(alignments ending in blank), log p(ending in a non-blank)].
  beams = {(): [0.0, -np.inf]}
  for frame in lp:
    nxt = collections.defaultdict(lambda: [-np.inf, -np.inf])
    for prefix, (pb, pnb) in beams.items():
      total = lae(pb, pnb)
      nxt[prefix][0] = lae(nxt[prefix][0], total + frame[blank_id])
      for c in range(classes):
        if c == blank_id:
          continue
        grown = prefix + (c,)
        if prefix and c == prefix[-1]:
          # A repeated label needs a blank in between; without one, c merges into the prefix.
          nxt[grown][1] = lae(nxt[grown][1], pb + frame[c])
          nxt[prefix][1] = lae(nxt[prefix][1], pnb + frame[c])
        else:
          nxt[grown][1] = lae(nxt[grown][1], total + frame[c])
    # Drop impossible prefixes (a repeat with no frame left for the blank between).
    ranked = sorted(((p, s) for p, s in nxt.items() if lae(*s) > -np.inf),
                    key=lambda kv: lae(*kv[1]), reverse=True)
    beams = dict(ranked[:beam_size])
  seqs = list(beams)
  return seqs, np.array([lae(*beams[s]) for s in seqs])
