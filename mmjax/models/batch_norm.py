"""BatchNorm whose statistics cover the train step's whole global batch, however it is compiled.

Under jit over a mesh the batch is one global array, so BatchNorm's means already span it. Under
pmap each device holds only its shard: unless the means are averaged over the pmap axis (sync
BatchNorm), every device normalises with its own shard's statistics and the step differs from a
single-device one. The train step knows that axis and the model does not, so the step names it
here while it traces the loss (`batch_axis`), and every `batch_norm` built in that trace averages
over it. Nothing is set outside a pmap step: evaluation (running averages) needs no collective.
"""

import contextlib
import contextvars
from typing import Iterator, Optional

import flax.linen as nn

_BATCH_AXIS = contextvars.ContextVar("mmjax_batch_axis", default=None)


@contextlib.contextmanager
def batch_axis(axis_name: Optional[str]) -> Iterator[None]:
  """Within this block, `batch_norm` layers average their batch statistics over `axis_name`
  (a pmap / shard_map axis; None: over the batch each device is given)."""
  token = _BATCH_AXIS.set(axis_name)
  try:
    yield
  finally:
    _BATCH_AXIS.reset(token)


def batch_norm(axis_name: Optional[str] = None, **kwargs) -> nn.BatchNorm:
  """nn.BatchNorm(**kwargs) syncing its statistics over `axis_name`, or when None over the axis
  the enclosing train step set with `batch_axis` (none under jit or on one device)."""
  return nn.BatchNorm(axis_name=axis_name or _BATCH_AXIS.get(), **kwargs)
