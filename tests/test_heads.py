"""Classification / regression heads and losses, the caption loss, and the caption decoders:
cached decoding equals teacher forcing, causality, encoder padding, gradients, bfloat16."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.losses.captioning import caption_loss, shift_right
from mmjax.losses.classification import accuracy, mse, sigmoid_cross_entropy, softmax_cross_entropy
from mmjax.models import CAPTION_DECODERS, HEADS
from mmjax.registry import ConfigError


# Compiling dominates these tiny tests on XLA:CPU; LLVM at -O0 halves it and changes results
# only by float rounding.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def random_variables(model, *args, seed=0, std=0.3):
  """`model.init`'s variables filled with N(0, std) values: the real structure and dtypes, without
  compiling every initialiser (seconds per model on a busy CPU)."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), *args)
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: jnp.asarray(std * rng.standard_normal(s.shape), s.dtype), shapes)


def log_softmax_np(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


# --- heads --------------------------------------------------------------------------------------

def test_classification_head_dropout_and_gradients():
  head = HEADS.build("classification", num_classes=5, hidden=(16, 16), dropout=0.5)
  x = jax.random.normal(jax.random.key(0), (4, 8))
  labels = jnp.array([0, 1, 2, 4])

  @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
  def run(key):
    variables = head.init(key, x)  # the real initialisers, once
    # rbg keys: XLA:CPU compiles threefry bits slowly, and the head does not care which.
    drop = lambda k: head.apply(variables, x, train=True,
                                rngs={"dropout": jax.random.key(k, impl="rbg")})
    grads = jax.grad(lambda p: softmax_cross_entropy(head.apply({"params": p}, x), labels))(
        variables["params"])
    return head.apply(variables, x), head.apply(variables, x), drop(2), drop(3), grads
  logits, again, drop1, drop2, grads = run(jax.random.key(1, impl="rbg"))
  assert logits.shape == (4, 5) and logits.dtype == jnp.float32
  np.testing.assert_array_equal(logits, again)  # eval is deterministic
  assert not np.allclose(drop1, logits) and not np.allclose(drop1, drop2)
  for g in jax.tree.leaves(grads):
    assert np.isfinite(g).all() and np.abs(g).max() > 0


def test_linear_regression_head_is_x_kernel_plus_bias():
  head = HEADS.build("regression", num_targets=3)
  x = jax.random.normal(jax.random.key(0), (4, 8))
  variables = random_variables(head, x)
  p = variables["params"]["out"]
  np.testing.assert_allclose(head.apply(variables, x), x @ p["kernel"] + p["bias"], atol=1e-5)


def test_heads_in_bfloat16_agree_with_float32():
  head = HEADS.build("classification", num_classes=7, hidden=(32,))
  x = jax.random.normal(jax.random.key(0), (4, 16))
  variables = random_variables(head, x)
  both = lambda v: (head.apply(v, x), head.clone(dtype=jnp.bfloat16).apply(v, x))
  f32, bf16 = jax.jit(both, compiler_options=FAST_COMPILE)(variables)
  assert bf16.dtype == jnp.float32
  np.testing.assert_allclose(bf16, f32, atol=0.03 * float(jnp.abs(f32).max()))


def test_head_errors_name_the_problem():
  with pytest.raises(ValueError, match=r"pooled features \[batch, dim\]"):
    HEADS.build("classification", num_classes=3).init(jax.random.key(0), jnp.ones((2, 4, 8)))
  with pytest.raises(ConfigError, match="num_classes"):
    HEADS.build("classification", num_class=3)


# --- losses -------------------------------------------------------------------------------------

@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_softmax_cross_entropy_matches_formula(smoothing):
  logits = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32) * 3
  labels = np.array([0, 4, 2, 2, 1, 3])
  q = (1 - smoothing) * np.eye(5)[labels] + smoothing / 5
  want = -(q * log_softmax_np(logits)).sum(-1).mean()
  np.testing.assert_allclose(softmax_cross_entropy(logits, labels, smoothing), want, rtol=1e-5)


def test_sigmoid_cross_entropy_matches_formula_and_is_stable():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(4, 6)).astype(np.float32) * 3
  labels = (rng.random((4, 6)) < 0.4).astype(np.float32)
  p = 1 / (1 + np.exp(-logits))
  want = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()
  np.testing.assert_allclose(sigmoid_cross_entropy(logits, labels), want, rtol=1e-5)
  confident = sigmoid_cross_entropy(jnp.array([[200.0, -200.0]]), jnp.array([[1.0, 0.0]]))
  assert float(confident) == pytest.approx(0.0, abs=1e-6)
  with pytest.raises(ValueError, match="multi-hot"):
    sigmoid_cross_entropy(logits, labels[:, 0])


def test_mse_and_accuracy():
  pred, target = np.array([[1.0, 2.0], [0.0, -1.0]]), np.array([[0.0, 2.0], [2.0, 1.0]])
  np.testing.assert_allclose(mse(pred, target), ((pred - target) ** 2).mean(), rtol=1e-6)
  logits = jnp.array([[0.1, 2.0, 0.3], [5.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
  assert float(accuracy(logits, jnp.array([1, 0, 0]))) == pytest.approx(2 / 3)
  with pytest.raises(ValueError, match="label_smoothing=1.0"):
    softmax_cross_entropy(logits, jnp.array([1, 0, 0]), label_smoothing=1.0)


def test_caption_loss_ignores_padding():
  rng = np.random.default_rng(2)
  logits = rng.normal(size=(2, 5, 7)).astype(np.float32)
  targets = rng.integers(0, 7, (2, 5))
  mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
  nll = -np.take_along_axis(log_softmax_np(logits), targets[..., None], -1)[..., 0]
  loss = caption_loss(logits, targets, mask)
  np.testing.assert_allclose(loss, nll[mask].mean(), rtol=1e-5)
  # Anything at padded positions is irrelevant.
  logits2, targets2 = logits.copy(), targets.copy()
  logits2[0, 3:] = 50 * rng.normal(size=(2, 7))
  targets2[0, 3:] = 6 - targets2[0, 3:]
  np.testing.assert_allclose(caption_loss(logits2, targets2, mask), loss, rtol=1e-6)
  # With smoothing it is the classification loss over the real tokens.
  np.testing.assert_allclose(caption_loss(logits, targets, mask, 0.1),
                             softmax_cross_entropy(logits[mask], targets[mask], 0.1), rtol=1e-5)


def test_shift_right_prepends_bos():
  np.testing.assert_array_equal(shift_right(jnp.array([[5, 6, 2, 0]]), 1), [[1, 5, 6, 2]])


# --- caption decoders ---------------------------------------------------------------------------

VOCAB, LEN = 11, 6
DECODERS = {
    "transformer": dict(vocab_size=VOCAB, max_len=LEN, width=16, depth=2, num_heads=2,
                        mlp_dim=32),
    "lstm": dict(vocab_size=VOCAB, embed_dim=8, hidden=16, image_as="input"),
}


@pytest.fixture(scope="module", params=sorted(DECODERS))
def decoder_run(request):
  """Everything the decoder tests check, for one decoder, in one compiled function."""
  name = request.param
  model = CAPTION_DECODERS.build(name, **DECODERS[name])
  k1, k2 = jax.random.split(jax.random.key(0))
  k3 = jax.random.key(3, impl="rbg")  # dropout masks; threefry doubles the compile time
  enc = jax.random.normal(k1, (3, 5, 12))
  mask = jnp.arange(5)[None] < jnp.array([[5], [3], [1]])
  tokens = jax.random.randint(k2, (3, LEN), 0, VOCAB)
  variables = random_variables(model, tokens, enc, mask)
  # The other way to condition the LSTM, checked alongside.
  variants = {"": (model, variables)}
  if name == "lstm":
    state_model = model.clone(image_as="state")
    variants["state_"] = (state_model, random_variables(state_model, tokens, enc, mask, seed=1))

  def incremental(m, v):
    def body(state, tokens_t):
      logits, state = m.apply(v, tokens_t, state, method="step")
      return state, logits
    _, logits = jax.lax.scan(body, m.apply(v, enc, mask, method="init_state"), tokens.T)
    return logits.transpose(1, 0, 2)

  @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
  def run(vs):
    # One batched forward: as given; new values in the padded encoder slots; a changed last
    # input token.
    cat = lambda *xs: jnp.concatenate(xs)
    out = model.apply(vs[""], cat(tokens, tokens, tokens.at[:, -1].add(1) % VOCAB),
                      cat(enc, jnp.where(mask[..., None], enc, 100.0), enc), cat(mask, mask, mask))
    r = dict(zip(["full", "repadded", "last_changed"], jnp.split(out, 3)))
    if name == "transformer":  # a pooled vector is one encoder token
      memory = lambda e: model.apply(vs[""], e, None, method="init_state")["cross"]
      r["pooled"], r["one_token"] = memory(enc[:, 0]), memory(enc[:, :1])
    else:  # the LSTM pools tokens by their masked mean
      pooled = (mask[..., None] * enc).sum(1) / mask.sum(1)[:, None]
      r["pooled"], r["one_token"] = model.apply(vs[""], tokens, pooled), r["full"]
    for prefix, (m, _) in variants.items():
      r[prefix + "full_again"] = m.apply(vs[prefix], tokens, enc, mask)
      r[prefix + "incremental"] = incremental(m, vs[prefix])
    # bfloat16 teacher forcing (the training path); the cached path differs only in dtypes.
    r["bf16_full"] = model.clone(dtype=jnp.bfloat16).apply(vs[""], tokens, enc, mask)

    def loss(params):  # with dropout, so its output is checked too
      logits = model.clone(dropout=0.5).apply({"params": params}, tokens, enc, mask, train=True,
                                              rngs={"dropout": k3})
      return caption_loss(logits, tokens, tokens > 0), logits
    r["grads"], r["dropout"] = jax.grad(loss, has_aux=True)(vs[""]["params"])
    return r
  return name, jax.tree.map(np.asarray, run({k: v for k, (_, v) in variants.items()}))


def test_decoder_logits_shape(decoder_run):
  _, r = decoder_run
  assert r["full"].shape == (3, LEN, VOCAB) and r["full"].dtype == np.float32
  assert r["full"].std() > 0.1  # the random model is not degenerate


def test_cached_decoding_equals_teacher_forcing(decoder_run):
  _, r = decoder_run
  np.testing.assert_allclose(r["full_again"], r["full"], atol=1e-5)  # batching changes nothing
  np.testing.assert_allclose(r["incremental"], r["full"], atol=1e-4, rtol=1e-4)
  if "state_incremental" in r:  # LSTM with the image as its initial state
    np.testing.assert_allclose(r["state_incremental"], r["state_full_again"], atol=1e-4,
                               rtol=1e-4)
    assert not np.allclose(r["state_full_again"], r["full"])


def test_decoder_is_causal(decoder_run):
  _, r = decoder_run
  np.testing.assert_allclose(r["last_changed"][:, :-1], r["full"][:, :-1], atol=1e-5)
  assert not np.allclose(r["last_changed"][:, -1], r["full"][:, -1])


def test_encoder_padding_is_ignored(decoder_run):
  _, r = decoder_run
  np.testing.assert_allclose(r["repadded"], r["full"], atol=1e-5)


def test_pooled_features_are_accepted(decoder_run):
  _, r = decoder_run
  for pooled, tokens in zip(jax.tree.leaves(r["pooled"]), jax.tree.leaves(r["one_token"])):
    np.testing.assert_allclose(pooled, tokens, atol=1e-5)


def test_decoder_gradients_are_finite_and_reach_every_parameter(decoder_run):
  _, r = decoder_run
  for path, g in jax.tree_util.tree_leaves_with_path(r["grads"]):
    assert np.isfinite(g).all() and np.abs(g).max() > 0, jax.tree_util.keystr(path)


def test_decoder_bfloat16_agrees_with_float32(decoder_run):
  _, r = decoder_run
  tol = 0.05 * np.abs(r["full"]).max()
  np.testing.assert_allclose(r["bf16_full"], r["full"], atol=tol)
  assert np.abs(r["bf16_full"] - r["full"]).max() > 0  # bfloat16 really was used


def test_decoder_dropout_only_in_training(decoder_run):
  _, r = decoder_run
  assert np.isfinite(r["dropout"]).all() and not np.allclose(r["dropout"], r["full"])


def test_decoder_errors_name_the_problem():
  enc, tokens = jnp.ones((2, 3, 8)), jnp.ones((2, 4), jnp.int32)
  with pytest.raises(ValueError, match="image_as='first'; valid: input, state"):
    jax.eval_shape(CAPTION_DECODERS.build("lstm", image_as="first").init, jax.random.key(0),
                   tokens, enc)
  small = CAPTION_DECODERS.build("transformer", vocab_size=9, max_len=3, width=8, depth=1,
                                 num_heads=2, mlp_dim=8)
  with pytest.raises(ValueError, match="caption length 4 exceeds max_len 3"):
    jax.eval_shape(small.init, jax.random.key(0), tokens, enc)
  with pytest.raises(ValueError, match=r"valid: \[batch, n, dim\] tokens"):
    jax.eval_shape(small.init, jax.random.key(0), tokens[:, :3], jnp.ones((2, 3, 4, 8)))
  with pytest.raises(ValueError, match="not divisible by num_heads"):
    jax.eval_shape(small.clone(num_heads=3).init, jax.random.key(0), tokens[:, :3], enc)
