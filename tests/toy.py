"""Small problems the trainer tests share: a two-tower contrastive model on random data and a
per-example regression (whose gradient-accumulated step must equal the large-batch step)."""

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from mmjax.data.pipeline import Batches
from mmjax.losses.contrastive import clip_softmax_loss
from mmjax.models import TwoTower
from mmjax.train import defaults

IMAGE, LEN, VOCAB = 16, 8, 50


def config(**overrides):
  c = defaults()
  c.batch_size = 16
  c.total_steps = 4
  c.log_every_steps = 1
  c.checkpoint.every_steps = 2
  c.checkpoint.async_save = False
  c.progress_bar = False
  # SGD: the update is linear in the gradient, so parallel and single-device runs can be
  # compared tightly (Adam's g / sqrt(v) turns float-rounding noise in tiny gradients into
  # full-size updates).
  c.optimizer.name = "sgd"
  c.optimizer.lr = 0.1
  c.schedule.warmup_steps = 1
  for k, v in overrides.items():
    target = c
    *path, last = k.split(".")
    for p in path:
      target = target[p]
    target[last] = v
  return c


def two_tower(dtype=jnp.float32):
  return TwoTower(image=dict(patch_size=8, width=16, depth=1, num_heads=2, mlp_dim=32),
                  text=dict(vocab_size=VOCAB, max_len=LEN, width=16, depth=1, num_heads=2,
                            mlp_dim=32),
                  embed_dim=8, dtype=dtype)


def contrastive_problem(dtype=jnp.float32):
  model = two_tower(dtype)

  def init_fn(rng):
    return model.init(rng, jnp.zeros((1, IMAGE, IMAGE, 3)), jnp.zeros((1, LEN), jnp.int32))[
        "params"], {}

  def loss_fn(params, model_state, batch, rng, axis_name):
    zimg, ztxt, out = model.apply({"params": params}, batch["images"], batch["tokens"])
    loss = clip_softmax_loss(zimg, ztxt, out["logit_scale"], axis_name=axis_name)
    return loss, ({}, model_state)

  def make_batch(indices):
    rng = np.random.default_rng(indices[0])
    n = len(indices)
    return {"images": rng.normal(size=(n, IMAGE, IMAGE, 3)).astype(np.float32),
            "tokens": rng.integers(1, VOCAB, size=(n, LEN)).astype(np.int32)}

  return init_fn, loss_fn, make_batch


class Regressor(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(1)(nn.tanh(nn.Dense(16)(x)))[:, 0]


def regression_problem():
  model = Regressor()

  def init_fn(rng):
    return model.init(rng, jnp.zeros((1, 4)))["params"], {}

  def loss_fn(params, model_state, batch, rng, axis_name):
    err = model.apply({"params": params}, batch["x"]) - batch["y"]
    return jnp.mean(err ** 2), ({"mae": jnp.mean(jnp.abs(err))}, model_state)

  def make_batch(indices):
    rng = np.random.default_rng(indices[0])
    x = rng.normal(size=(len(indices), 4)).astype(np.float32)
    return {"x": x, "y": np.sin(x.sum(1)).astype(np.float32)}

  return init_fn, loss_fn, make_batch


def batches(make_batch, c, **kw):
  return Batches(make_batch, c.batch_size, seed=c.seed, **kw)


NUM_CLASSES = 4


def image_classifier_problem(encoder: str, **options):
  """A real image encoder (`encoder` with `options`, e.g. a ResNet with BatchNorm or a ViT with
  dropout) under a linear classification head, trained through the classification task's own
  init and loss (batch statistics in model_state, dropout from the step's key)."""
  from mmjax.models.multimodal_classifier import MultimodalClassifier
  from mmjax.tasks import classification
  model = MultimodalClassifier(num_classes=NUM_CLASSES, modalities=("image",),
                               encoders={"image": {"name": encoder, **options}})

  def make_batch(indices):
    rng = np.random.default_rng(indices[0])
    n = len(indices)
    return {"image": rng.normal(size=(n, IMAGE, IMAGE, 3)).astype(np.float32),
            "label": rng.integers(0, NUM_CLASSES, size=n).astype(np.int32)}

  init_fn = classification.init_fn(model, make_batch(np.arange(1)))
  return init_fn, classification.loss_fn(model, ("image",), {}), make_batch
