"""A multi-task attribute classifier: one encoder (image or text, chosen by name) and one
classification head per attribute on its pooled feature (hard parameter sharing, Caruana 1997,
"Multitask Learning"). The translation experiment uses it as the judge of generated images and
generated captions."""

from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmjax import models
from mmjax.losses.classification import softmax_cross_entropy
from mmjax.models.multimodal_classifier import encoder_registry

MODALITIES = ("image", "text")


class AttributeClassifier(nn.Module):
  """inputs -> {attribute: logits [batch, num_classes[attribute]] float32}.

  inputs: images [batch, h, w, c] (modality "image") or token ids [batch, length] (modality
  "text"). encoder / encoder_options: an IMAGE_ENCODERS or TEXT_ENCODERS name and its kwargs.
  num_classes: {attribute: number of classes}. head_options: kwargs of each attribute's
  `ClassificationHead` (e.g. hidden, dropout). Encoders with BatchNorm keep "batch_stats".
  """
  num_classes: Mapping[str, int]
  modality: str = "image"
  encoder: str = "cnn"
  encoder_options: Optional[dict] = None
  head_options: Optional[dict] = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    if self.modality not in MODALITIES:
      raise ValueError(f"modality={self.modality!r}; valid: {', '.join(MODALITIES)}.")
    if not self.num_classes or min(self.num_classes.values()) < 2:
      raise ValueError(f"num_classes={dict(self.num_classes or {})}; valid: a non-empty "
                       "{attribute: number of classes >= 2}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.tower = encoder_registry(self.modality).build(self.encoder,
                                                       **dict(self.encoder_options or {}), **kw)
    self.heads = {a: models.HEADS.build("classification", num_classes=n,
                                        **dict(self.head_options or {}), **kw)
                  for a, n in self.num_classes.items()}

  def __call__(self, inputs, train: bool = False) -> dict:
    pooled, _ = self.tower(inputs, train=train)
    return {a: head(pooled, train=train) for a, head in self.heads.items()}


def attribute_loss(logits: Mapping[str, jax.Array], labels: Mapping[str, jax.Array]):
  """Sum over attributes of the mean softmax cross-entropy, float32 [] ; and {attribute:
  accuracy} of the batch. logits: {attribute: [batch, classes]}; labels: {attribute: int
  [batch]} (extra keys in labels are ignored)."""
  loss = sum(softmax_cross_entropy(x, labels[a]) for a, x in logits.items())
  accuracy = {a: jnp.mean((jnp.argmax(x, -1) == labels[a]).astype(jnp.float32))
              for a, x in logits.items()}
  return loss, accuracy
