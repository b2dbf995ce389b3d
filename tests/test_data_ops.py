"""Host-side image and audio preprocessing ops: shapes, values, seeded determinism, errors;
image decoding."""

import io

import jax
import numpy as np
import pytest
from PIL import Image

from mmjax.data.audio_ops import AUDIO_OPS, AudioOps, pcm_to_float
from mmjax.data.image_ops import IMAGE_OPS, ImageOps, decode_image, resize
from mmjax.registry import ConfigError


def image(h=24, w=32, c=3, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("size", [(10, 7), (48, 40)])  # shrink, enlarge
def test_resize_matches_jax_antialiased_linear(size):
  x = np.random.default_rng(1).random((37, 23, 3)).astype(np.float32)
  expected = jax.image.resize(x, (*size, 3), "linear", antialias=True)
  np.testing.assert_allclose(resize(x, size), expected, atol=1e-5)


@pytest.mark.parametrize("size", [(10, 7), (48, 40)])
def test_resize_op_equals_pillow_bilinear_on_the_uint8_image(size):
  x = image(37, 23)
  ours = ImageOps([{"op": "resize", "size": list(size)}])(x, 0)
  theirs = np.asarray(Image.fromarray(x).resize(size[::-1], Image.Resampling.BILINEAR)) / 255
  # Pillow resizes 8-bit images in two passes, rounding to 8 bits after each.
  np.testing.assert_allclose(ours, theirs, atol=1 / 255)


def test_resize_keeps_constants_and_identity():
  x = np.full((30, 20, 3), 0.3, np.float32)
  np.testing.assert_allclose(resize(x, (7, 11)), 0.3, atol=1e-6)
  y = image().astype(np.float32)
  np.testing.assert_array_equal(resize(y, (24, 32)), y)


def test_resize_shorter_keeps_aspect_then_center_crop_is_the_middle():
  x = image(20, 40)
  out = ImageOps([{"op": "resize_shorter", "size": 10}])(x, 0)
  assert out.shape == (10, 20, 3)
  crop = ImageOps([{"op": "center_crop", "size": [10, 16]}])(x, 0)
  np.testing.assert_array_equal(crop, x[5:15, 12:28].astype(np.float32) / 255)


def test_random_crop_is_a_window_of_the_padded_image():
  x = image(12, 12)
  padded = np.pad(x.astype(np.float32) / 255, ((2, 2), (2, 2), (0, 0)))
  for seed in range(5):
    out = ImageOps([{"op": "random_crop", "size": 12, "padding": 2}])(x, seed)
    windows = [padded[t:t + 12, l:l + 12] for t in range(5) for l in range(5)]
    assert any(np.array_equal(out, w) for w in windows)


def test_random_resized_crop_shape_range_and_seed_dependence():
  ops = ImageOps([{"op": "random_resized_crop", "size": 16, "scale": [0.3, 1.0]}])
  x = image(40, 60)
  outs = [ops(x, (7, s)) for s in range(4)]
  assert all(o.shape == (16, 16, 3) and 0 <= o.min() <= o.max() <= 1 for o in outs)
  assert outs[0].tobytes() == ops(x, (7, 0)).tobytes()
  assert len({o.tobytes() for o in outs}) == 4


def test_flip_and_normalize_values():
  x = image()
  f = x.astype(np.float32) / 255
  np.testing.assert_array_equal(ImageOps([{"op": "random_flip", "prob": 1.0}])(x, 0), f[:, ::-1])
  np.testing.assert_array_equal(ImageOps([{"op": "random_flip", "prob": 0.0}])(x, 0), f)
  norm = ImageOps([{"op": "normalize", "mean": [0.1, 0.2, 0.3], "std": [0.5, 0.25, 2.0]}])
  np.testing.assert_allclose(norm(x, 0), (f - [0.1, 0.2, 0.3]) / [0.5, 0.25, 2.0], atol=1e-6)
  grey = ImageOps(["to_rgb"])(image(c=1), 0)
  assert grey.shape == (24, 32, 3) and np.array_equal(grey[..., 0], grey[..., 2])


def test_same_seeds_give_byte_identical_batches():
  ops = ImageOps([{"op": "random_resized_crop", "size": 8}, "random_flip"])
  images = [image(seed=i) for i in range(6)]
  seeds = [(3, i) for i in range(6)]
  a, b = ops.batch(images, seeds), ops.batch(images, seeds)
  assert a.shape == (6, 8, 8, 3) and a.tobytes() == b.tobytes()
  assert ops.batch(images, [(4, i) for i in range(6)]).tobytes() != a.tobytes()


def encoded(pixels, fmt="PNG", **save):
  out = io.BytesIO()
  Image.fromarray(pixels).save(out, format=fmt, **save)
  return out.getvalue()


def test_decode_image_gives_rgb_for_every_mode():
  rgb = image(6, 9)
  grey = rgb[..., 0]
  as_rgb = lambda g: np.repeat(g[..., None], 3, axis=-1)
  cases = [(encoded(rgb), rgb), (encoded(grey), as_rgb(grey)),
           (encoded(np.dstack([rgb, grey])), rgb),  # RGBA: alpha dropped
           (encoded(grey.astype(np.uint16) * 256 + 200), as_rgb(grey)),  # 16-bit: the high byte
           (encoded(rgb, "BMP"), rgb),
           (encoded(rgb, "GIF"), None)]  # palette: 256 colours, so only the shape is exact
  for data, want in cases:
    got = decode_image(data)
    assert got.dtype == np.uint8 and got.shape == (6, 9, 3)
    if want is not None:
      np.testing.assert_array_equal(got, want)


def test_decode_image_turns_by_exif_orientation_and_reads_paths(tmp_path):
  rgb = image(6, 9)
  exif = Image.Exif()
  exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
  (tmp_path / "a.png").write_bytes(encoded(rgb, exif=exif.tobytes()))
  np.testing.assert_array_equal(decode_image(str(tmp_path / "a.png")), np.rot90(rgb, k=-1))
  with pytest.raises(ValueError, match="cannot decode 11 bytes as an image"):
    decode_image(b"not a file!")


def test_jpeg_decodes_downscaled_but_not_below_min_side():
  data = encoded(image(100, 140), "JPEG")
  assert decode_image(data).shape == (100, 140, 3)
  assert decode_image(data, min_side=30).shape == (50, 70, 3)  # 1/2: 1/4 would give 25 < 30
  assert decode_image(data, min_side=12).shape == (13, 18, 3)  # 1/8 at most
  assert decode_image(encoded(image(100, 140)), min_side=12).shape == (100, 140, 3)  # PNG


def test_op_config_errors_name_the_choices():
  with pytest.raises(ConfigError, match=r"image_ops\[1\]=.*'rezise'.*resize"):
    ImageOps(["random_flip", {"op": "rezise", "size": 4}])
  with pytest.raises(ConfigError, match="no option 'sise'.*size"):
    ImageOps([{"op": "resize", "sise": 4}])
  with pytest.raises(ConfigError, match="no 'op' key"):
    ImageOps([{"size": 4}])
  with pytest.raises(ValueError, match="smaller than the crop"):
    ImageOps([{"op": "center_crop", "size": 64}])(image(), 0)
  with pytest.raises(ValueError, match="different shapes.*resize"):
    ImageOps().batch([image(10, 10), image(12, 10)], [0, 1])
  with pytest.raises(ValueError, match="where='end'; valid: start, center, random"):
    AudioOps([{"op": "pad_or_crop", "length": 4, "where": "end"}])(np.zeros(8), 8000, 0)
  assert {"resize", "random_resized_crop", "normalize"} <= set(IMAGE_OPS.names())
  assert {"resample", "pad_or_crop", "normalize_gain", "add_noise"} <= set(AUDIO_OPS.names())


def sine(freq, rate, seconds=0.5):
  return np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate).astype(np.float32)


def peak_hz(x, rate):
  return np.argmax(np.abs(np.fft.rfft(x))) * rate / len(x)


def test_resample_keeps_pitch_and_duration():
  x = sine(440, 8000)
  y, rate = AudioOps([{"op": "resample", "rate": 22050}])(x, 8000, 0)
  assert rate == 22050 and len(y) == 11025
  assert abs(peak_hz(y, 22050) - 440) < 3
  # A tone above the new Nyquist frequency is filtered out, not aliased.
  z, _ = AudioOps([{"op": "resample", "rate": 4000}])(sine(3000, 16000), 16000, 0)
  assert np.abs(z[100:-100]).max() < 0.05


def test_pad_or_crop_positions():
  x = np.arange(1, 11, dtype=np.float32)
  pad = lambda **kw: AudioOps([{"op": "pad_or_crop", **kw}])(x, 8000, 0)[0]
  np.testing.assert_array_equal(pad(length=12), np.r_[x, 0, 0])
  np.testing.assert_array_equal(pad(length=4), x[:4])
  np.testing.assert_array_equal(pad(length=4, where="center"), x[3:7])
  windows = {tuple(AudioOps([{"op": "pad_or_crop", "length": 4, "where": "random"}])(x, 8000, s)[0])
             for s in range(20)}
  assert len(windows) > 1 and all(w[1:] == tuple(np.arange(w[0] + 1, w[0] + 4)) for w in windows)


def test_gain_normalisation_and_noise_snr():
  x = 0.01 * sine(300, 8000, 2.0)
  rms, _ = AudioOps([{"op": "normalize_gain", "target_db": -20}])(x, 8000, 0)
  assert np.sqrt(np.mean(rms ** 2)) == pytest.approx(0.1, rel=1e-4)
  peak, _ = AudioOps([{"op": "normalize_gain", "target_db": -6, "mode": "peak"}])(x, 8000, 0)
  assert np.abs(peak).max() == pytest.approx(10 ** (-6 / 20), rel=1e-4)
  silent, _ = AudioOps(["normalize_gain"])(np.zeros(100), 8000, 0)
  assert not silent.any()
  noisy, _ = AudioOps([{"op": "add_noise", "snr_db": 10}])(x, 8000, (1, 2))
  snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((noisy - x) ** 2))
  assert snr == pytest.approx(10, abs=0.3)
  again, _ = AudioOps([{"op": "add_noise", "snr_db": 10}])(x, 8000, (1, 2))
  assert again.tobytes() == noisy.tobytes()


def test_pcm_to_float_scales_and_mixes_down():
  np.testing.assert_allclose(pcm_to_float(np.array([-32768, 0, 16384], np.int16)), [-1, 0, 0.5])
  np.testing.assert_allclose(pcm_to_float(np.array([0, 128, 255], np.uint8)),
                             [-1, 0, 127 / 128])
  np.testing.assert_allclose(pcm_to_float(np.array([[0.5, -0.5], [1.0, 0.0]])), [0, 0.5])
  with pytest.raises(ValueError, match="different .samples, rate."):
    AudioOps().batch([np.zeros(4), np.zeros(5)], [8000, 8000], [0, 1])
