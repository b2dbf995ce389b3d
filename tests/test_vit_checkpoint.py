"""ViT .npz import: a tiny random checkpoint with the published google-research/vision_transformer
names against a NumPy ViT written from the paper (and from vit_jax/models_vit.py's layer order),
both position-embedding layouts, and the errors for missing, unexpected and misshapen weights."""

import math

import jax
import numpy as np
import pytest

from mmjax.models import ViT
from mmjax.models.image.vit_checkpoint import load_vit_npz

P, C, D, H, MLP, DEPTH, GRID = 4, 3, 16, 2, 24, 2, 2  # 8x8 images: 2x2 patches of 4.


def tiny_npz(seed=0, layout="vit_jax", with_cls=True, depth=DEPTH):
  """Random float32 weights named as vit_jax checkpoints (layout "vit_jax": positions of the
  class token and the patches under Transformer/posembed_input) or big_vision's (top-level
  pos_embedding of the patches only), with the classifier a real checkpoint carries."""
  rng = np.random.default_rng(seed)
  n = lambda *s: (0.3 * rng.standard_normal(s)).astype(np.float32)
  w = {"embedding/kernel": n(P, P, C, D), "embedding/bias": n(D),
       "Transformer/encoder_norm/scale": 1 + n(D), "Transformer/encoder_norm/bias": n(D),
       "pre_logits/kernel": n(D, D), "pre_logits/bias": n(D),
       "head/kernel": n(D, 5), "head/bias": n(5)}
  tokens = GRID * GRID
  if layout == "vit_jax":
    w["Transformer/posembed_input/pos_embedding"] = n(1, tokens + with_cls, D)
  else:
    w["pos_embedding"] = n(1, tokens, D)
  if with_cls:
    w["cls"] = n(1, 1, D)
  for i in range(depth):
    pre = f"Transformer/encoderblock_{i}/"
    for ln in ("LayerNorm_0", "LayerNorm_2"):
      w[f"{pre}{ln}/scale"], w[f"{pre}{ln}/bias"] = 1 + n(D), n(D)
    for t in ("query", "key", "value"):
      w[f"{pre}MultiHeadDotProductAttention_1/{t}/kernel"] = n(D, H, D // H)
      w[f"{pre}MultiHeadDotProductAttention_1/{t}/bias"] = n(H, D // H)
    w[f"{pre}MultiHeadDotProductAttention_1/out/kernel"] = n(H, D // H, D)
    w[f"{pre}MultiHeadDotProductAttention_1/out/bias"] = n(D)
    w[f"{pre}MlpBlock_3/Dense_0/kernel"], w[f"{pre}MlpBlock_3/Dense_0/bias"] = n(D, MLP), n(MLP)
    w[f"{pre}MlpBlock_3/Dense_1/kernel"], w[f"{pre}MlpBlock_3/Dense_1/bias"] = n(MLP, D), n(D)
  return w


def numpy_vit(w, images):
  """The original ViT forward in float64: stride-p convolution, [cls] prepended, positions added
  (vit_jax) or positions added then [cls] (big_vision), pre-LN blocks with flax's LayerNorm
  (eps 1e-6) and tanh GELU, final LayerNorm, the class token's output (or the token mean)."""
  w = {k: v.astype(np.float64) for k, v in w.items()}
  x = images.astype(np.float64)
  b = x.shape[0]
  ln = lambda x, p: ((x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6)
                     * w[p + "/scale"] + w[p + "/bias"])
  gelu = lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
  k = w["embedding/kernel"]
  tok = np.stack([np.einsum("bhwc,hwcd->bd", x[:, i * P:(i + 1) * P, j * P:(j + 1) * P], k)
                  for i in range(GRID) for j in range(GRID)], 1) + w["embedding/bias"]
  has_cls = "cls" in w
  if "pos_embedding" in w:
    tok = tok + w["pos_embedding"][0]
    if has_cls:
      tok = np.concatenate([np.repeat(w["cls"], b, 0), tok], 1)
  else:
    if has_cls:
      tok = np.concatenate([np.repeat(w["cls"], b, 0), tok], 1)
    tok = tok + w["Transformer/posembed_input/pos_embedding"][0]
  x = tok
  for i in range(DEPTH):
    pre = f"Transformer/encoderblock_{i}/"
    att = pre + "MultiHeadDotProductAttention_1/"
    y = ln(x, pre + "LayerNorm_0")
    q, kk, v = (np.einsum("btd,dhe->bthe", y, w[att + t + "/kernel"]) + w[att + t + "/bias"]
                for t in ("query", "key", "value"))
    s = np.einsum("bqhe,bkhe->bhqk", q, kk) / math.sqrt(D // H)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    o = np.einsum("bhqk,bkhe->bqhe", a, v)
    x = x + np.einsum("bqhe,hed->bqd", o, w[att + "out/kernel"]) + w[att + "out/bias"]
    y = ln(x, pre + "LayerNorm_2")
    y = gelu(y @ w[pre + "MlpBlock_3/Dense_0/kernel"] + w[pre + "MlpBlock_3/Dense_0/bias"])
    x = x + y @ w[pre + "MlpBlock_3/Dense_1/kernel"] + w[pre + "MlpBlock_3/Dense_1/bias"]
  x = ln(x, "Transformer/encoder_norm")
  return (x[:, 0], x[:, 1:]) if has_cls else (x.mean(1), x)


@pytest.mark.parametrize("layout,with_cls", [("vit_jax", True), ("big_vision", True),
                                             ("big_vision", False)])
def test_loaded_vit_matches_numpy_reference(tmp_path, layout, with_cls):
  w = tiny_npz(layout=layout, with_cls=with_cls)
  path = tmp_path / "vit.npz"
  np.savez(path, **w)
  config, params = load_vit_npz(str(path), image_size=GRID * P)
  assert config == dict(patch_size=P, width=D, depth=DEPTH, num_heads=H, mlp_dim=MLP,
                        pool="cls" if with_cls else "mean", posemb="learned", patch_bias=True,
                        ln_pre=False, ln_eps=1e-6, gelu_approximate=True)
  images = np.random.default_rng(1).uniform(-1, 1, (3, GRID * P, GRID * P, C)).astype(np.float32)
  pooled, tokens = jax.jit(ViT(**config).apply)({"params": params}, images)
  want_pooled, want_tokens = numpy_vit(w, images)
  np.testing.assert_allclose(pooled, want_pooled, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(tokens, want_tokens, rtol=1e-5, atol=1e-5)
  if layout == "vit_jax":  # Not vacuous: the exact-erf GELU (our default) differs measurably.
    exact = ViT(**{**config, "gelu_approximate": False}).apply({"params": params}, images)[0]
    assert np.abs(np.asarray(exact) - want_pooled).max() > 1e-5


@pytest.mark.parametrize("layout,with_cls", [("vit_jax", True), ("big_vision", False)])
def test_shapes_only_gives_the_same_config_without_reading_arrays(tmp_path, layout, with_cls,
                                                                  monkeypatch):
  path = tmp_path / "vit.npz"
  np.savez(path, **tiny_npz(layout=layout, with_cls=with_cls))
  config, _ = load_vit_npz(str(path), image_size=GRID * P)
  monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("weights=False read the arrays"))
  assert load_vit_npz(str(path), image_size=GRID * P, weights=False) == (config, None)
  with pytest.raises(ValueError, match="image_size=16 .* use image_size=8"):
    load_vit_npz(str(path), image_size=16, weights=False)


def test_errors_name_the_missing_unexpected_and_misshapen_weights(tmp_path):
  w = tiny_npz()
  pre = "Transformer/encoderblock_1/"
  missing = {k: v for k, v in w.items() if k != pre + "LayerNorm_2/bias"}
  with pytest.raises(ValueError, match="missing 1 weight.*encoderblock_1/LayerNorm_2/bias"):
    load_vit_npz(missing)
  with pytest.raises(ValueError, match="does not use: Transformer/extra/kernel"):
    load_vit_npz({**w, "Transformer/extra/kernel": np.zeros((2, 2), np.float32)})
  bad = {**w, pre + "MlpBlock_3/Dense_1/bias": np.zeros(D + 1, np.float32)}
  for weights in (True, False):  # the shapes-only read checks the same
    with pytest.raises(ValueError, match=r"block1'\]\['mlp'\]\['fc2'\]\['bias'\]: checkpoint "
                                         r"\(17,\) vs model \(16,\)"):
      load_vit_npz(bad, weights=weights)
  with pytest.raises(ValueError, match="image_size=16 .* use image_size=8"):
    load_vit_npz(w, image_size=16)
  with pytest.raises(ValueError, match="not a ViT checkpoint: missing embedding/kernel"):
    load_vit_npz({k: v for k, v in w.items() if k != "embedding/kernel"})
  with pytest.raises(FileNotFoundError, match="no ViT checkpoint at"):
    load_vit_npz(str(tmp_path / "absent.npz"))
