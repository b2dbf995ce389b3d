"""Fusion variants: the shared interface, each method's defining invariant, padding, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models import FUSIONS
from mmjax.models.fusion import gradient_reversal
from mmjax.models.fusion.tensor import append_one, outer_product

BATCH = 2
WIDTHS = (6, 8, 10)       # pooled d_i
TOKENS = (3, 4, 5)        # n_i
TOKEN_WIDTHS = (6, 5, 7)  # e_i
ATTN = dict(num_heads=2, mlp_dim=16)

# (registry name, tiny kwargs). Every registered fusion appears at least once.
CASES = [
    ("concat_late", dict(dim=8)),
    ("concat_early", dict(dim=8, depth=1, **ATTN)),
    ("sum", dict(dim=8)),
    ("weighted_sum", dict(dim=8)),
    ("weighted_sum", dict(dim=8, learned=True)),
    ("product", dict(dim=8)),
    ("gated", dict(dim=8)),
    ("film", dict(dim=8)),
    ("tensor", dict(dim=8)),
    ("low_rank_tensor", dict(dim=8, rank=3)),
    ("cross_attention", dict(dim=8, **ATTN)),
    ("cross_attention", dict(dim=8, bidirectional=True, **ATTN)),
    ("bottleneck", dict(dim=8, depth=1, fusion_layer=0, num_bottlenecks=2, pool="cls", **ATTN)),
    ("adversarial", dict(dim=8)),
    ("multiplicative", dict(dim=8)),  # formulas and modes: test_multiplicative_fusion.py
]
CASE_IDS = [name + "".join(f"-{k}" for k in ("learned", "bidirectional") if kw.get(k))
            for name, kw in CASES]
TOKEN_LEVEL = ("concat_early", "cross_attention", "bottleneck")
# Methods limited to two modalities, and the error they give for three.
TWO_ONLY = {"film": "film fuses exactly 2 modalities",
            "weighted_sum": "weighted_sum fuses exactly 2 modalities",
            "multiplicative": "multiplicative fuses exactly 2 modalities"}


def jit(fn):
  # Tiny shapes: compiling dominates the test time, and LLVM's optimisation passes are most of
  # it. They do not change float semantics (no fast-math), so skip them.
  return jax.jit(fn, compiler_options={"xla_backend_optimization_level": 0,
                                       "xla_llvm_disable_expensive_passes": True})


def normal(shape, seed=0):
  # numpy, not jax.random: each eager jax.random call compiles the PRNG for its shape.
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def make_inputs(count, seed=0):
  """pooled, tokens and masks for `count` modalities; sample 1 has padding in every modality."""
  pooled = [normal((BATCH, WIDTHS[i]), seed + i) for i in range(count)]
  tokens = [normal((BATCH, TOKENS[i], TOKEN_WIDTHS[i]), seed + 10 + i) for i in range(count)]
  masks = [jnp.asarray(np.arange(n)[None, :] < np.array([[n], [n - 1]])) for n in TOKENS[:count]]
  return pooled, tokens, masks


def random_params(model, *inputs, seed=0):
  """Parameters of the shapes `model.init` makes, drawn with numpy (fan-in scaled; norm scales
  near 1). Tracing init with eval_shape checks it without compiling the PRNG."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), *inputs)["params"]
  rng = np.random.default_rng(seed)

  def draw(path, s):
    if s.ndim >= 2:
      return jnp.asarray(rng.normal(size=s.shape) / np.sqrt(s.shape[-2]), s.dtype)
    base = 1.0 if jax.tree_util.keystr(path).endswith("'scale']") else 0.0
    return jnp.asarray(base + 0.1 * rng.normal(size=s.shape), s.dtype)
  return jax.tree_util.tree_map_with_path(draw, shapes)


def check_gradients(model, count):
  """Output shape/finiteness and finite, non-zero gradients for every parameter and for each
  modality's input (tokens for token-level fusions, pooled for the rest). Returns
  (params, inputs, float32 output)."""
  pooled, tokens, masks = make_inputs(count)
  params = random_params(model, pooled, tokens, masks)
  token_level = model.__class__ in {FUSIONS.get(n) for n in TOKEN_LEVEL}

  def loss(params, features):
    p, t = (pooled, features) if token_level else (features, tokens)
    out, state = model.apply({"params": params}, p, t, masks, mutable=["losses"])
    # A fixed random projection, so no output normalisation can make the gradient vanish.
    r = normal(out.shape, seed=1)
    return jnp.sum(out * r) + sum(jax.tree.leaves(state.get("losses", {}))), out

  features = tokens if token_level else pooled
  (_, out), grads = jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(params, features)
  assert out.ndim == 2 and out.shape[0] == BATCH and out.dtype == jnp.float32
  assert np.all(np.isfinite(out))
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    name = jax.tree_util.keystr(path)
    assert np.all(np.isfinite(g)), name
    assert np.abs(g).max() > 0, f"zero gradient for {name}"
  return params, (pooled, tokens, masks), out


def test_every_registered_fusion_is_tested_and_named_as_registered():
  """A newly registered fusion fails here until CASES runs it. Each lives in
  mmjax/models/fusion/<name>.py as the class <Name>Fusion, so the registry name, the file and
  the class never tell different stories."""
  assert sorted({name for name, _ in CASES}) == sorted(FUSIONS.names())
  for name in FUSIONS.names():
    cls = FUSIONS.get(name)
    assert cls.__module__ == f"mmjax.models.fusion.{name}", (name, cls.__module__)
    assert cls.__name__.lower() == name.replace("_", "") + "fusion", (name, cls.__name__)


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_every_fusion_two_and_three_modalities_and_bfloat16(name, kwargs):
  model = FUSIONS.build(name, **kwargs)
  params, inputs, out = check_gradients(model, 2)
  assert out.shape == (BATCH, 8)

  three = make_inputs(3)
  if name in TWO_ONLY and not kwargs.get("learned"):
    with pytest.raises(ValueError, match=TWO_ONLY[name]):
      jax.eval_shape(model.init, jax.random.key(0), *three)
  elif name in TOKEN_LEVEL:
    # Compiled with three modalities in test_masked_padding_never_changes_the_output.
    variables = jax.eval_shape(model.init, jax.random.key(0), *three)
    assert jax.eval_shape(model.apply, variables, *three).shape == (BATCH, 8)
  else:
    assert check_gradients(model, 3)[2].shape == (BATCH, 8)

  # bfloat16 compute with the same float32 parameters agrees with float32 compute.
  low_model = FUSIONS.build(name, dtype=jnp.bfloat16, **kwargs)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(
      jax.eval_shape(low_model.init, jax.random.key(0), *inputs)))
  low = jit(low_model.apply)({"params": params}, *inputs)
  assert low.dtype == jnp.bfloat16
  scale = float(jnp.abs(out).max())
  np.testing.assert_allclose(low.astype(jnp.float32), out, atol=0.03 * scale, rtol=0.03)


def test_concat_late_without_dim_is_the_plain_concatenation():
  pooled, _, _ = make_inputs(3)
  model = FUSIONS.build("concat_late")
  assert not model.init(jax.random.key(0), pooled)
  np.testing.assert_array_equal(model.apply({}, pooled), jnp.concatenate(pooled, axis=-1))


@pytest.mark.parametrize("name", TOKEN_LEVEL)
def test_token_level_fusions_need_tokens(name):
  pooled, _, _ = make_inputs(2)
  with pytest.raises(ValueError, match=f"{name} fuses token sequences: pass tokens="):
    jax.eval_shape(FUSIONS.build(name, dim=8, **ATTN).init, jax.random.key(0), pooled)


def test_inconsistent_inputs_and_options_are_rejected_clearly():
  pooled, tokens, masks = make_inputs(3)
  cases = [
      ("sum", dict(dim=8), (pooled, tokens[:2]), "3 pooled features but 2 token arrays"),
      ("sum", dict(dim=8), (pooled[0],), "pooled must be a list or tuple"),
      ("sum", dict(dim=8), ([pooled[0], pooled[1][:1]],), "disagree on the batch size"),
      ("bottleneck", dict(dim=8, pool="max", **ATTN), (None, tokens), "pool='max'; valid: cls"),
      ("bottleneck", dict(dim=8, depth=2, fusion_layer=3, **ATTN), (None, tokens),
       r"fusion_layer=3 must lie in \[0, depth=2\]"),
      ("cross_attention", dict(dim=8, query_index=3, **ATTN), (None, tokens),
       "query_index=3; valid: 0, 1, 2"),
      ("cross_attention", dict(dim=8, **ATTN), (None, tokens[:1]), "at least 2 modalities"),
      ("concat_early", dict(dim=8, **ATTN), (None, tokens, [masks[0]] * 3),
       r"masks\[1\] must be \[batch, n_i\]"),
      ("adversarial", dict(dim=8, combine="max"), (pooled,), "combine='max'; valid: mean"),
      ("weighted_sum", dict(learned=True), (pooled,), "modality widths differ"),
  ]
  for name, kwargs, args, message in cases:
    with pytest.raises(ValueError, match=message):
      jax.eval_shape(FUSIONS.build(name, **kwargs).init, jax.random.key(0), *args)
  with pytest.raises(ValueError, match="Valid options: .*rank"):
    FUSIONS.build("low_rank_tensor", rnk=2)


def test_weighted_sum_alpha_one_is_modality_a_exactly():
  a, b = normal((2, BATCH, 8))
  for alpha, want in ((1.0, a), (0.0, b)):
    model = FUSIONS.build("weighted_sum", alpha=alpha)
    variables = model.init(jax.random.key(0), [a, b])
    assert not variables  # equal widths and project=False: no projection
    np.testing.assert_array_equal(model.apply(variables, [a, b]), want)
  out = FUSIONS.build("weighted_sum", alpha=0.25).apply({}, [a, b])
  np.testing.assert_allclose(out, 0.25 * a + 0.75 * b, rtol=1e-6)
  with pytest.raises(ValueError, match="alpha=1.5 must lie in"):
    FUSIONS.build("weighted_sum", alpha=1.5).apply({}, [a, b])


def test_learned_weighted_sum_is_convex():
  """Softmax weights sum to one: identical modalities fuse to themselves, whatever the weights."""
  x = normal((BATCH, 8))
  model = FUSIONS.build("weighted_sum", learned=True)
  variables = {"params": {"weight_logits": jnp.array([2.0, -1.0, 0.5])}}
  np.testing.assert_allclose(model.apply(variables, [x, x, x]), x, rtol=1e-6, atol=1e-6)


def test_low_rank_fusion_equals_tensor_fusion_with_the_full_weight():
  """LMF == TFN whose weight tensor is rebuilt from LMF's rank-1 factors (three modalities)."""
  pooled, _, _ = make_inputs(3)
  lmf = FUSIONS.build("low_rank_tensor", dim=4, rank=3)
  tfn = FUSIONS.build("tensor", dim=4)
  p = random_params(lmf, pooled)
  assert p["rank_weights"].shape == (3,) and p["factor2"].shape == (3, WIDTHS[2] + 1, 4)

  @jit
  def both(p, pooled):
    # W[a, b, c, o] = sum_r lambda_r f0[r, a, o] f1[r, b, o] f2[r, c, o]
    weight = jnp.einsum("r,rao,rbo,rco->abco", p["rank_weights"], p["factor0"], p["factor1"],
                        p["factor2"]).reshape(-1, 4)
    explicit = outer_product([append_one(x) for x in pooled]) @ weight + p["bias"]
    via_tfn = tfn.apply({"params": {"out": {"kernel": weight, "bias": p["bias"]}}}, pooled)
    return lmf.apply({"params": p}, pooled), explicit, via_tfn

  got, explicit, via_tfn = both(p, pooled)
  assert np.abs(got - p["bias"]).max() > 1e-2  # the multiplicative term is far above tolerance
  np.testing.assert_allclose(got, explicit, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(got, via_tfn, rtol=1e-4, atol=1e-5)


def pad_with_garbage(tokens, masks, extra=3, seed=7):
  tokens = [jnp.concatenate([t, 50 * normal((t.shape[0], extra, t.shape[2]), seed + i)], 1)
            for i, t in enumerate(tokens)]
  masks = [jnp.concatenate([m, jnp.zeros((m.shape[0], extra), bool)], 1) for m in masks]
  return tokens, masks


PADDING_CASES = [
    ("concat_early", dict(dim=8, depth=1, **ATTN)),
    ("cross_attention", dict(dim=8, query_index=1, **ATTN)),  # context: modalities 0 and 2
    ("bottleneck", dict(dim=8, depth=2, fusion_layer=1, num_bottlenecks=2, pool="mean", **ATTN)),
]


@pytest.mark.parametrize("name,kwargs", PADDING_CASES, ids=[n for n, _ in PADDING_CASES])
def test_masked_padding_never_changes_the_output(name, kwargs):
  """Three modalities, each already padded in sample 1; appending garbage tokens with a False
  mask changes nothing. The same garbage unmasked does change it, so the masks are what act."""
  _, tokens, masks = make_inputs(3)
  model = FUSIONS.build(name, **kwargs)
  params = random_params(model, None, tokens, masks)
  apply = jit(lambda t, m: model.apply({"params": params}, None, t, m))
  ref = apply(tokens, masks)
  assert ref.shape == (BATCH, 8)
  long_tokens, long_masks = pad_with_garbage(tokens, masks)
  np.testing.assert_allclose(apply(long_tokens, long_masks), ref, atol=1e-5)
  unmasked = [jnp.ones(m.shape, bool) for m in long_masks]
  assert np.abs(apply(long_tokens, unmasked) - ref).max() > 1e-3


def test_concat_early_masks_padding_out_of_attention_and_pooling():
  """Masking the last valid token of modality 0 equals dropping it from the input."""
  _, tokens, masks = make_inputs(2)
  model = FUSIONS.build("concat_early", dim=8, depth=1, **ATTN)
  params = random_params(model, None, tokens, masks)
  apply = jit(lambda t, m: model.apply({"params": params}, None, t, m))
  masks = [jnp.ones_like(m) for m in masks]
  hidden = [masks[0].at[:, -1].set(False), masks[1]]
  dropped = apply([tokens[0][:, :-1], tokens[1]], [masks[0][:, :-1], masks[1]])
  np.testing.assert_allclose(apply(tokens, hidden), dropped, atol=1e-5)
  assert np.abs(apply(tokens, masks) - dropped).max() > 1e-3


def test_gradient_reversal_flips_and_scales_the_gradient():
  x, c = normal((3, 4), seed=0), normal((3, 4), seed=1)
  np.testing.assert_array_equal(gradient_reversal(x, 0.5), x)
  for scale in (1.0, 0.5):
    g = jax.grad(lambda x: jnp.sum(gradient_reversal(x, scale) * c))(x)
    np.testing.assert_allclose(g, -scale * c, rtol=1e-6)
  # A traced scale (a schedule) works under jit and gets no gradient of its own.
  gx, gs = jit(jax.grad(lambda x, s: jnp.sum(gradient_reversal(x, s) * c), (0, 1)))(
      x, jnp.float32(2.0))
  np.testing.assert_allclose(gx, -2.0 * c, rtol=1e-6)
  assert float(gs) == 0.0


def test_adversarial_loss_is_sown_and_reversed_into_the_projections():
  pooled, _, _ = make_inputs(3)
  params = random_params(FUSIONS.build("adversarial", dim=8), pooled)

  def loss_and_grads(scale):
    model = FUSIONS.build("adversarial", dim=8, reversal_scale=scale)

    def adv_loss(params):
      _, state = model.apply({"params": params}, pooled, mutable=["losses"])
      (loss,) = state["losses"]["adversarial"]
      return loss
    return jit(jax.value_and_grad(adv_loss))(params)

  (loss, g1), (_, g2) = loss_and_grads(1.0), loss_and_grads(2.0)
  assert loss.dtype == jnp.float32 and loss.shape == () and 0 < float(loss) < 10
  # Without mutable=["losses"] nothing is returned but the fused features.
  assert FUSIONS.build("adversarial", dim=8).apply({"params": params}, pooled).shape == (BATCH, 8)
  # The discriminator learns from the loss as is; the projections get it reversed and scaled.
  np.testing.assert_allclose(g2["disc_out"]["kernel"], g1["disc_out"]["kernel"], rtol=1e-6)
  np.testing.assert_allclose(g2["proj0"]["kernel"], 2 * g1["proj0"]["kernel"], rtol=1e-5,
                             atol=1e-7)
  assert np.abs(g1["proj0"]["kernel"]).max() > 0


def test_film_with_a_zero_generator_is_the_identity():
  pooled, _, _ = make_inputs(2)
  model = FUSIONS.build("film", condition_index=0)
  params = random_params(model, pooled)
  zero = jax.tree.map(jnp.zeros_like, params)
  np.testing.assert_allclose(model.apply({"params": zero}, pooled), pooled[1], rtol=1e-6)
  out = model.apply({"params": params}, pooled)
  assert out.shape == (BATCH, WIDTHS[1]) and np.abs(out - pooled[1]).max() > 1e-3
  with pytest.raises(ValueError, match="condition_index=2; valid: 0, 1"):
    FUSIONS.build("film", condition_index=2).apply({"params": params}, pooled)


@pytest.mark.parametrize("count", [2, 3])
def test_gated_unit_is_a_convex_mix_of_tanh_features(count):
  pooled = [10 * p for p in make_inputs(count)[0]]
  model = FUSIONS.build("gated", dim=8)
  out = model.apply({"params": random_params(model, pooled)}, pooled)
  assert out.shape == (BATCH, 8) and np.abs(out).max() <= 1.0


def test_bottleneck_share_weights_keeps_one_block_per_layer():
  _, tokens, _ = make_inputs(3)
  kwargs = dict(dim=8, depth=2, fusion_layer=1, **ATTN)
  for share, want in ((True, {"block0", "block1"}),
                      (False, {f"block{l}_modality{i}" for l in range(2) for i in range(3)})):
    model = FUSIONS.build("bottleneck", share_weights=share, **kwargs)
    params = jax.eval_shape(model.init, jax.random.key(0), None, tokens)["params"]
    assert {k for k in params if k.startswith("block")} == want
