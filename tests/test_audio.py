"""Log-mel front end against tf.signal, and the audio encoders' shapes, gradients, bf16 numerics
and errors. Shape and error checks trace with jax.eval_shape (no compile) to stay fast."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.models import AUDIO_ENCODERS
from mmjax.models.audio import log_mel as lm

SR = 16000


def key(seed):
  # XLA:CPU takes ~2.5 s to compile threefry bits for each init; "rbg" keys compile in ~0.1 s.
  return jax.random.key(seed, impl="rbg")


def noise(batch, samples, seed=0):
  return np.random.default_rng(seed).normal(size=(batch, samples)).astype(np.float32)


@pytest.mark.parametrize("length,step", [(12, 5), (12, 1), (4, 7)])
def test_frame_matches_naive_indexing_on_any_axis(length, step):
  # (12, 1) takes the gather path (12 chunks per frame); the others the reshape path.
  x = np.arange(3 * 40 * 2, dtype=np.float32).reshape(3, 40, 2)
  frames = 1 + (40 - length) // step
  want = np.stack([x[:, i * step:i * step + length] for i in range(frames)], axis=1)
  np.testing.assert_array_equal(lm.frame(jnp.asarray(x), length, step, axis=1), want)


def test_stft_and_log_mel_match_tensorflow():
  tf = pytest.importorskip("tensorflow")
  wave = noise(2, 3001)
  for length, step, fft in [(400, 160, None), (256, 100, 512), (50, 80, 64)]:
    ours = np.asarray(jax.jit(lm.stft, static_argnums=(1, 2, 3))(wave, length, step, fft))
    ref = tf.signal.stft(wave, length, step, fft).numpy()  # periodic hann, no padding.
    assert ours.shape == ref.shape == (2, 1 + (3001 - length) // step, ref.shape[-1])
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
  for spectrum in ("power", "magnitude"):
    ours = lm.log_mel_spectrogram(wave, SR, 400, 160, num_mel_bins=40, lower_hz=125.0,
                                  upper_hz=7500.0, spectrum=spectrum, eps=1e-6)
    mag = tf.abs(tf.signal.stft(wave, 400, 160, 512))
    spec = mag * mag if spectrum == "power" else mag
    mel = tf.matmul(spec, tf.signal.linear_to_mel_weight_matrix(40, 257, SR, 125.0, 7500.0))
    # A log difference is the relative difference of the mel energies.
    np.testing.assert_allclose(ours, tf.math.log(mel + 1e-6).numpy(), rtol=0, atol=1e-4)


@pytest.mark.parametrize("mels,bins,sr,lo,hi", [(64, 257, 16000, 20.0, 8000.0),
                                               (40, 129, 8000, 125.0, 3800.0)])
def test_mel_filterbank_matches_tensorflow(mels, bins, sr, lo, hi):
  tf = pytest.importorskip("tensorflow")
  ref = tf.signal.linear_to_mel_weight_matrix(mels, bins, sr, lo, hi).numpy()
  np.testing.assert_allclose(lm.mel_filterbank(mels, bins, sr, lo, hi), ref, rtol=1e-4,
                             atol=1e-4)


@pytest.mark.parametrize("k", [10, 20, 30])
def test_pure_sine_peaks_in_its_mel_bin(k):
  # A tone at the centre frequency of mel bin k (HTK scale, 32 bins over 125..7500 Hz).
  centers = np.linspace(1127 * np.log1p(125 / 700), 1127 * np.log1p(7500 / 700), 34)[1:-1]
  hz = 700 * np.expm1(centers[k] / 1127)
  t = np.arange(SR // 4) / SR
  wave = np.sin(2 * np.pi * hz * t).astype(np.float32)[None]
  spec = np.asarray(lm.log_mel_spectrogram(wave, SR, 400, 160, num_mel_bins=32, lower_hz=125.0,
                                           upper_hz=7500.0))
  assert np.all(spec.argmax(axis=-1) == k)


def test_log_mel_module_errors_name_the_minimum_and_the_choices():
  mod = lm.LogMel(sample_rate=SR, frame_length_ms=25, frame_step_ms=10, num_mel_bins=16)
  out = jax.eval_shape(mod.apply, {}, jnp.zeros((2, 1000)))
  assert out.shape == (2, 1 + (1000 - 400) // 160, 16) and mod.min_samples(3) == 720
  with pytest.raises(ValueError, match="399 samples is shorter than one frame; need at least "
                                       "400 samples"):
    jax.eval_shape(mod.apply, {}, jnp.zeros((2, 399)))
  with pytest.raises(ValueError, match="spectrum='db'; valid: power, magnitude"):
    lm.LogMel(spectrum="db").apply({}, jnp.zeros((1, 800)))
  with pytest.raises(ValueError, match="window='kaiser'; valid: hann, hamming, none"):
    lm.stft(jnp.zeros((1, 800)), 400, 160, window="kaiser")
  with pytest.raises(ValueError, match="upper_hz=9000.0; need 0 <= lower_hz < upper_hz"):
    lm.mel_filterbank(16, 257, SR, 20.0, 9000.0)


TINY = {
    "wave_cnn": dict(channels=(8, 16), kernel_sizes=(40, 3), strides=(8, 1), pool_size=4),
    "spec_cnn": dict(channels=(8, 16), convs_per_block=(1, 1), num_mel_bins=32),
    "ast": dict(patch_size=(8, 8), patch_stride=(6, 6), width=32, depth=1, num_heads=2,
                mlp_dim=64, num_mel_bins=32),
}
SAMPLES = 4000  # 0.25 s: 23 log-mel frames.


def expected_shapes(name):
  frames = 1 + (SAMPLES - 400) // 160
  if name == "wave_cnn":  # Two VALID convs, each followed by a pool of 4.
    n = (((SAMPLES - 40) // 8 + 1) // 4 - 3 + 1) // 4
    return (2, 16), (2, n, 16)
  if name == "spec_cnn":  # Two 2x2 SAME pools halve the time axis, rounding up.
    return (2, 16), (2, -(-frames // 4), 16)
  nt, nf = 1 + (frames - 8) // 6, 1 + (32 - 8) // 6
  return (2, 32), (2, nt * nf, 32)


@pytest.mark.parametrize("name", sorted(TINY))
def test_encoder_shapes_gradients_and_bf16_agreement(name):
  waves = jnp.asarray(noise(2, SAMPLES, seed=1))
  model = AUDIO_ENCODERS.build(name, **TINY[name])
  bf16 = AUDIO_ENCODERS.build(name, dtype=jnp.bfloat16, **TINY[name])
  pooled_shape, tokens_shape = expected_shapes(name)
  rng = np.random.default_rng(2)  # Random read-outs, so no gradient cancels by symmetry.
  r1, r2 = rng.normal(size=pooled_shape), rng.normal(size=tokens_shape)

  def loss(p):
    pooled, tokens = model.apply(p, waves)
    return jnp.sum(r1 * pooled) + jnp.sum(r2 * tokens), (pooled, tokens)

  @jax.jit  # One compile: init, float32 outputs and gradients, the bf16 model's outputs.
  def run(k):
    params = model.init(k, waves)
    return jax.grad(loss, has_aux=True)(params), bf16.apply(params, waves)  # Same f32 params.

  (grads, (pooled, tokens)), (p16, t16) = run(key(0))
  assert (pooled.shape, tokens.shape) == (pooled_shape, tokens_shape)
  assert pooled.dtype == tokens.dtype == jnp.float32
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert jnp.all(jnp.isfinite(g)) and jnp.any(g != 0), jax.tree_util.keystr(path)
  assert p16.dtype == t16.dtype == jnp.bfloat16
  for low, full in ((p16, pooled), (t16, tokens)):
    low = np.asarray(low, np.float32)
    assert np.linalg.norm(low - full) <= 0.05 * np.linalg.norm(full)


def test_ast_per_example_normalisation_removes_loudness():
  # Scaling a clip by c shifts its log-mel by 2 log c everywhere; per-example norm cancels it.
  quiet, other = noise(2, SAMPLES, seed=3), noise(2, SAMPLES, seed=4)
  model = AUDIO_ENCODERS.build("ast", spec_norm="per_example", **dict(TINY["ast"], pool="mean"))
  batch = np.concatenate([quiet, 5 * quiet, other])
  (pooled, _), _ = jax.jit(model.init_with_output)(key(0), batch)
  quiet, loud, other = np.split(np.asarray(pooled), 3)
  np.testing.assert_allclose(loud, quiet, atol=1e-4)
  assert np.abs(other - quiet).max() > 0.1  # ... while a different clip does change it.


@pytest.mark.parametrize("name,bad,message", [
    ("wave_cnn", dict(strides=(8,)), "channels, kernel_sizes and strides need one entry per "
                                     "block and the same length; got 2, 2, 1"),
    ("spec_cnn", dict(freq_pool="sum"), "freq_pool='sum'; valid: mean, max"),
    ("ast", dict(pool="max"), "pool='max'; valid: cls, mean"),
    ("ast", dict(spec_norm="batch"), "spec_norm='batch'; valid: per_example, fixed, none"),
])
def test_bad_field_values_name_the_choices(name, bad, message):
  model = AUDIO_ENCODERS.build(name, **dict(TINY[name], **bad))
  with pytest.raises(ValueError, match=message):
    jax.eval_shape(model.init, key(0), jnp.zeros((1, SAMPLES)))


@pytest.mark.parametrize("name,minimum", [
    ("wave_cnn", ((1 * 4 - 1 + 3) * 4 - 1) * 8 + 40),  # Undo pool, conv, pool, conv.
    ("spec_cnn", 400),  # One 25 ms frame.
    ("ast", 400 + 7 * 160),  # One 8-frame patch.
])
def test_too_short_clip_names_the_minimum_length(name, minimum):
  model = AUDIO_ENCODERS.build(name, **TINY[name])
  jax.eval_shape(model.init, key(0), jnp.zeros((1, minimum)))  # Exactly enough.
  with pytest.raises(ValueError, match=f"{minimum - 1} samples .*need at least.* {minimum}"):
    jax.eval_shape(model.init, key(0), jnp.zeros((1, minimum - 1)))


def test_ast_rejects_a_clip_length_other_than_the_init_one():
  model = AUDIO_ENCODERS.build("ast", **TINY["ast"])
  params = jax.eval_shape(model.init, key(0), jnp.zeros((1, SAMPLES)))
  with pytest.raises(ValueError, match="positions are learned per patch"):
    jax.eval_shape(model.apply, params, jnp.zeros((1, 2 * SAMPLES)))
