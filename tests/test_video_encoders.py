"""Video encoders: shapes, which ones see frame order, and ViViT initialised from an image ViT
(a still video then encodes as its frame did)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax import models
from mmjax.models.image.vit import ViT
from mmjax.models.video.vivit import ViViT, inflate_vit, tubelets

VIT = dict(width=16, depth=2, num_heads=2, mlp_dim=32)
VIDEO = jax.random.normal(jax.random.key(0), (2, 4, 16, 16, 3))
CNN = dict(image="cnn", image_options=dict(channels=(4, 8)))


def encode(module, video=VIDEO, seed=1):
  params = module.init(jax.random.key(seed), video)
  return module.apply(params, video), params


# Each module's pooled and token shapes for VIDEO [2, 4 frames, 16, 16, 3], and whether it sees
# the order of frames.
@pytest.mark.parametrize("module,pooled,tokens,sees_order", [
    (models.VIDEO_ENCODERS.build("frames", **CNN), (2, 8), (2, 4, 8), False),
    (models.VIDEO_ENCODERS.build("frames", **CNN, temporal="transformer", num_heads=2),
     (2, 8), (2, 4, 8), True),
    (ViViT(tubelet=(2, 8), variant="joint", **VIT), (2, 16), (2, 2 * 4, 16), True),
    (ViViT(tubelet=(2, 8), variant="factorised", temporal_depth=1, **VIT), (2, 16), (2, 2, 16),
     True),
    (ViViT(tubelet=(1, 8), variant="factorised", temporal_depth=0, **VIT), (2, 16), (2, 4, 16),
     False),
    (ViViT(tubelet=(1, 4), variant="factorised", temporal_depth=0, pool="mean", **VIT),
     (2, 16), (2, 4, 16), False),
])
def test_shapes_and_which_encoders_see_the_order_of_frames(module, pooled, tokens, sees_order):
  (p, t), params = encode(module)
  assert p.shape == pooled and t.shape == tokens
  reversed_frames = module.apply(params, VIDEO[:, ::-1])[0]
  # Order-blind ones differ only by float summation order.
  assert (float(jnp.abs(reversed_frames - p).max()) > 1e-5) == sees_order


def test_tubelets_hold_the_vit_patches_of_each_frame():
  x = tubelets(VIDEO, 2, 8)  # [2, 2 time steps, 4 patches, 2 * 8*8*3]
  frame1 = VIDEO[:, 1].reshape(2, 2, 8, 2, 8, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 4, -1)
  np.testing.assert_array_equal(x[:, 0, :, 192:], frame1)  # time step 0, its second frame
  with pytest.raises(ValueError, match="not divisible into tubelets of 3 frames"):
    tubelets(VIDEO, 3, 8)


@pytest.mark.parametrize("variant,method,scan", [("joint", "central_frame", False),
                                                 ("joint", "average", False),
                                                 ("factorised", "central_frame", False),
                                                 ("factorised", "average", True)])
def test_inflated_vit_encodes_a_still_video_as_its_frame(variant, method, scan):
  """Joint: every token repeats once per time step, which attention cannot tell from one copy,
  unless a class token (seen once) is among them: so mean pooling there."""
  frame = jax.random.normal(jax.random.key(2), (2, 16, 16, 3))
  still = jnp.repeat(frame[:, None], 4, axis=1)
  pool = "mean" if variant == "joint" else "cls"
  vit = ViT(patch_size=8, patch_bias=True, pool=pool, **VIT)
  vit_params = vit.init(jax.random.key(3), frame)["params"]
  vivit = ViViT(tubelet=(2, 8), variant=variant, temporal_depth=0, patch_bias=True, pool=pool,
                scan=scan, **VIT)
  params = inflate_vit(vit_params, vivit.init(jax.random.key(4), still)["params"], 2, method)
  np.testing.assert_allclose(vivit.apply({"params": params}, still)[0],
                             vit.apply({"params": vit_params}, frame)[0], atol=2e-5)


def test_inflation_errors_name_the_mismatch():
  frame = jnp.zeros((1, 16, 16, 3))
  vit_params = ViT(patch_size=8, **VIT).init(jax.random.key(0), frame)["params"]
  other = ViViT(tubelet=(2, 4), **VIT).init(jax.random.key(0), VIDEO[:1])["params"]
  with pytest.raises(ValueError, match="method='middle'; valid: central_frame, average"):
    inflate_vit(vit_params, other, 2, "middle")
  with pytest.raises(ValueError, match=r"embedding: the ViT's shapes .*\(384, 16\).* differ"):
    inflate_vit(vit_params, other, 2)


def test_bad_options_name_the_valid_ones():
  with pytest.raises(ValueError, match="variant='spatial'; valid: joint, factorised"):
    encode(ViViT(variant="spatial", **VIT))
  with pytest.raises(ValueError, match="temporal='lstm'; valid: mean, transformer"):
    encode(models.VIDEO_ENCODERS.build("frames", **CNN, temporal="lstm"))
  with pytest.raises(ValueError, match=r"valid: \[batch, frames, h, w, c\]"):
    encode(models.VIDEO_ENCODERS.build("frames", **CNN), VIDEO[0])
