"""Text-to-image diffusion: schedules, the U-Net, the training loss, classifier-free guidance and
the DDIM sampler (checked with exact ε for data whose posterior mean is known)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mmjax.losses.diffusion import diffusion_loss
from mmjax.models import GENERATORS
from mmjax.models.heads.diffusion import TextConditionedUNet, guided_eps, noise_schedule, sample
from mmjax.registry import ConfigError

# XLA:CPU compile time dominates these tests (~2 s per ResBlock for a gradient), so most tests
# use a one-level U-Net with cross-attention; the two-level one (down/upsampling) is sampled.
ONE_LEVEL = dict(base_channels=8, channel_mults=(1,), num_res_blocks=1, num_groups=4,
                 num_heads=2)
TWO_LEVEL = dict(ONE_LEVEL, channel_mults=(1, 2))
ALPHA_BARS = noise_schedule("cosine", 1000)


def _key(seed):
  # XLA:CPU takes ~2 s to compile each default (threefry) random draw of this jax; the "rbg"
  # generator compiles ~8x faster, and the code under test takes any key.
  return jax.random.key(seed, impl="rbg")


def _random_params(model, *args):
  """Parameters with init's structure (from jax.eval_shape, so init is traced and checked) and
  values drawn by numpy at init-like scales: a compiled init costs ~10 s of CPU here."""
  rng = np.random.default_rng(0)

  def draw(path, leaf):
    name = path[-1].key
    if name == "scale":
      return np.ones(leaf.shape, leaf.dtype)
    if name == "bias":
      return rng.normal(0.0, 0.02, leaf.shape).astype(leaf.dtype)
    fan_in = np.prod(leaf.shape[:-1]) if name == "kernel" else 2500.0  # embeddings: std 0.02
    return (rng.normal(size=leaf.shape) / np.sqrt(fan_in)).astype(leaf.dtype)
  return jax.tree_util.tree_map_with_path(draw, jax.eval_shape(model.init, _key(0), *args))


@functools.lru_cache(maxsize=None)
def _setup():
  """A tiny model, its parameters, and 8 16x16 images with text conditions and timesteps."""
  model = GENERATORS.build("diffusion", **ONE_LEVEL)
  rng = np.random.default_rng(1)
  images = np.tanh(rng.normal(size=(8, 16, 16, 3))).astype(np.float32)
  mask = np.arange(5)[None] < np.array([3, 5, 1, 2, 4, 5, 2, 1])[:, None]
  cond = {"pooled": rng.normal(size=(8, 6)).astype(np.float32),
          "tokens": rng.normal(size=(8, 5, 6)).astype(np.float32), "mask": mask}
  t = np.array([0, 3, 10, 300, 500, 600, 900, 999])
  return model, _random_params(model, images, t, cond), images, cond, t


# One compiled forward per model config and input structure, shared by the tests.
_apply_jit = jax.jit(lambda model, *a, **kw: model.apply(*a, **kw), static_argnums=0,
                     static_argnames="train")


def _apply(model, *args, **kwargs):
  # As numpy: checking jax arrays eagerly would compile every small op for every shape.
  return np.asarray(_apply_jit(model, *args, **kwargs))


def test_schedules_decrease_from_one_to_zero():
  for kind in ("cosine", "linear"):
    ab = np.asarray(noise_schedule(kind, 1000))
    assert ab.shape == (1000,) and ab.dtype == np.float32 and np.all(np.diff(ab) < 0)
    assert 0.999 < ab[0] < 1.0 and 0.0 < ab[-1] < 1e-3
  ab = np.asarray(noise_schedule("linear", 1000), np.float64)
  betas = 1 - ab / np.r_[1.0, ab[:-1]]  # back from the products to the per-step betas
  np.testing.assert_allclose(betas[[0, -1]], [1e-4, 0.02], rtol=1e-3)
  # A shorter schedule spans the same noise levels.
  assert np.asarray(noise_schedule("linear", 100))[-1] == pytest.approx(
      np.asarray(noise_schedule("linear", 1000))[-1], abs=1e-4)


def test_unet_shapes_dtypes_and_bfloat16_agreement():
  model, params, images, cond, t = _setup()
  shapes = jax.eval_shape(model.init, _key(0), images, t, cond)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(shapes))
  assert {"null_pooled", "null_token", "cross_attn", "mid1", "up0_1"} <= set(shapes["params"])
  eps = _apply(model, params, images, t, cond, drop=np.zeros(8, bool))
  assert eps.shape == images.shape and eps.dtype == jnp.float32
  bf16 = TextConditionedUNet(**ONE_LEVEL, dtype=jnp.bfloat16)
  eps16 = _apply(bf16, params, images, t, cond, drop=np.zeros(8, bool))
  assert eps16.dtype == jnp.float32 and not np.array_equal(eps16, eps)  # bf16 really ran
  np.testing.assert_allclose(eps16, eps, atol=0.05 * float(np.abs(eps).max()))


def test_loss_is_finite_and_drops_in_twenty_adam_steps():
  model, params, images, cond, _ = _setup()
  images, cond = images[:4], jax.tree.map(lambda a: a[:4], cond)
  loss_and_grad = jax.jit(jax.value_and_grad(
      lambda p, rng: diffusion_loss(p, model.apply, images, cond, rng, ALPHA_BARS)))
  # Adam on one flat vector: compiling its update per parameter leaf would cost more than the
  # model's gradient.
  leaves, treedef = jax.tree.flatten(params)
  splits = np.cumsum([leaf.size for leaf in leaves])[:-1]
  flatten = lambda tree: np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])
  unflatten = lambda vec: treedef.unflatten(
      [v.reshape(leaf.shape) for v, leaf in zip(np.split(np.asarray(vec), splits), leaves)])
  opt = optax.adam(3e-3)

  @jax.jit
  def adam_step(vec, grad, state):
    updates, state = opt.update(grad, state, vec)
    return optax.apply_updates(vec, updates), state

  # Five rounds over the same 4 (t, ε, dropout) draws: round 5 vs round 1 compares like with
  # like, so the drop is learning, not noise.
  vec = flatten(params)
  state, losses = opt.init(vec), []
  for i in range(20):
    loss, grads = jax.device_get(loss_and_grad(unflatten(vec), _key(i % 4)))
    losses.append(float(loss))
    if i == 0:
      leaves_with_path = jax.tree_util.tree_leaves_with_path(grads)
      assert all(np.isfinite(g).all() for _, g in leaves_with_path)
      # Everything but the null embeddings (reached only by dropped rows) gets gradient.
      assert all(np.abs(g).max() > 0 for path, g in leaves_with_path if "null" not in str(path))
    vec, state = adam_step(vec, flatten(grads), state)
  assert np.all(np.isfinite(losses))
  assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4])


def test_guidance_scale_one_is_conditional_and_zero_is_unconditional():
  model, params, images, cond, t = _setup()
  apply_fn = functools.partial(_apply, model)
  # References from the same 8-row compiled call that guidance makes (4 rows, doubled); rows
  # are independent, so rows 0..3 are the plain predictions for the first 4 examples.
  conditional = apply_fn(params, images, t, cond, drop=np.zeros(8, bool))[:4]
  unconditional = apply_fn(params, images, t, cond, drop=np.ones(8, bool))[:4]
  assert float(np.abs(conditional - unconditional).max()) > 1e-3  # the text matters
  first4 = lambda a: a[:4]
  guided = lambda s: guided_eps(apply_fn, params, images[:4], t[:4],
                                jax.tree.map(first4, cond), s)
  np.testing.assert_allclose(guided(1.0), conditional, atol=1e-5)
  np.testing.assert_allclose(guided(0.0), unconditional, atol=1e-5)
  np.testing.assert_allclose(guided(3.0), unconditional + 3 * (conditional - unconditional),
                             atol=1e-4)
  # A dropped condition is the null condition, whatever the text was.
  other = jax.tree.map(lambda a: a[::-1], cond)
  np.testing.assert_allclose(apply_fn(params, images, t, other, drop=np.ones(8, bool))[:4],
                             unconditional, atol=1e-5)
  # In training, condition dropout (p close to 1 here) uses the "dropout" rng stream.
  dropping = TextConditionedUNet(**ONE_LEVEL, cond_drop_prob=0.999)
  trained = _apply(dropping, params, images, t, cond, drop=np.zeros(8, bool), train=True,
                   rngs={"dropout": _key(0)})
  np.testing.assert_allclose(trained[:4], unconditional, atol=1e-5)


def test_ddim_with_the_two_level_model_is_jittable_and_deterministic_given_the_key():
  # Also the pooled text embedding alone (no tokens) as the condition.
  model = TextConditionedUNet(**TWO_LEVEL)
  pooled = _setup()[3]["pooled"][:4]
  shapes = jax.eval_shape(model.init, _key(0), np.zeros((4, 16, 16, 3), np.float32), 0, pooled)
  assert {"downsample0", "down1_0", "upsample1", "up1_1"} <= set(shapes["params"])
  params = _random_params(model, np.zeros((4, 16, 16, 3), np.float32), 0, pooled)
  run = jax.jit(functools.partial(sample, model.apply, num_steps=3, shape=(16, 16, 3)))
  a, b, c = (np.asarray(run(params, pooled, _key(seed), ALPHA_BARS, guidance_scale=2.0))
             for seed in (0, 0, 1))
  assert a.shape == (4, 16, 16, 3) and bool(np.isfinite(a).all())
  np.testing.assert_array_equal(a, b)
  assert float(np.abs(a - c).max()) > 1e-3


def _exact_eps(params, x, t, cond, drop=None, train=False):
  """The exact ε-predictor E[ε | x_t] for data ~ N(mean, std²) per pixel, params = (mean, std):
  x_t = √ᾱ x_0 + √(1-ᾱ) ε is Gaussian, so E[ε | x_t] = √(1-ᾱ) (x_t - √ᾱ mean) / (ᾱ std² + 1-ᾱ).
  std = 0 is a single training image."""
  mean, std = params
  a = ALPHA_BARS[t][:, None, None, None]
  return jnp.sqrt(1 - a) * (x - jnp.sqrt(a) * mean) / (a * std ** 2 + 1 - a)


# 1000 steps, so DDIM's discretisation error is negligible; one compile for every case below.
_sample_exact = jax.jit(functools.partial(sample, _exact_eps, num_steps=1000, shape=(16, 16, 3),
                                          guidance_scale=1.0, clip_denoised=False))
MEAN = np.linspace(-0.6, 0.6, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_with_exact_eps_recovers_a_single_training_image(eta):
  out = np.asarray(_sample_exact((MEAN, 0.0), np.zeros((4, 4)), _key(0), ALPHA_BARS, eta=eta))
  np.testing.assert_allclose(out, np.broadcast_to(MEAN, out.shape), atol=1e-4)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_with_exact_eps_samples_the_data_distribution(eta):
  # Over 4 x 768 pixels, the standardised samples must have mean 0 and std 1.
  std = 0.3
  out = np.asarray(_sample_exact((MEAN, std), np.zeros((4, 4)), _key(1), ALPHA_BARS, eta=eta))
  z = (out - MEAN) / std
  assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1.0) < 0.04


def test_bad_arguments_are_rejected_clearly():
  model, params, images, cond, t = _setup()
  with pytest.raises(ValueError, match="kind='sqrt'; valid: cosine, linear"):
    noise_schedule("sqrt", 10)
  with pytest.raises(ValueError, match="steps=0"):
    noise_schedule("cosine", 0)
  with pytest.raises(ValueError, match=r"num_steps=1001; valid: 1\.\.1000"):
    sample(model.apply, params, cond, _key(0), ALPHA_BARS, (16, 16, 3), 1001)
  with pytest.raises(ValueError, match="eta=-1"):
    sample(model.apply, params, cond, _key(0), ALPHA_BARS, (16, 16, 3), 5, eta=-1.0)
  with pytest.raises(ValueError, match=r"shape=\(16, 16\)"):
    sample(model.apply, params, cond, _key(0), ALPHA_BARS, (16, 16), 5)
  with pytest.raises(ValueError, match="image size 15x15 is not divisible by 2"):
    TextConditionedUNet(**TWO_LEVEL).apply(params, images[:, :15, :15], t, cond)
  with pytest.raises(ValueError, match="cond_drop_prob=1.0; valid: 0 <= p < 1"):
    TextConditionedUNet(**ONE_LEVEL, cond_drop_prob=1.0).apply(params, images, t, cond)
  with pytest.raises(ValueError, match="not divisible by num_groups 3"):
    TextConditionedUNet(**{**ONE_LEVEL, "num_groups": 3}).apply(params, images, t, cond)
  with pytest.raises(ValueError, match="valid: pooled .required., tokens, mask"):
    model.apply(params, images, t, {"text": cond["pooled"]})
  with pytest.raises(ConfigError, match="Valid options: .*cond_drop_prob"):
    GENERATORS.build("diffusion", drop_prob=0.1)
