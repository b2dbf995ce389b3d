"""Encoder shapes, padding invariance and mixed-precision dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models import TextTransformer, TwoTower, ViT
from mmjax.models.image.vit import sincos_2d


@pytest.mark.parametrize("pool,posemb", [("cls", "learned"), ("mean", "sincos2d")])
def test_vit_shapes(pool, posemb):
  vit = ViT(patch_size=4, width=32, depth=2, num_heads=4, mlp_dim=64, pool=pool, posemb=posemb)
  x = jnp.ones((2, 16, 16, 3))
  (pooled, tokens), _ = vit.init_with_output(jax.random.key(0), x)
  assert pooled.shape == (2, 32) and tokens.shape == (2, 16, 32)


def test_vit_rejects_indivisible_image():
  with pytest.raises(ValueError, match="not divisible by patch_size 8"):
    ViT(patch_size=8).init(jax.random.key(0), jnp.ones((1, 20, 20, 3)))


def test_vit_dropout_acts_only_in_training():
  kw = dict(patch_size=4, width=16, depth=1, num_heads=2, mlp_dim=32)
  x = jax.random.normal(jax.random.key(1), (2, 8, 8, 3))
  plain, dropped = ViT(**kw), ViT(**kw, dropout=0.5)
  params = plain.init(jax.random.key(0), x)  # no parameters of its own: checkpoints still load
  assert jax.tree.structure(params) == jax.tree.structure(dropped.init(jax.random.key(0), x))
  apply = jax.jit(lambda v, x, rng: dropped.apply(v, x, train=True, rngs={"dropout": rng})[0])
  reference = plain.apply(params, x)[0]
  np.testing.assert_allclose(dropped.apply(params, x)[0], reference, rtol=1e-6)
  a, b = apply(params, x, jax.random.key(2)), apply(params, x, jax.random.key(3))
  assert np.abs(a - reference).max() > 1e-2 and np.abs(a - b).max() > 1e-2


def test_sincos_is_distinct_per_position():
  pe = sincos_2d(4, 16)
  assert pe.shape == (16, 16) and len({tuple(np.round(r, 5)) for r in pe}) == 16


@pytest.mark.parametrize("causal,pool", [(True, "last"), (False, "mean"), (False, "first")])
def test_text_padding_never_changes_the_output(causal, pool):
  enc = TextTransformer(vocab_size=20, max_len=12, width=32, depth=2, num_heads=4, mlp_dim=64,
                        causal=causal, pool=pool)
  short = jnp.array([[5, 6, 7, 2, 0, 0]])
  long = jnp.array([[5, 6, 7, 2, 0, 0, 0, 0, 0, 0]])
  params = enc.init(jax.random.key(0), long)
  (p1, t1), (p2, t2) = enc.apply(params, short), enc.apply(params, long)
  np.testing.assert_allclose(p1, p2, atol=1e-5)
  np.testing.assert_allclose(t1[:, :4], t2[:, :4], atol=1e-5)


def test_two_tower_embeddings_are_unit_norm_float32_in_bf16():
  m = TwoTower(image=dict(patch_size=8, width=16, depth=1, num_heads=2, mlp_dim=32),
               text=dict(vocab_size=30, max_len=8, width=16, depth=1, num_heads=2, mlp_dim=32),
               embed_dim=8, dtype=jnp.bfloat16)
  x, t = jnp.ones((3, 16, 16, 3)), jnp.ones((3, 8), jnp.int32)
  # One compile: run eagerly, each op compiled on its own took most of a minute.
  (zi, zt, extras), params = jax.jit(m.init_with_output)(jax.random.key(0), x, t)
  assert zi.dtype == jnp.float32 and zt.shape == (3, 8)
  np.testing.assert_allclose(jnp.linalg.norm(zi, axis=-1), 1.0, rtol=1e-5)
  assert extras["img/tokens"].dtype == jnp.bfloat16
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
  assert float(extras["logit_scale"]) == pytest.approx(np.log(1 / 0.07))
