"""Bag-of-words and GRU/LSTM text encoders, and the BERT options of TextTransformer: shapes,
padding invariance, TF-IDF maths, gradients, bfloat16 agreement, config errors."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models import TEXT_ENCODERS, TextTransformer
from mmjax.models.text.bag_of_words import EmbeddingBag, idf_from_corpus
from mmjax.models.text.rnn import RNNEncoder
from mmjax.registry import ConfigError

VOCAB = 20
ENCODERS = {
    "bag_mean": ("bag_of_words", dict(width=8)),
    "bag_tfidf": ("bag_of_words", dict(width=8, weighting="tfidf",
                                       idf=tuple(np.linspace(0.5, 3.0, VOCAB)))),
    "gru": ("gru", dict(width=8, hidden=6, num_layers=2)),
    "lstm": ("lstm", dict(width=8, hidden=6)),
    "gru_bi": ("gru", dict(width=8, hidden=6, num_layers=2, bidirectional=True)),
    "lstm_bi": ("lstm", dict(width=8, hidden=6, bidirectional=True)),
    "bert": ("transformer", dict(max_len=12, width=16, depth=1, num_heads=2, mlp_dim=32,
                                 causal=False, pool="mean", norm_position="post", ln_eps=1e-12,
                                 type_vocab_size=2, embed_norm=True)),
}
# A text of 3 tokens and one of 6 (no padding) in a [2, 6] batch; the same with 4 more padding.
SHORT = jnp.array([[3, 4, 5, 0, 0, 0], [7, 1, 9, 9, 2, 6]], jnp.int32)
LONG = jnp.pad(SHORT, ((0, 0), (0, 4)))
LENGTHS = np.array([3, 6])


def build(key, **over):
  name, kw = ENCODERS[key]
  return TEXT_ENCODERS.build(name, vocab_size=VOCAB, **{**kw, **over})


def random_variables(enc, tokens, seed=0):
  """Variables of `enc` drawn with numpy: compiling flax's random initialisers costs seconds
  per model on CPU, a numpy draw nothing. LayerNorm scales are drawn around 1."""
  shapes = jax.eval_shape(enc.init, jax.random.key(0), tokens)
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = jax.tree_util.keystr(path)
    if "constants" in name:
      return jnp.ones(leaf.shape, leaf.dtype)
    base = 1.0 if name.endswith("['scale']") else 0.0
    return jnp.asarray(base + 0.3 * rng.standard_normal(leaf.shape), leaf.dtype)

  return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.mark.parametrize("key", sorted(ENCODERS))
def test_padding_never_changes_the_outputs(key):
  enc = build(key)
  variables = random_variables(enc, LONG)
  apply = jax.jit(enc.apply)
  (p1, t1), (p2, t2) = apply(variables, SHORT), apply(variables, LONG)
  dim = {"gru": 6, "lstm": 6, "gru_bi": 12, "lstm_bi": 12}.get(key, 8 if "bag" in key else 16)
  assert p1.shape == (2, dim) and t1.shape == (2, 6, dim) and t2.shape == (2, 10, dim)
  assert not np.allclose(p1[0], p1[1], atol=1e-3), "different texts give different outputs"
  # Row 1 of SHORT has no padding at all: appending padding to it must change nothing either.
  np.testing.assert_allclose(p1, p2, atol=1e-5)
  for row, n in enumerate(LENGTHS):
    np.testing.assert_allclose(t1[row, :n], t2[row, :n], atol=1e-5)
    if key != "bert":
      assert not np.any(t2[row, n:]), "bag/RNN token outputs are zero at padding"


def test_backward_direction_starts_at_the_last_real_token():
  # With the backward cell's weights set to the forward cell's, the backward final state of a
  # padded text must equal the forward final state of the reversed text.
  enc = build("gru_bi", num_layers=1)
  params = random_variables(enc, LONG)["params"]
  params = dict(params, layer0_bwd=params["layer0_fwd"])
  apply = jax.jit(enc.apply)
  pooled, _ = apply({"params": params}, LONG)
  rev = np.zeros_like(LONG)
  for row, n in enumerate(LENGTHS):
    rev[row, :n] = LONG[row, :n][::-1]
  rev_pooled, _ = apply({"params": params}, jnp.asarray(rev))
  np.testing.assert_allclose(pooled[:, 6:], rev_pooled[:, :6], atol=1e-6)
  assert not np.allclose(pooled[:, 6:], pooled[:, :6], atol=1e-3)


def test_mean_bag_is_the_masked_mean_of_embeddings():
  enc = build("bag_mean")
  variables = random_variables(enc, SHORT)
  pooled, tokens = enc.apply(variables, SHORT)
  table = np.asarray(variables["params"]["token_embedding"])
  for row, n in enumerate(LENGTHS):
    ids = np.asarray(SHORT[row, :n])
    np.testing.assert_allclose(pooled[row], table[ids].mean(0), atol=1e-6)
    np.testing.assert_allclose(tokens[row, :n], table[ids], atol=1e-7)


def test_idf_from_corpus_matches_the_formula():
  corpus = [[1, 2, 2, 0], [2, 3], [1, 5, 5, 5]]
  idf = idf_from_corpus(corpus, vocab_size=7, pad_id=0)
  for word in range(1, 7):
    df = sum(word in doc for doc in corpus)
    assert idf[word] == pytest.approx(np.log(4 / (1 + df)) + 1, rel=1e-6)
  assert idf[0] == pytest.approx(np.log(4) + 1), "padding is never counted as a document word"
  with pytest.raises(ValueError, match="token id 9 is outside the vocabulary"):
    idf_from_corpus([[1, 9]], vocab_size=7)


def test_tfidf_pooling_equals_a_hand_computation():
  corpus = [[3, 4, 5], [7, 1, 9, 9, 2], [3, 3, 8], [4, 11, 12, 13]]
  idf = idf_from_corpus(corpus, VOCAB)
  tokens = jnp.array([[3, 3, 4, 9, 0, 0], [7, 1, 9, 9, 2, 0]], jnp.int32)
  by_tuple = build("bag_tfidf", idf=tuple(float(v) for v in idf))
  variables = random_variables(by_tuple, tokens)
  pooled, _ = by_tuple.apply(variables, tokens)
  table = np.asarray(variables["params"]["token_embedding"], np.float64)
  for row in range(2):
    words = [int(t) for t in tokens[row] if t != 0]
    counts = collections.Counter(words)
    want = sum(counts[w] / len(words) * idf[w] * table[w] for w in counts)
    np.testing.assert_allclose(pooled[row], want, rtol=1e-5, atol=1e-7)
  # The same idf given as the non-trainable "constants" variable gives the same result.
  by_var = build("bag_tfidf", idf=None)
  shapes = jax.eval_shape(by_var.init, jax.random.key(0), tokens)
  assert shapes["constants"]["idf"].shape == (VOCAB,) and "idf" not in shapes["params"]
  with_idf = lambda v: {"params": variables["params"], "constants": {"idf": jnp.asarray(v)}}
  pooled_var, _ = by_var.apply(with_idf(idf), tokens)
  np.testing.assert_allclose(pooled_var, pooled, atol=1e-7)
  np.testing.assert_allclose(by_var.apply(with_idf(2 * idf), tokens)[0], 2 * pooled, rtol=1e-6)


@pytest.mark.parametrize("key", ["bag_tfidf", "gru", "lstm_bi", "bert"])
def test_gradients_are_finite_and_reach_every_parameter(key):
  enc = build(key)
  variables = random_variables(enc, LONG, seed=1)

  def loss(params):
    pooled, tokens = enc.apply({**variables, "params": params}, LONG)
    return jnp.sum(pooled ** 2) + jnp.sum(jnp.sin(tokens))

  grads = jax.jit(jax.grad(loss))(variables["params"])
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    name = jax.tree_util.keystr(path)
    assert np.all(np.isfinite(g)), name
    assert np.any(g != 0), f"{name} gets no gradient"
  emb = np.asarray(grads["token_embedding"])
  unused = sorted(set(range(VOCAB)) - set(np.asarray(LONG).ravel().tolist()))
  assert not np.any(emb[unused]), "only the embeddings of words present get gradient"
  if key != "bert":  # BERT's padding is masked in attention but still gets its own output
    assert not np.any(emb[0]), "the padding embedding gets no gradient"


@pytest.mark.parametrize("key", ["bag_tfidf", "lstm_bi"])
def test_bfloat16_agrees_with_float32(key):
  f32, b16 = build(key), build(key, dtype=jnp.bfloat16)
  variables = random_variables(f32, LONG, seed=2)
  p32, t32 = jax.jit(f32.apply)(variables, LONG)
  p16, t16 = jax.jit(b16.apply)(variables, LONG)
  assert p16.dtype == jnp.bfloat16 and t16.dtype == jnp.bfloat16
  scale = float(jnp.abs(p32).max())
  np.testing.assert_allclose(np.asarray(p16, np.float32), p32, atol=0.03 * scale)
  np.testing.assert_allclose(np.asarray(t16, np.float32), t32,
                             atol=0.03 * float(jnp.abs(t32).max()))


def test_default_text_transformer_param_tree_is_unchanged():
  enc = TextTransformer(vocab_size=VOCAB, max_len=8, width=16, depth=1, num_heads=2, mlp_dim=32)
  shapes = jax.eval_shape(enc.init, jax.random.key(0), jnp.zeros((1, 8), jnp.int32))
  got = {"/".join(k.key for k in path): leaf.shape
         for path, leaf in jax.tree_util.tree_leaves_with_path(shapes)}
  block = "params/encoder/block0/"
  want = {"params/token_embedding": (VOCAB, 16), "params/pos_embedding": (8, 16),
          block + "attn/qkv/kernel": (16, 48), block + "attn/qkv/bias": (48,),
          block + "attn/out/kernel": (16, 16), block + "attn/out/bias": (16,),
          block + "mlp/fc1/kernel": (16, 32), block + "mlp/fc1/bias": (32,),
          block + "mlp/fc2/kernel": (32, 16), block + "mlp/fc2/bias": (16,),
          **{f"{pre}{ln}/{p}": (16,) for pre, ln in [(block, "ln1"), (block, "ln2"),
                                                    ("params/", "ln_final")]
             for p in ("scale", "bias")}}
  assert got == want


def test_post_ln_block_output_is_normalised_and_token_types_matter():
  enc = build("bert")
  variables = random_variables(enc, SHORT, seed=3)
  apply = jax.jit(enc.apply)
  p0, tokens = apply(variables, SHORT, token_types=jnp.zeros_like(SHORT))
  # Post-LN ends in the last block's LayerNorm: undoing its affine part leaves zero-mean,
  # unit-variance tokens.
  ln = variables["params"]["encoder"]["block0"]["ln2"]
  z = (tokens - ln["bias"]) / ln["scale"]
  np.testing.assert_allclose(z.mean(-1), 0.0, atol=1e-4)
  np.testing.assert_allclose(z.var(-1), 1.0, atol=1e-3)
  assert "ln_final" not in variables["params"] and "embed_ln" in variables["params"]
  p1, _ = apply(variables, SHORT, token_types=jnp.ones_like(SHORT))
  assert not np.allclose(p0, p1, atol=1e-4)


def test_bad_options_are_rejected_with_the_valid_choices():
  t = jnp.ones((1, 4), jnp.int32)
  # eval_shape traces the model (where the checks run) without computing anything.
  init = lambda model, **kw: jax.eval_shape(model.init, jax.random.key(0), t, **kw)
  with pytest.raises(ValueError, match="weighting='max'; valid: mean, tfidf"):
    init(EmbeddingBag(vocab_size=VOCAB, weighting="max"))
  with pytest.raises(ValueError, match="idf has 3 entries"):
    init(EmbeddingBag(vocab_size=VOCAB, weighting="tfidf", idf=(1.0, 2.0, 3.0)))
  with pytest.raises(ValueError, match="cell='rnn'; valid: gru, lstm"):
    init(RNNEncoder(vocab_size=VOCAB, cell="rnn"))
  with pytest.raises(ValueError, match="norm_position='middle'; valid: pre, post"):
    init(TextTransformer(vocab_size=VOCAB, norm_position="middle"))
  with pytest.raises(ValueError, match="type_vocab_size=0"):
    init(TextTransformer(vocab_size=VOCAB, depth=1), token_types=t)
  with pytest.raises(ConfigError, match="'gru' has no option 'hiden'.*Did you mean \"hidden\""):
    TEXT_ENCODERS.build("gru", hiden=4)
  assert TEXT_ENCODERS.build("lstm").cell == "lstm" and TEXT_ENCODERS.build("gru").cell == "gru"
