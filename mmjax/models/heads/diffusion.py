"""Text-to-image diffusion: a small text-conditioned U-Net that predicts the noise ε, the noise
schedule, classifier-free guidance and the DDIM sampler (the DDPM training loss is
`mmjax.losses.diffusion.diffusion_loss`).

Why diffusion rather than a conditional VAE: a VAE's Gaussian decoder averages over the modes
it cannot tell apart, so its samples blur; a diffusion model's samples stay sharp, and
classifier-free guidance gives a sampling-time knob (guidance_scale) trading diversity for
agreement with the text, from the same network. The cost is sampling: num_steps denoiser calls
(x2 with guidance); DDIM cuts the 1000 training steps to tens.

Papers: Ho et al. 2020 (DDPM, ε-prediction); Nichol & Dhariwal 2021 (cosine schedule,
scale-shift conditioning); Ho & Salimans 2022 (classifier-free guidance); Song et al. 2021 (DDIM).

The condition `cond` is a pooled text embedding [batch, dim], or a dict with "pooled"
[batch, dim] and optionally "tokens" [batch, length, text_dim] and "mask" [batch, length]
(True = token) for cross-attention. Images are [batch, height, width, channels] in [-1, 1].
"""

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mmjax.models.transformer import Dense, MultiHeadAttention, attention_bias, layer_norm


def noise_schedule(kind: str = "cosine", steps: int = 1000) -> jax.Array:
  """ᾱ_t = prod_{s<=t} (1 - β_s) for t = 0..steps-1: [steps] float32, decreasing in (0, 1).

  "linear": β from 1e-4 to 0.02 (Ho et al.), rescaled so any `steps` spans the same noise range.
  "cosine": ᾱ_t ∝ cos²((t/T + 0.008)/1.008 · π/2) with β clipped at 0.999 (Nichol & Dhariwal).
  """
  if not isinstance(steps, (int, np.integer)) or steps < 1:
    raise ValueError(f"steps={steps!r}; it must be a positive integer.")
  if kind == "linear":
    scale = 1000 / steps
    betas = np.linspace(1e-4 * scale, 0.02 * scale, steps, dtype=np.float64)
  elif kind == "cosine":
    f = np.cos((np.arange(steps + 1) / steps + 0.008) / 1.008 * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
  else:
    raise ValueError(f"kind={kind!r}; valid: cosine, linear.")
  return jnp.asarray(np.cumprod(1 - betas), jnp.float32)


def timestep_embedding(t, dim: int) -> jax.Array:
  """Sinusoidal embedding of (integer or real) timesteps t [batch] -> [batch, dim] float32."""
  half = dim // 2
  freqs = np.exp(-math.log(10000.0) * np.arange(half) / max(half - 1, 1)).astype(np.float32)
  angles = jnp.asarray(t, jnp.float32)[:, None] * freqs
  emb = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
  return jnp.pad(emb, ((0, 0), (0, dim - 2 * half)))


class ResBlock(nn.Module):
  """GroupNorm-SiLU-conv twice; the embedding enters as a FiLM scale and shift after the second
  norm. x: [batch, h, w, c_in], emb: [batch, emb_dim] -> [batch, h, w, channels]."""
  channels: int
  num_groups: int = 8
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, emb):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    conv = lambda name: nn.Conv(self.channels, (3, 3), padding="SAME", name=name, **kw)
    h = conv("conv1")(nn.silu(nn.GroupNorm(self.num_groups, name="norm1", **kw)(x)))
    scale, shift = jnp.split(Dense(2 * self.channels, name="film", **kw)(nn.silu(emb)), 2, -1)
    h = nn.GroupNorm(self.num_groups, name="norm2", **kw)(h)
    h = h * (1 + scale[:, None, None]) + shift[:, None, None]
    h = conv("conv2")(nn.silu(h))
    if x.shape[-1] != self.channels:
      x = nn.Conv(self.channels, (1, 1), name="skip", **kw)(x)
    return x + h


class TextConditionedUNet(nn.Module):
  """ε-prediction U-Net: (x_t [batch, h, w, c], t [batch] or [], cond) -> ε̂ [batch, h, w, c]
  float32.

  The pooled text embedding is added to the timestep embedding, which modulates every ResBlock;
  with text tokens in `cond`, the lowest resolution also cross-attends to them. `drop` [batch]
  bool replaces a row's condition with learned null embeddings (the unconditional model of
  classifier-free guidance); with train=True each row is also dropped with probability
  `cond_drop_prob`, using the "dropout" rng stream.
  """
  base_channels: int = 64
  channel_mults: Sequence[int] = (1, 2, 2)
  num_res_blocks: int = 2
  num_groups: int = 8
  num_heads: int = 4
  cond_drop_prob: float = 0.1
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def _check(self, x):
    if not 0.0 <= self.cond_drop_prob < 1.0:
      raise ValueError(f"cond_drop_prob={self.cond_drop_prob}; valid: 0 <= p < 1.")
    if not self.channel_mults or self.num_res_blocks < 1:
      raise ValueError("channel_mults must be non-empty and num_res_blocks >= 1.")
    for m in self.channel_mults:
      if (self.base_channels * m) % self.num_groups:
        raise ValueError(f"channels {self.base_channels * m} (base_channels x {m}) are not "
                         f"divisible by num_groups {self.num_groups}.")
    if x.ndim != 4:
      raise ValueError(f"x must be [batch, height, width, channels]; got shape {x.shape}.")
    factor = 2 ** (len(self.channel_mults) - 1)
    if x.shape[1] % factor or x.shape[2] % factor:
      raise ValueError(f"image size {x.shape[1]}x{x.shape[2]} is not divisible by {factor} "
                       f"(2 ** (len(channel_mults) - 1)).")

  @nn.compact
  def __call__(self, x, t, cond, drop=None, train: bool = False):
    self._check(x)
    if not isinstance(cond, dict):
      cond = {"pooled": cond}
    if set(cond) - {"pooled", "tokens", "mask"} or "pooled" not in cond:
      raise ValueError(f"cond keys {sorted(cond)}; valid: pooled (required), tokens, mask.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    b = x.shape[0]
    drop = jnp.zeros((b,), bool) if drop is None else jnp.asarray(drop, bool)
    if train and self.cond_drop_prob > 0:
      drop = drop | jax.random.bernoulli(self.make_rng("dropout"), self.cond_drop_prob, (b,))

    pooled = cond["pooled"]
    null = self.param("null_pooled", nn.initializers.normal(0.02), pooled.shape[-1:],
                      self.param_dtype)
    pooled = jnp.where(drop[:, None], null.astype(jnp.float32), pooled.astype(jnp.float32))
    emb_dim = 4 * self.base_channels
    t = jnp.broadcast_to(jnp.asarray(t), (b,))
    emb = Dense(emb_dim, name="time1", **kw)(timestep_embedding(t, self.base_channels))
    emb = Dense(emb_dim, name="time2", **kw)(nn.silu(emb))
    emb = emb + Dense(emb_dim, name="text_proj", **kw)(pooled)

    block = lambda c, name: ResBlock(c, self.num_groups, name=name, **kw)
    h = nn.Conv(self.base_channels, (3, 3), padding="SAME", name="conv_in", **kw)(x)
    skips = [h]
    for i, m in enumerate(self.channel_mults):
      for j in range(self.num_res_blocks):
        h = block(self.base_channels * m, f"down{i}_{j}")(h, emb)
        skips.append(h)
      if i < len(self.channel_mults) - 1:
        h = nn.Conv(h.shape[-1], (3, 3), strides=2, padding="SAME", name=f"downsample{i}",
                    **kw)(h)
        skips.append(h)

    h = block(h.shape[-1], "mid1")(h, emb)
    if "tokens" in cond:
      h = h + self._cross_attend(h, cond, drop)
    h = block(h.shape[-1], "mid2")(h, emb)

    for i, m in reversed(list(enumerate(self.channel_mults))):
      for j in range(self.num_res_blocks + 1):
        h = block(self.base_channels * m, f"up{i}_{j}")(
            jnp.concatenate([h, skips.pop().astype(h.dtype)], axis=-1), emb)
      if i > 0:
        h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)  # nearest-neighbour x2
        h = nn.Conv(h.shape[-1], (3, 3), padding="SAME", name=f"upsample{i}", **kw)(h)
    h = nn.silu(nn.GroupNorm(self.num_groups, name="norm_out", **kw)(h))
    eps = nn.Conv(x.shape[-1], (3, 3), padding="SAME", name="conv_out", **kw)(h)
    return eps.astype(jnp.float32)

  def _cross_attend(self, h, cond, drop):
    """Image tokens attend to [a learned null token; text tokens]; a dropped row sees only the
    null token (which also keeps every softmax row non-empty)."""
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    b, hh, ww, c = h.shape
    tokens = Dense(c, name="text_tokens_proj", **kw)(cond["tokens"])
    null = self.param("null_token", nn.initializers.normal(0.02), (1, 1, c), self.param_dtype)
    context = jnp.concatenate([jnp.broadcast_to(null.astype(tokens.dtype), (b, 1, c)), tokens], 1)
    mask = cond.get("mask")
    mask = jnp.ones(tokens.shape[:2], bool) if mask is None else jnp.asarray(mask, bool)
    mask = jnp.concatenate([jnp.ones((b, 1), bool), mask & ~drop[:, None]], axis=1)
    q = layer_norm(name="cross_ln", **kw)(h.reshape(b, hh * ww, c))
    out = MultiHeadAttention(self.num_heads, name="cross_attn", **kw)(
        q, context=context, bias=attention_bias(mask, False, q.shape[1]))
    return out.reshape(h.shape)


def guided_eps(apply_fn, params, x, t, cond, guidance_scale) -> jax.Array:
  """Classifier-free guidance: ε̂_u + s (ε̂_c - ε̂_u), both from one call on a doubled batch.

  s = 1 is the conditional prediction, s = 0 the unconditional one, s > 1 follows the text more.
  """
  b = x.shape[0]
  twice = lambda a: jnp.concatenate([a, a], axis=0)
  t = jnp.broadcast_to(jnp.asarray(t), (b,))
  drop = jnp.arange(2 * b) >= b
  eps = apply_fn(params, twice(x), twice(t), jax.tree.map(twice, cond), drop=drop)
  cond_eps, uncond_eps = eps[:b], eps[b:]
  return uncond_eps + guidance_scale * (cond_eps - uncond_eps)


def sample(apply_fn, params, cond, rng, alpha_bars, shape, num_steps: int = 50,
           guidance_scale=3.0, eta=0.0, clip_denoised: bool = True) -> jax.Array:
  """DDIM sampling with classifier-free guidance -> images [batch, *shape] float32.

  shape: (height, width, channels); batch comes from `cond`. num_steps evenly spaced timesteps
  from the last to the first of len(alpha_bars). eta = 0 is deterministic given `rng` (only the
  initial noise is random); eta = 1 is DDPM-like ancestral sampling. clip_denoised clips the
  predicted x_0 to [-1, 1] (and re-derives ε from it). jit with num_steps, shape static.
  """
  steps = alpha_bars.shape[0]
  if not isinstance(num_steps, (int, np.integer)) or not 1 <= num_steps <= steps:
    raise ValueError(f"num_steps={num_steps!r}; valid: 1..{steps} (the schedule's steps).")
  if len(shape) != 3:
    raise ValueError(f"shape={tuple(shape)}; it must be (height, width, channels).")
  if isinstance(eta, (int, float)) and eta < 0:
    raise ValueError(f"eta={eta}; it must be >= 0 (0 = deterministic DDIM, 1 = DDPM-like).")
  batch = jax.tree.leaves(cond)[0].shape[0]
  ts = jnp.asarray(np.linspace(steps - 1, 0, num_steps).round().astype(np.int32))
  ab = alpha_bars[ts]
  ab_prev = jnp.concatenate([ab[1:], jnp.ones((1,), ab.dtype)])
  k_init, k_noise = jax.random.split(rng)

  def step(i, x):
    a, a_prev = ab[i], ab_prev[i]
    eps = guided_eps(apply_fn, params, x, ts[i], cond, guidance_scale)
    x0 = (x - jnp.sqrt(1 - a) * eps) / jnp.sqrt(a)
    if clip_denoised:
      x0 = jnp.clip(x0, -1.0, 1.0)
      eps = (x - jnp.sqrt(a) * x0) / jnp.sqrt(1 - a)
    sigma = eta * jnp.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
    noise = jax.random.normal(jax.random.fold_in(k_noise, i), x.shape, jnp.float32)
    direction = jnp.sqrt(jnp.maximum(1 - a_prev - sigma ** 2, 0.0)) * eps
    return jnp.sqrt(a_prev) * x0 + direction + sigma * noise

  x = jax.random.normal(k_init, (batch, *shape), jnp.float32)
  return jax.lax.fori_loop(0, num_steps, step, x)
