"""Per-segment event localisation from video and sound (the AVE setting, Tian et al. 2018):
each encoder's tokens pooled to the clip's segments, a temporal fusion per segment, a head on
every segment."""

from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mmjax import models
from mmjax.models.missing_modality import SequencePlaceholder, check_options, which_kept
from mmjax.models.multimodal_classifier import encoder_registry
from mmjax.models.temporal_fusion import TEMPORAL_FUSIONS

MODALITIES = ("video", "audio")


def segment_weights(num_tokens: int, num_segments: int) -> np.ndarray:
  """float32 [2, num_segments, num_tokens]: how much of each half of segment s each token
  covers, [0] the half before the segment's boundary and [1] the half after, rows summing to 1.
  Token i spans [i, i + 1) / num_tokens of the clip (tokens in time order, evenly spread); the
  clip has num_segments + 1 frames and segment s spans half a frame either side of the
  boundary between frames s and s + 1 (one token per frame: [0] is frame s, [1] frame s + 1)."""
  edges = np.arange(num_tokens + 1) / num_tokens
  frame = 1.0 / (num_segments + 1)
  boundary = (np.arange(num_segments) + 1) * frame
  halves = []
  for lo, hi in ((boundary - frame / 2, boundary), (boundary, boundary + frame / 2)):
    overlap = np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1])
    overlap = np.maximum(overlap, 0.0)
    halves.append(overlap / overlap.sum(1, keepdims=True))
  return np.stack(halves).astype(np.float32)


def segment_pool(tokens: jax.Array, num_segments: int) -> jax.Array:
  """tokens [batch, n, dim] in time order -> [batch, num_segments, 2 * dim]: per segment, the
  overlap-weighted means of the tokens in its half before the boundary and in its half after,
  concatenated (`segment_weights`), so that what changes at the boundary stays visible."""
  w = jnp.asarray(segment_weights(tokens.shape[1], num_segments), tokens.dtype)
  before, after = jnp.einsum("hsn,bnd->hbsd", w, tokens)
  return jnp.concatenate([before, after], axis=-1)


class EventLocaliser(nn.Module):
  """inputs {"video": [batch, frames, h, w, c] float, "audio": [batch, samples] float} ->
  logits [batch, num_segments, 2] float32: per segment, "no event" and "event".

  modalities: video, audio or both; encoders {modality: {"name", **kwargs}} whose tokens are in
  time order and span the clip evenly (frames, vivit factorised; wave_cnn, spec_cnn, or ast
  with one frequency patch). Each modality's tokens are pooled to num_segments segments
  (`segment_pool`: the half before each boundary and the half after), joined by the temporal
  fusion `fusion` (TEMPORAL_FUSIONS: concat also takes one modality, the unimodal ablation),
  and the head `head` (HEADS, num_classes=2) classifies every segment with the same weights.

  placeholders: a learned stand-in per modality for its segments where it is missing
  (mmjax/models/missing_modality.py), so the model takes either modality alone: leave one out
  of `inputs`, or mark examples without it with `present`. modality_dropout: during training,
  each example loses each modality with this probability (never both); needs placeholders.
  """
  num_segments: int
  modalities: Sequence[str] = MODALITIES
  encoders: Optional[Mapping[str, Mapping[str, Any]]] = None
  fusion: str = "concat"
  fusion_options: Optional[Mapping[str, Any]] = None
  head: str = "classification"
  head_options: Optional[Mapping[str, Any]] = None
  placeholders: bool = False
  modality_dropout: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    mods = tuple(self.modalities)
    if not mods or len(set(mods)) != len(mods) or not set(mods) <= set(MODALITIES):
      raise ValueError(f"modalities={mods}; valid: a non-empty subset of {', '.join(MODALITIES)}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    encoders = dict(self.encoders or {})
    self.towers = {m: encoder_registry(m).build(
        encoders[m]["name"], **{k: v for k, v in encoders[m].items() if k != "name"}, **kw)
        for m in mods}
    check_options(self.placeholders, self.modality_dropout)
    if self.placeholders:
      self.stand_ins = {m: SequencePlaceholder(param_dtype=self.param_dtype) for m in mods}
    self.fuse = TEMPORAL_FUSIONS.build(self.fusion, **dict(self.fusion_options or {}), **kw)
    self.classify = models.HEADS.build(self.head, num_classes=2,
                                       **dict(self.head_options or {}), **kw)

  def __call__(self, inputs: Mapping[str, jax.Array], train: bool = False,
               present: Optional[Mapping[str, jax.Array]] = None) -> jax.Array:
    """present: {modality: bool [batch]}, False where an example lacks that modality; a
    modality left out of `inputs` is missing from every example. Both need placeholders."""
    absent, keep, batch = which_kept(self, self.modalities, inputs, present, train)
    segments = []
    for m in self.modalities:
      if m in absent:
        segments.append(self.stand_ins[m].absent(batch, self.num_segments, self.dtype))
        continue
      _, tokens = self.towers[m](inputs[m], train=train)
      pooled = segment_pool(tokens, self.num_segments)
      segments.append(self.stand_ins[m](pooled, keep[m]) if self.placeholders else pooled)
    x = self.fuse(segments, train=train)  # [batch, segments, dim]
    b, s, d = x.shape
    return self.classify(x.reshape(b * s, d), train=train).reshape(b, s, 2)
