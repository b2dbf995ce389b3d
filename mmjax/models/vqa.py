"""Visual question answering as answer classification: encode the question and the image (and,
optionally, the spoken caption), fuse, classify over the answer vocabulary (Antol et al. 2015,
"VQA: Visual Question Answering"; FiLM conditioning as in Perez et al. 2018).

The encoders -> fusion -> head recipe is `MultimodalClassifier`'s; this module names the inputs
for VQA and lets the question steer the fusions that have a conditioning or query side.
"""

from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmjax.models.multimodal_classifier import MultimodalClassifier

INPUTS = ("question", "image", "audio")
# The classifier's modality reading each input: the question is text token ids.
MODALITY = {"question": "text", "image": "image", "audio": "audio"}
# Fusions where one input conditions / queries the others: by default the question does.
_QUESTION_SIDE = {"film": "condition_index", "cross_attention": "query_index"}


def check_inputs(inputs: Sequence[str]) -> tuple:
  """`inputs` as a tuple; ValueError unless a non-empty subset of INPUTS without repeats."""
  inputs = tuple(inputs)
  if not inputs or len(set(inputs)) != len(inputs) or not set(inputs) <= set(INPUTS):
    raise ValueError(f"inputs={inputs}; valid: a non-empty subset, without repeats, of "
                     f"{', '.join(INPUTS)}.")
  return inputs


class VQAModel(nn.Module):
  """{"question": [batch, length] int ids, "image": [batch, h, w, c], "audio": [batch, samples]}
  -> answer logits [batch, num_answers] float32.

  inputs: which of question, image, audio to read, in the fusion's input order. One input is a
  baseline without fusion: ("question",) is the learned question-only prior, ("image",) a blind
  guess of the answer from the image alone.
  encoders: {input: {"name": registry name, **kwargs}} for each input (TEXT_ENCODERS for the
  question, IMAGE_ENCODERS, AUDIO_ENCODERS for the spoken caption).
  fusion / fusion_options: a FUSIONS name and its kwargs. For film (the question predicts the
  scale and shift of the image features) and cross_attention (question tokens attend over the
  image tokens) the question is the conditioning / query side unless the options say otherwise.
  head / head_options: a HEADS name and its kwargs. Fusion auxiliary losses are sown into
  "losses" as in `MultimodalClassifier`. placeholders / modality_dropout: its missing-input
  stand-ins, as there (leave an input out of the batch, or pass present={input: bool [batch]}).
  """
  num_answers: int
  inputs: Sequence[str] = ("question", "image")
  encoders: Optional[Mapping[str, Mapping[str, Any]]] = None
  fusion: str = "film"
  fusion_options: Optional[Mapping[str, Any]] = None
  head: str = "classification"
  head_options: Optional[Mapping[str, Any]] = None
  pad_id: int = 0
  placeholders: bool = False
  modality_dropout: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    inputs = check_inputs(self.inputs)
    encoders = dict(self.encoders or {})
    missing = [i for i in inputs if i not in encoders]
    if missing:
      raise ValueError(f"no encoder for inputs {missing}: encoders needs {{input: {{'name': ..., "
                       f"**kwargs}}}} for each of {inputs}.")
    options = dict(self.fusion_options or {})
    side = _QUESTION_SIDE.get(self.fusion)
    if side and "question" in inputs and len(inputs) > 1:
      options.setdefault(side, inputs.index("question"))
    self.classifier = MultimodalClassifier(
        num_classes=self.num_answers, modalities=tuple(MODALITY[i] for i in inputs),
        encoders={MODALITY[i]: encoders[i] for i in inputs}, fusion=self.fusion,
        fusion_options=options, head=self.head, head_options=self.head_options,
        pad_id=self.pad_id, placeholders=self.placeholders,
        modality_dropout=self.modality_dropout, dtype=self.dtype, param_dtype=self.param_dtype)

  def __call__(self, batch: Mapping[str, jax.Array], train: bool = False,
               present: Optional[Mapping[str, jax.Array]] = None) -> jax.Array:
    absent = [i for i in self.inputs if i not in batch]
    if absent and not self.placeholders:
      raise ValueError(f"the batch lacks inputs {absent}; got keys {sorted(batch)}, need "
                       f"{list(self.inputs)} (a model with placeholders=True takes any subset: "
                       "config model.missing.placeholders).")
    unknown = sorted(set(present or {}) - set(self.inputs))
    if unknown:
      raise ValueError(f"present names {unknown}, not inputs of this model: {list(self.inputs)}.")
    return self.classifier({MODALITY[i]: batch[i] for i in self.inputs if i in batch},
                           train=train,
                           present={MODALITY[i]: v for i, v in present.items()} if present
                           else None)
