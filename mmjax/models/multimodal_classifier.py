"""A classifier over any subset of image / text / audio: one encoder per modality and a fusion,
each chosen by name, then a head (the encoders -> fusion -> head recipe of MultiBench, Liang et
al. 2021, "MultiBench: Multiscale Benchmarks for Multimodal Representation Learning")."""

from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmjax import models
from mmjax.models.missing_modality import Placeholder, check_options, which_kept

MODALITIES = ("image", "text", "audio", "video")


def encoder_registry(modality: str):
  """The registry of `modality`'s encoders."""
  return {"image": models.IMAGE_ENCODERS, "text": models.TEXT_ENCODERS,
          "audio": models.AUDIO_ENCODERS, "video": models.VIDEO_ENCODERS}[modality]


def auxiliary_loss(mutated) -> jax.Array:
  """Sum (float32 scalar, 0 when none) of the losses a fusion sowed (adversarial's
  discriminator), from the state returned by `apply(..., mutable=["losses", ...])`."""
  leaves = jax.tree.leaves(dict(mutated).get("losses", {}))
  return sum((jnp.asarray(x, jnp.float32).sum() for x in leaves), jnp.zeros((), jnp.float32))


class MultimodalClassifier(nn.Module):
  """inputs {modality: array} -> logits [batch, num_classes] float32.

  inputs: "image" [batch, h, w, c] float, "text" [batch, length] int token ids (`pad_id` =
  padding), "audio" [batch, samples] float waves, "video" [batch, frames, h, w, c] float; only
  the keys in `modalities` are read.
  modalities: a non-empty subset of image, text, audio, video; its order is the fusion's input
  order.
  encoders: {modality: {"name": registry name, **that encoder's kwargs}}. Each encoder gives
  (pooled [batch, d_m], tokens [batch, n_m, e_m]); text tokens get a padding mask.
  fusion / fusion_options: a FUSIONS name and its kwargs, applied to the per-modality pooled
  features, tokens and masks. With a single modality there is nothing to fuse and the head sees
  that encoder's pooled features: the unimodal baseline of the same model.
  head / head_options: a HEADS name and its kwargs; `num_classes` is passed to it.

  placeholders: learned stand-ins for a missing modality (mmjax/models/missing_modality.py), so
  the model takes any non-empty subset of its modalities: leave a modality out of `inputs`, or
  mark examples without it with `present`. modality_dropout: during training, each example
  loses each modality with this probability (never all of them); needs placeholders.

  A fusion's auxiliary losses (adversarial's) are sown into the "losses" collection: apply with
  `mutable=["losses"]` during training and add `auxiliary_loss(mutated)` to the task loss.
  """
  num_classes: int
  modalities: Sequence[str] = ("image", "text")
  encoders: Optional[Mapping[str, Mapping[str, Any]]] = None
  fusion: str = "concat_late"
  fusion_options: Optional[Mapping[str, Any]] = None
  head: str = "classification"
  head_options: Optional[Mapping[str, Any]] = None
  pad_id: int = 0
  placeholders: bool = False
  modality_dropout: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    modalities = tuple(self.modalities)
    if not modalities or len(set(modalities)) != len(modalities) or \
        not set(modalities) <= set(MODALITIES):
      raise ValueError(f"modalities={modalities}; valid: a non-empty subset, without repeats, "
                       f"of {', '.join(MODALITIES)}.")
    encoders = dict(self.encoders or {})
    missing = [m for m in modalities if m not in encoders or "name" not in encoders[m]]
    if missing:
      raise ValueError(f"no encoder for modalities {missing}: encoders needs "
                       f"{{modality: {{'name': ..., **kwargs}}}} for each of {modalities}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    towers = {}
    for m in modalities:
      options = {k: v for k, v in encoders[m].items() if k != "name"}
      towers[m] = encoder_registry(m).build(encoders[m]["name"], **options, **kw)
    self.towers = towers
    check_options(self.placeholders, self.modality_dropout)
    if self.placeholders:
      self.stand_ins = {m: Placeholder(param_dtype=self.param_dtype) for m in modalities}
    if len(modalities) > 1:
      self.fuse = models.FUSIONS.build(self.fusion, **dict(self.fusion_options or {}), **kw)
    self.classifier = models.HEADS.build(self.head, num_classes=self.num_classes,
                                         **dict(self.head_options or {}), **kw)

  def __call__(self, inputs: Mapping[str, jax.Array], train: bool = False,
               present: Optional[Mapping[str, jax.Array]] = None) -> jax.Array:
    """present: {modality: bool [batch]}, False where an example lacks that modality (its input
    there is ignored); a modality left out of `inputs` is missing from every example. Both need
    placeholders=True."""
    absent, keep, batch = which_kept(self, self.modalities, inputs, present, train)
    pooled, tokens, masks = [], [], []
    for m in self.modalities:
      if m in absent:
        p, t, mask = self.stand_ins[m].absent(batch, self.dtype)
      else:
        p, t = self.towers[m](inputs[m], train=train)
        # Text tokens align with the ids, so padding can be masked; other encoders' cannot pad.
        mask = inputs[m] != self.pad_id if m == "text" else None
        if self.placeholders:
          p, t, mask = self.stand_ins[m](p, t, mask, keep[m])
      pooled.append(p)
      tokens.append(t)
      masks.append(mask)
    if len(pooled) == 1:
      features = pooled[0]
    else:
      features = self.fuse(pooled, tokens, masks, train=train)
    return self.classifier(features, train=train)
