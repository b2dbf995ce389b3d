"""Small LeNet / VGG-style CNN image encoder (LeCun et al. 1998, "Gradient-Based Learning Applied
to Document Recognition"; Simonyan & Zisserman 2015, "Very Deep Convolutional Networks"), the
unimodal baseline of multimodal benchmarks such as MultiBench's AV-MNIST (Liang et al. 2021)."""

from typing import Any, Optional, Sequence, Union

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.batch_norm import batch_norm
from mmjax.models.hooks import feature_hook
from mmjax.models.pooling import max_pool
from mmjax.models.transformer import Dense

POOLS = ("max", "avg", "none")
HEADS = ("avg", "flatten")
NORMS = ("none", "batch")


class ConvNet(nn.Module):
  """images [batch, h, w, c] -> (pooled [batch, dim], tokens [batch, h' * w', channels[-1]]).

  One block per entry of `channels`: `convs_per_block` x (conv k x k "SAME" -> [BatchNorm] ->
  ReLU), then a 2x2 stride-2 pool (`pool`: max, avg or none), so h' = h / 2**len(channels).
  convs_per_block=1 is LeNet, 2 is VGG. `kernel_size` is one int or one per block (LeNet: 5 then
  3s). `tokens` is the last feature map flattened; `pooled` is its global average
  (head="avg", dim = channels[-1]) or the flattened map (head="flatten", dim = h' * w' *
  channels[-1]), followed by Dense(hidden) + ReLU when `hidden` is set (dim = hidden).

  norm="batch" adds BatchNorm after each conv (MultiBench's LeNet): running statistics live in
  "batch_stats"; `train=True` uses batch statistics and updates them (apply with
  `mutable=["batch_stats"]`), `train=False` uses the running averages. The trainer's pmap step
  syncs the statistics over its devices itself (`mmjax.models.batch_norm`); `bn_axis_name` names
  such an axis outside the trainer. MultiBench's AV-MNIST image LeNet is channels=(6, 12, 24,
  48), kernel_size=(5, 3, 3, 3), norm="batch", head="flatten" on 28 x 28 digits.
  Each block's map before its pool is a `feature_hook` "block{i}" (for Grad-CAM).
  """
  channels: Sequence[int] = (32, 64)
  kernel_size: Union[int, Sequence[int]] = 3
  convs_per_block: int = 1
  pool: str = "max"
  head: str = "avg"
  hidden: Optional[int] = None
  norm: str = "none"
  bn_momentum: float = 0.9
  bn_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def kernel_sizes(self):
    if isinstance(self.kernel_size, int):
      return (self.kernel_size,) * len(self.channels)
    if len(self.kernel_size) != len(self.channels):
      raise ValueError(f"kernel_size={tuple(self.kernel_size)} needs one size per block of "
                       f"channels={tuple(self.channels)}, or a single int.")
    return tuple(self.kernel_size)

  @nn.compact
  def __call__(self, images, train: bool = False):
    for field, value, valid in (("pool", self.pool, POOLS), ("head", self.head, HEADS),
                                ("norm", self.norm, NORMS)):
      if value not in valid:
        raise ValueError(f"{field}={value!r}; valid: {', '.join(valid)}.")
    if not self.channels or self.convs_per_block < 1:
      raise ValueError(f"need at least one block and one conv per block; got "
                       f"channels={tuple(self.channels)}, convs_per_block={self.convs_per_block}.")
    kernels = self.kernel_sizes()
    n_pools = len(self.channels) if self.pool != "none" else 0
    if min(images.shape[1:3]) < 2 ** n_pools:
      raise ValueError(f"image size {images.shape[1]}x{images.shape[2]} is too small for "
                       f"{n_pools} 2x2 poolings; use fewer blocks or pool='none'.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = images
    for i, (features, k) in enumerate(zip(self.channels, kernels)):
      for j in range(self.convs_per_block):
        # A conv bias is redundant before BatchNorm's own shift.
        x = nn.Conv(features, (k, k), padding="SAME", use_bias=self.norm == "none",
                    kernel_init=nn.initializers.kaiming_normal(), name=f"block{i}_conv{j}",
                    **kw)(x)
        if self.norm == "batch":
          x = batch_norm(self.bn_axis_name, use_running_average=not train,
                         momentum=self.bn_momentum, epsilon=1e-5, name=f"block{i}_norm{j}",
                         **kw)(x)
        x = nn.relu(x)
      x = feature_hook(self, f"block{i}", x)
      if self.pool == "max":
        x = max_pool(x, (2, 2), (2, 2))
      elif self.pool == "avg":
        x = nn.avg_pool(x, (2, 2), (2, 2))
    b, h, w, c = x.shape
    tokens = x.reshape(b, h * w, c)
    if self.head == "avg":
      pooled = x.astype(jnp.float32).mean(axis=(1, 2)).astype(self.dtype)
    else:
      pooled = x.reshape(b, h * w * c)
    if self.hidden is not None:
      pooled = nn.relu(Dense(self.hidden, name="hidden", **kw)(pooled))
    return pooled, tokens
