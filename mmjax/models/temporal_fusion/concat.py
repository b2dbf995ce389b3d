"""Concatenation per segment, then a temporal Transformer over the segments (the late fusion of
AVE's baselines, Tian et al. 2018, with self-attention in place of their LSTM)."""

from typing import Any, ClassVar, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax.models.transformer import Dense, Encoder, layer_norm


def check_segments(fusion: str, segments, counts: Optional[tuple] = None) -> tuple:
  """(batch, S) of `segments`, a list of [batch, S, e_i] arrays that agree on batch and S;
  counts: the numbers of modalities the fusion takes (None: any >= 1)."""
  if not isinstance(segments, (list, tuple)) or not segments:
    raise ValueError(f"{fusion}: segments must be a non-empty list of [batch, S, e_i] arrays.")
  if counts is not None and len(segments) not in counts:
    raise ValueError(f"{fusion} joins {' or '.join(map(str, counts))} modalities; got "
                     f"{len(segments)}.")
  shapes = [tuple(s.shape) for s in segments]
  if any(len(s) != 3 for s in shapes) or len({s[:2] for s in shapes}) != 1:
    raise ValueError(f"{fusion}: segments must be [batch, S, e_i] with the same batch and S; "
                     f"got shapes {shapes}.")
  return shapes[0][:2]


class ConcatTemporal(nn.Module):
  """segments [batch, S, e_i] per modality (one or more) -> [batch, S, dim].

  Each segment's features are concatenated and projected to `dim`, a learned position is added
  per segment, then `depth` pre-LN Transformer blocks run over the segments (depth 0: each
  segment alone, blind to its neighbours) and a final LayerNorm. With one modality it is the
  same model without the other: the unimodal ablation.
  """
  counts: ClassVar[Optional[tuple]] = None  # any number of modalities
  dim: int = 128
  depth: int = 1
  num_heads: int = 4
  mlp_dim: Optional[int] = None  # default 4 * dim
  dropout: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, segments, train: bool = False):
    _, s = check_segments("concat", segments, self.counts)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = Dense(self.dim, name="proj", **kw)(
        jnp.concatenate([t.astype(self.dtype) for t in segments], axis=-1))
    pos = self.param("pos_embedding", nn.initializers.normal(0.02), (s, self.dim),
                     self.param_dtype)
    x = nn.Dropout(self.dropout)(x + pos.astype(x.dtype), deterministic=not train)
    if self.depth:
      x = Encoder(self.depth, self.num_heads, self.mlp_dim or 4 * self.dim, dropout=self.dropout,
                  name="temporal_encoder", **kw)(x, train=train)
    return layer_norm(name="ln_out", **kw)(x)
