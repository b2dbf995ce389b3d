"""MLP heads on pooled features: classification logits and regression outputs."""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.transformer import Dense, gelu

Dtype = Any


def _mlp(x, hidden, out, dropout, train, dtype, param_dtype):
  """[batch, dim] -> Dense -> GELU -> dropout (per hidden width) -> Dense(out) -> float32."""
  if x.ndim != 2:
    raise ValueError(f"heads take pooled features [batch, dim]; got shape {x.shape}. "
                     "Pool the tokens first (e.g. the encoder's pooled output).")
  kw = dict(dtype=dtype, param_dtype=param_dtype)
  x = x.astype(dtype)
  for i, width in enumerate(hidden):
    x = Dense(width, name=f"hidden{i}", activation=gelu, **kw)(x)
    x = nn.Dropout(dropout)(x, deterministic=not train)
  return Dense(out, name="out", **kw)(x).astype(jnp.float32)


class ClassificationHead(nn.Module):
  """features [batch, dim] -> logits [batch, num_classes] float32 (softmax or multi-label
  sigmoid, see `mmjax.losses.classification`). hidden: MLP widths before the output layer
  (empty = a linear probe); dropout after each hidden layer."""
  num_classes: int
  hidden: Sequence[int] = ()
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, features, train: bool = False):
    return _mlp(features, self.hidden, self.num_classes, self.dropout, train, self.dtype,
                self.param_dtype)


class RegressionHead(nn.Module):
  """features [batch, dim] -> predictions [batch, num_targets] float32. Fields as
  `ClassificationHead`."""
  num_targets: int = 1
  hidden: Sequence[int] = ()
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, features, train: bool = False):
    return _mlp(features, self.hidden, self.num_targets, self.dropout, train, self.dtype,
                self.param_dtype)
