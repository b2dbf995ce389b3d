"""ResNet-10/18/34/50 image encoder (He et al. 2016, "Deep Residual Learning for Image
Recognition").

v1.5 layout (the stride of a bottleneck sits on its 3x3 conv, as torchvision and the flax ImageNet
example), and the last norm scale of every residual branch starts at zero (Goyal et al. 2017,
"Accurate, Large Minibatch SGD"), so each block starts as the identity and deep stacks train
stably at large batch.
"""

import math
from typing import Any, Callable, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.batch_norm import batch_norm
from mmjax.models.hooks import feature_hook

# depth -> (blocks per stage, bottleneck blocks?). 10: one basic block per stage (the stages of
# timm's resnet10t), the smallest real ResNet: half ResNet-18's compile time, for small data.
RESNET_STAGES = {10: ((1, 1, 1, 1), False), 18: ((2, 2, 2, 2), False),
                 34: ((3, 4, 6, 3), False), 50: ((3, 4, 6, 3), True)}
STEMS = ("imagenet", "cifar")
NORMS = ("batch", "group")

# He init with fan_out, as torchvision and the flax ImageNet example initialise ResNet convs.
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class ResidualBlock(nn.Module):
  """relu(shortcut(x) + branch(x)). x: [batch, h, w, c] -> [batch, h / strides, w / strides, out].

  basic: 3x3 -> 3x3, out = filters. bottleneck: 1x1 -> 3x3 (strided) -> 1x1, out = 4 * filters.
  The shortcut is a strided 1x1 conv + norm when the shape changes, else the identity.
  `make_norm(features, name, zero_init)` builds the norm layer (BatchNorm or GroupNorm).
  """
  filters: int
  make_norm: Callable[..., nn.Module]
  strides: int = 1
  bottleneck: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def conv(self, features, kernel, strides=1, name=None):
    pad = kernel // 2  # symmetric padding, as the paper's Torch/Caffe models
    return nn.Conv(features, (kernel, kernel), (strides, strides), padding=[(pad, pad)] * 2,
                   use_bias=False, kernel_init=conv_init, dtype=self.dtype,
                   param_dtype=self.param_dtype, name=name)

  @nn.compact
  def __call__(self, x):
    f, s = self.filters, self.strides
    if self.bottleneck:
      out = 4 * f
      y = nn.relu(self.make_norm(f, "norm1")(self.conv(f, 1, name="conv1")(x)))
      y = nn.relu(self.make_norm(f, "norm2")(self.conv(f, 3, s, name="conv2")(y)))
      y = self.make_norm(out, "norm3", zero_init=True)(self.conv(out, 1, name="conv3")(y))
    else:
      out = f
      y = nn.relu(self.make_norm(f, "norm1")(self.conv(f, 3, s, name="conv1")(x)))
      y = self.make_norm(out, "norm2", zero_init=True)(self.conv(out, 3, name="conv2")(y))
    if s != 1 or x.shape[-1] != out:
      x = self.make_norm(out, "proj_norm")(self.conv(out, 1, s, name="proj")(x))
    return nn.relu(x + y)


class ResNet(nn.Module):
  """images [batch, h, w, c] -> (pooled [batch, dim], tokens [batch, h' * w', dim]).

  dim = 8 * width (basic blocks, depth 10/18/34) or 32 * width (bottleneck, depth 50); `tokens` is
  the last feature map flattened, `pooled` its global average.

  stem: "imagenet" (7x7 stride-2 conv + 3x3 stride-2 max-pool: h' = h / 32) or "cifar" (one 3x3
  stride-1 conv, no pool: h' = h / 8), the latter for 32/64 px images.
  norm: "batch" keeps running statistics in the "batch_stats" collection: `train=True`
  normalises with batch statistics and updates the running averages (apply with
  `mutable=["batch_stats"]`); `train=False` uses the running averages, so each example's output
  is independent of the rest of the batch. The trainer's pmap step averages the batch
  statistics over its devices (sync BatchNorm, `mmjax.models.batch_norm`), so they are the global
  batch's in every parallelism; `bn_axis_name` names such an axis for use outside the trainer
  (your own pmap / shard_map). "group": GroupNorm (Wu & He 2018) with `norm_groups` groups
  (fewer when a layer's channels are not a multiple), batch-independent, no state.
  Norm statistics are float32 whatever `dtype` is. Each stage's output map is a `feature_hook`
  "stage{i}" (Grad-CAM, mmjax/interpret/gradcam.py).
  """
  depth: int = 50
  width: int = 64
  stem: str = "imagenet"
  norm: str = "batch"
  bn_momentum: float = 0.9
  bn_axis_name: Optional[str] = None
  norm_groups: int = 32
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def norm_factory(self, train: bool):
    def make_norm(features, name, zero_init=False):
      kw = dict(epsilon=1e-5, dtype=self.dtype, param_dtype=self.param_dtype, name=name,
                scale_init=nn.initializers.zeros if zero_init else nn.initializers.ones)
      if self.norm == "batch":
        return batch_norm(self.bn_axis_name, use_running_average=not train,
                          momentum=self.bn_momentum, **kw)
      return nn.GroupNorm(num_groups=math.gcd(self.norm_groups, features), **kw)
    return make_norm

  @nn.compact
  def __call__(self, images, train: bool = False):
    if self.depth not in RESNET_STAGES:
      raise ValueError(f"depth={self.depth!r}; valid: {', '.join(map(str, RESNET_STAGES))}.")
    if self.stem not in STEMS:
      raise ValueError(f"stem={self.stem!r}; valid: {', '.join(STEMS)}.")
    if self.norm not in NORMS:
      raise ValueError(f"norm={self.norm!r}; valid: {', '.join(NORMS)}.")
    stages, bottleneck = RESNET_STAGES[self.depth]
    make_norm = self.norm_factory(train)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    if self.stem == "imagenet":
      x = nn.Conv(self.width, (7, 7), (2, 2), padding=[(3, 3)] * 2, use_bias=False,
                  kernel_init=conv_init, name="stem_conv", **kw)(images)
      x = nn.relu(make_norm(self.width, "stem_norm")(x))
      x = nn.max_pool(x, (3, 3), (2, 2), padding=[(1, 1)] * 2)
    else:
      x = nn.Conv(self.width, (3, 3), padding=[(1, 1)] * 2, use_bias=False,
                  kernel_init=conv_init, name="stem_conv", **kw)(images)
      x = nn.relu(make_norm(self.width, "stem_norm")(x))
    for i, blocks in enumerate(stages):
      for j in range(blocks):
        x = ResidualBlock(self.width * 2 ** i, make_norm, strides=2 if i and not j else 1,
                          bottleneck=bottleneck, name=f"stage{i + 1}_block{j}", **kw)(x)
      x = feature_hook(self, f"stage{i + 1}", x)
    b, h, w, c = x.shape
    pooled = x.astype(jnp.float32).mean(axis=(1, 2)).astype(self.dtype)
    return pooled, x.reshape(b, h * w, c)
