"""optimizer.frozen: params whose '/'-joined path matches a regex get exactly zero updates (no
weight decay either) under every optimizer, the rest train as before; a pattern that matches
nothing, or an invalid one, is an error that says what the paths look like."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mmjax import train
from mmjax.registry import ConfigError
from mmjax.train.optimizer import make_optimizer, param_paths, stop_frozen_gradients


def params():
  rng = np.random.default_rng(0)
  leaf = lambda *s: jnp.asarray(rng.standard_normal(s), jnp.float32)
  return {"img_tower": {"embedding": {"kernel": leaf(4, 3)}, "ln": {"scale": leaf(3)}},
          "img_proj": {"kernel": leaf(3, 2)},
          "txt_tower": {"embedding": leaf(5, 3), "ln": {"scale": leaf(3)}},
          "logit_scale": jnp.float32(2.3)}


def config(frozen=(), name="adamw", clip=1e6):
  c = train.defaults()
  # (Clipping sees only the trainable gradients; a loose clip keeps the runs comparable.)
  c.optimizer.update(name=name, lr=0.1, weight_decay=0.5, decay_mask="all", frozen=frozen,
                     grad_clip_norm=clip)
  c.schedule.update(name="constant")
  c.total_steps = 10
  return c


def run_steps(c, p, n=3):
  opt, _ = make_optimizer(c, c.total_steps)
  state = opt.init(p)
  rng = np.random.default_rng(1)

  @jax.jit
  def step(p, state, g):
    updates, state = opt.update(g, state, p)
    return optax.apply_updates(p, updates), state

  for _ in range(n):
    grads = jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape), jnp.float32), p)
    p, state = step(p, state, grads)
  return p


@pytest.mark.parametrize("name", ["adamw", "sgd", "adafactor"])
def test_frozen_leaves_are_bitwise_unchanged_and_the_others_train(name):
  p0 = params()
  frozen = ("img_tower/.*", "img_proj/kernel")
  p1 = run_steps(config(frozen, name), p0)
  free = run_steps(config((), name), p0)  # the same steps without freezing move everything.
  for path, a, b, c in zip(param_paths(p0), jax.tree.leaves(p0), jax.tree.leaves(p1),
                           jax.tree.leaves(free)):
    assert not np.array_equal(np.asarray(a), np.asarray(c)), path
    if path.startswith("img_"):
      assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), path
    else:
      assert not np.array_equal(np.asarray(a), np.asarray(b)), path
      np.testing.assert_array_equal(b, c)  # trainable params step exactly as without freezing.


def test_stop_frozen_gradients_zeroes_exactly_the_frozen_gradients():
  p = params()
  loss = lambda q: sum(jnp.sum(jnp.sin(x)) for x in jax.tree.leaves(q))
  grads = jax.grad(lambda q: loss(stop_frozen_gradients(q, ("img_tower/.*",))))(p)
  for path, g in zip(param_paths(p), jax.tree.leaves(grads)):
    assert (np.abs(np.asarray(g)).max() == 0) == path.startswith("img_tower/"), path


def test_a_pattern_matching_nothing_lists_the_param_paths():
  with pytest.raises(ValueError, match=r"'image_tower/\.\*' matches no parameter.*"
                                       r"img_tower/embedding/kernel"):
    run_steps(config(("img_tower/.*", "image_tower/.*")), params(), n=1)
  with pytest.raises(ValueError, match="'img_tower' matches no parameter"):  # full match only
    run_steps(config(("img_tower",)), params(), n=1)


def test_validate_rejects_bad_frozen_values():
  c = config(("img_tower/[",))
  with pytest.raises(ConfigError, match=r"optimizer.frozen has an invalid regex 'img_tower/\['"):
    train.validate(c)
  c = config()
  c.optimizer.frozen = (1,)
  with pytest.raises(ConfigError, match="optimizer.frozen=.*must be a regex or a tuple"):
    train.validate(c)
