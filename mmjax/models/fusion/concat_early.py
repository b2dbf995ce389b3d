"""Early fusion: one Transformer over the concatenated token sequences of all modalities (the
single-stream design, e.g. VisualBERT, Li et al. 2019; MBT's early fusion, Nagrani et al. 2021)."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.fusion.inputs import check_inputs
from mmjax.models.pooling import masked_mean
from mmjax.models.transformer import Dense, Encoder, attention_bias, layer_norm


class ConcatEarlyFusion(nn.Module):
  """tokens [batch, n_i, e_i] (+ masks [batch, n_i] bool) per modality -> [batch, dim].

  Each modality's tokens are projected to `dim` and tagged with a learned modality-type
  embedding; the concatenation [batch, sum_i n_i, dim] runs through a shared pre-LN Encoder of
  `depth` blocks with padded tokens masked out of attention, then a final LayerNorm and a mean
  over the valid tokens. Tokens are expected to carry positions from their own encoders.
  """
  dim: int = 256
  depth: int = 2
  num_heads: int = 4
  mlp_dim: Optional[int] = None  # default 4 * dim
  # Attention implementation, remat policy and nn.scan over layers: see transformer.Encoder.
  attention: str = "auto"
  remat: str = "none"
  scan: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled=None, tokens=None, masks=None, train: bool = False):
    count, masks = check_inputs("concat_early", pooled, tokens, masks, needs_tokens=True)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    types = self.param("modality_embedding", nn.initializers.normal(0.02), (count, self.dim),
                       self.param_dtype)
    x = jnp.concatenate([Dense(self.dim, name=f"proj{i}", **kw)(t) + types[i].astype(self.dtype)
                         for i, t in enumerate(tokens)], axis=1)
    mask = jnp.concatenate(masks, axis=1)
    x = Encoder(self.depth, self.num_heads, self.mlp_dim or 4 * self.dim, name="encoder",
                attention=self.attention, remat=self.remat, scan=self.scan,
                **kw)(x, attention_bias(mask, False, x.shape[1]))
    return masked_mean(layer_norm(name="ln_final", **kw)(x), mask)
