"""Image<->text retrieval Recall@K.

A retrieved item counts as correct when it is the paired one *or* describes the same thing
(same `key`), as with COCO's five captions per image: in a procedural world, two scenes with the
same attributes have interchangeable captions, and ranking one above the other is not an error.
"""

import numpy as np
from scipy.special import comb


def _recall(sim, match, ks):
  order = np.argsort(-sim, axis=1, kind="stable")
  hits = np.take_along_axis(match, order, axis=1)
  first = np.where(hits.any(1), hits.argmax(1), sim.shape[1])  # rank of the first correct item
  return {k: float(np.mean(first < k)) for k in ks}


def _chance(match, ks):
  n, m = match.shape[1], match.sum(1)
  # k >= n items retrieved: every one, so chance 1 (comb(n, k) = 0 for k > n).
  return {k: float(np.mean(1.0 - comb(n - m, k) / comb(n, k))) if k < n else 1.0 for k in ks}


def retrieval_metrics(zimg, ztxt, keys=None, ks=(1, 5, 10), txt_keys=None) -> dict:
  """zimg, ztxt: [n, dim] paired embeddings; keys: [n] labels of what each pair shows (None:
  only the paired item is correct). Returns i2t/R@k, t2i/R@k, and their chance levels.

  COCO-style (several captions per image): zimg [n_img, dim] with keys [n_img] (e.g. image
  ids) and ztxt [n_txt, dim] with txt_keys [n_txt] (the id of each caption's image). I->T R@k
  then counts an image as a hit when any of its captions is in the top k; T->I R@k is over
  every caption (Karpathy & Fei-Fei 2015's protocol)."""
  zimg, ztxt = np.asarray(zimg, np.float32), np.asarray(ztxt, np.float32)
  n = zimg.shape[0]
  keys = np.arange(n) if keys is None else np.asarray(keys)
  if txt_keys is None:
    if ztxt.shape[0] != n:
      raise ValueError(f"{n} images but {ztxt.shape[0]} texts: unpaired embeddings need "
                       f"txt_keys (the image key of each text).")
    txt_keys = keys
  txt_keys = np.asarray(txt_keys)
  if len(keys) != n or len(txt_keys) != ztxt.shape[0]:
    raise ValueError(f"keys [{len(keys)}] / txt_keys [{len(txt_keys)}] must match the "
                     f"{n} images / {ztxt.shape[0]} texts.")
  match = keys[:, None] == txt_keys[None, :]
  sim = zimg @ ztxt.T
  out = {}
  for name, s, m in (("i2t", sim, match), ("t2i", sim.T, match.T)):
    for k, v in _recall(s, m, ks).items():
      out[f"{name}/R@{k}"] = v
    for k, v in _chance(m, ks).items():
      out[f"{name}/chance_R@{k}"] = v
  return out
