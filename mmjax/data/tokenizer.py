"""A word-level tokenizer with a vocabulary saved as JSON (reused on resume and for eval)."""

import json
import os
import re
import tempfile

import numpy as np

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


class WordTokenizer:
  """Lower-cased whitespace words; ids 0..3 are <pad>, <bos>, <eos>, <unk>."""

  def __init__(self, words):
    self.itos = list(SPECIALS) + [w for w in words if w not in SPECIALS]
    self.stoi = {w: i for i, w in enumerate(self.itos)}
    self.pad_id, self.bos_id, self.eos_id, self.unk_id = range(4)

  @property
  def vocab_size(self) -> int:
    return len(self.itos)

  @staticmethod
  def words(text: str) -> list:
    return re.findall(r"[a-z0-9']+", text.lower())

  @classmethod
  def build(cls, texts, min_count: int = 1):
    counts = {}
    for t in texts:
      for w in cls.words(t):
        counts[w] = counts.get(w, 0) + 1
    return cls(sorted(w for w, c in counts.items() if c >= min_count))

  def encode(self, text: str, max_len: int, bos: bool = False) -> np.ndarray:
    """-> int32 [max_len]: [<bos>] words <eos> <pad>...; too-long texts keep <eos> last."""
    ids = [self.stoi.get(w, self.unk_id) for w in self.words(text)]
    ids = ([self.bos_id] if bos else []) + ids[:max_len - 1 - int(bos)] + [self.eos_id]
    return np.asarray(ids + [self.pad_id] * (max_len - len(ids)), np.int32)

  def encode_batch(self, texts, max_len: int, bos: bool = False) -> np.ndarray:
    return np.stack([self.encode(t, max_len, bos) for t in texts])

  def decode(self, ids) -> str:
    out = []
    for i in np.asarray(ids).tolist():
      if i == self.eos_id:
        break
      if i not in (self.pad_id, self.bos_id):
        out.append(self.itos[i])
    return " ".join(out)

  def save(self, path: str):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # A temporary file of its own, renamed over `path`: a run killed mid-write leaves no torn
    # file to resume from, and the processes of a multi-host run, which all build and save the
    # same vocabulary into the shared workdir, never write into one another's file.
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "w") as f:
      json.dump({"type": "word", "itos": self.itos}, f)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the vocabulary from others sharing the run
    os.replace(tmp, path)

  @classmethod
  def load(cls, path: str):
    with open(path) as f:
      itos = json.load(f)["itos"]
    return cls(itos[len(SPECIALS):])

  @classmethod
  def load_or_build(cls, path: str, texts):
    """The saved vocabulary when the workdir has one (resume, eval), else built and saved."""
    if os.path.exists(path):
      return cls.load(path)
    tok = cls.build(texts)
    tok.save(path)
    return tok
