"""Bag-of-words text encoder: the mean (or TF-IDF-weighted mean) of token embeddings, the
order-free baseline (fastText, Joulin et al. 2017; TF-IDF, Sparck Jones 1972)."""

from typing import Any, Iterable, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from mmjax.models.hooks import feature_hook
from mmjax.models.pooling import masked_mean

WEIGHTINGS = ("mean", "tfidf")


def idf_from_corpus(token_lists: Iterable[Sequence[int]], vocab_size: int,
                    pad_id: int = 0) -> np.ndarray:
  """Smoothed inverse document frequency [vocab_size] float32 of a tokenised corpus:
  idf(w) = log((1 + n_docs) / (1 + df(w))) + 1 (scikit-learn's default), so unseen words get the
  largest weight and no weight is zero. `pad_id` occurrences are not counted."""
  df = np.zeros(vocab_size, np.int64)
  n_docs = 0
  for tokens in token_lists:
    ids = np.unique(np.asarray(tokens, np.int64))
    if ids.size and (ids[0] < 0 or ids[-1] >= vocab_size):
      raise ValueError(f"token id {ids[0] if ids[0] < 0 else ids[-1]} is outside the vocabulary "
                       f"[0, {vocab_size}).")
    df[ids[ids != pad_id]] += 1
    n_docs += 1
  return (np.log((1.0 + n_docs) / (1.0 + df)) + 1.0).astype(np.float32)


class EmbeddingBag(nn.Module):
  """tokens [batch, length] int -> (pooled [batch, width], tokens [batch, length, width]).

  weighting "mean": pooled = mean of the embeddings of the non-padding tokens.
  weighting "tfidf": pooled = sum over distinct words w of tf(w) * idf(w) * E[w], with
  tf(w) = count of w / number of non-padding tokens (so a constant idf gives the mean).
  idf: a tuple of vocab_size floats (e.g. `tuple(idf_from_corpus(...))`), or None to read it
  from the non-trainable variable `constants/idf` (initialised to ones: set it from the training
  corpus with `variables["constants"]["idf"] = idf_from_corpus(...)`).
  `tokens` are the per-token embeddings, zero at padding.
  """
  vocab_size: int = 8192
  width: int = 256
  weighting: str = "mean"
  idf: Optional[tuple] = None
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens, train: bool = False):
    if self.weighting not in WEIGHTINGS:
      raise ValueError(f"weighting={self.weighting!r}; valid: {', '.join(WEIGHTINGS)}.")
    embed = self.param("token_embedding", nn.initializers.normal(0.02),
                       (self.vocab_size, self.width), self.param_dtype)
    mask = (tokens != self.pad_id).astype(jnp.float32)
    x = feature_hook(self, "token_embeddings", jnp.take(embed, tokens, axis=0).astype(self.dtype))
    x = x * mask[..., None].astype(self.dtype)
    # Summing a word's idf-weighted embedding at each of its positions gives count(w) * idf(w) *
    # E[w]; dividing by the length makes that tf(w) * idf(w) * E[w].
    idf = jnp.take(self._idf(), tokens, axis=0) if self.weighting == "tfidf" else None
    return masked_mean(x, mask, weights=idf), x

  def _idf(self):
    if self.idf is not None:
      if len(self.idf) != self.vocab_size:
        raise ValueError(f"idf has {len(self.idf)} entries; it needs one per word "
                         f"(vocab_size={self.vocab_size}).")
      return jnp.asarray(self.idf, jnp.float32)
    idf = self.variable("constants", "idf", jnp.ones, (self.vocab_size,), jnp.float32).value
    if idf.shape != (self.vocab_size,):
      raise ValueError(f"constants/idf has shape {idf.shape}; expected ({self.vocab_size},).")
    return idf.astype(jnp.float32)
