"""DDPM's training loss of a noise-predicting (ε) diffusion model (Ho et al. 2020, "Denoising
Diffusion Probabilistic Models"); the model, the schedule and the sampler are in
mmjax/models/heads/diffusion.py."""

import jax
import jax.numpy as jnp


def diffusion_loss(params, apply_fn, images, cond, rng, alpha_bars) -> jax.Array:
  """DDPM's simplified objective: E_{t, ε} ||ε - ε̂(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t, cond)||², float32.

  images: [batch, h, w, c] in [-1, 1]; alpha_bars: [timesteps] ᾱ_t, e.g.
  `heads.diffusion.noise_schedule(...)`; apply_fn(params, x_t, t, cond, train=True,
  rngs={"dropout": ...}) -> ε̂ (e.g. TextConditionedUNet(...).apply). rng: one key, split into
  the timesteps', the noise's and the condition dropout's.
  """
  k_t, k_eps, k_drop = jax.random.split(rng, 3)
  t = jax.random.randint(k_t, (images.shape[0],), 0, alpha_bars.shape[0])
  eps = jax.random.normal(k_eps, images.shape, jnp.float32)
  ab = alpha_bars[t][:, None, None, None]
  x_t = jnp.sqrt(ab) * images.astype(jnp.float32) + jnp.sqrt(1 - ab) * eps
  pred = apply_fn(params, x_t, t, cond, train=True, rngs={"dropout": k_drop})
  return jnp.mean(jnp.square(pred.astype(jnp.float32) - eps))
