"""Contrastive image-text losses, correct across devices.

Under jit over a mesh, the arrays are global and `axis_name` is None. Under pmap, each device
holds a slice of the batch: it gathers every device's embeddings (`all_gather`, whose
gradient is a reduce-scatter, so gradients reach the device that computed each embedding),
scores its own rows against the whole global batch, and returns the mean over its own rows.
The trainer's `pmean` of these per-device losses and gradients then equals the full-batch loss
and gradient exactly (open_clip's `gather_with_grad`, without the local-loss shortcut).
"""

import math

import jax
import jax.numpy as jnp
import optax

from mmjax.registry import Registry


def _gather(x, axis_name):
  """[local, dim] -> ([global, dim], index of this device's first row in the global batch)."""
  if axis_name is None:
    return x, 0
  return (jax.lax.all_gather(x, axis_name, tiled=True),
          jax.lax.axis_index(axis_name) * x.shape[0])


def clip_softmax_loss(zimg, ztxt, logit_scale, logit_bias=None, axis_name=None, max_scale=100.0):
  """Symmetric InfoNCE (CLIP). zimg, ztxt: [batch, dim] L2-normalised; logit_scale: [] (log of
  the inverse temperature, clamped to [0, log(max_scale)] as open_clip does); logit_bias is
  unused (the same signature as `siglip_loss`). Returns the
  mean over this device's rows of (CE(image->text) + CE(text->image)) / 2."""
  scale = jnp.exp(jnp.clip(logit_scale, 0.0, math.log(max_scale)))
  all_img, offset = _gather(zimg, axis_name)
  all_txt, _ = _gather(ztxt, axis_name)
  labels = offset + jnp.arange(zimg.shape[0])
  i2t = scale * zimg @ all_txt.T  # [local, global]
  t2i = scale * ztxt @ all_img.T
  ce = optax.softmax_cross_entropy_with_integer_labels
  return 0.5 * (ce(i2t, labels).mean() + ce(t2i, labels).mean())


def siglip_loss(zimg, ztxt, logit_scale, logit_bias, axis_name=None):
  """Pairwise sigmoid loss (SigLIP, Zhai et al. 2023): -1/B sum_ij log sigmoid(z_ij (t x_i.y_j + b))
  with z_ij = 1 for matching pairs and -1 otherwise. Shapes as `clip_softmax_loss`."""
  all_txt, offset = _gather(ztxt, axis_name)
  logits = jnp.exp(logit_scale) * zimg @ all_txt.T + logit_bias  # [local, global]
  labels = offset + jnp.arange(zimg.shape[0])
  z = jnp.where(labels[:, None] == jnp.arange(all_txt.shape[0])[None, :], 1.0, -1.0)
  return -jnp.sum(jax.nn.log_sigmoid(z * logits)) / zimg.shape[0]


CONTRASTIVE_LOSSES = Registry("contrastive loss")
CONTRASTIVE_LOSSES.register("softmax")(clip_softmax_loss)
CONTRASTIVE_LOSSES.register("sigmoid")(siglip_loss)
