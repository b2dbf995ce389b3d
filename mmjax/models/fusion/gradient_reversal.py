"""Gradient reversal layer (Ganin & Lempitsky 2015, "Unsupervised Domain Adaptation by
Backpropagation"): the identity forward, -scale * gradient backward."""

import jax
import jax.numpy as jnp


@jax.custom_vjp
def _reverse(x, scale):
  return x


def _reverse_fwd(x, scale):
  return x, scale


def _reverse_bwd(scale, g):
  # The scale is not trained through this layer: its cotangent is zero.
  return (-scale * g).astype(g.dtype), jnp.zeros_like(scale)


_reverse.defvjp(_reverse_fwd, _reverse_bwd)


def gradient_reversal(x: jax.Array, scale=1.0) -> jax.Array:
  """Returns x unchanged; its gradient is multiplied by -scale. x: any shape.

  Placed between features and a discriminator, the discriminator learns to tell the features
  apart while the features learn to make them indistinguishable. `scale` may be a traced value
  (e.g. DANN's schedule ramping from 0 to 1).
  """
  return _reverse(x, jnp.asarray(scale, jnp.float32))
