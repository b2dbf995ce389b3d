"""Image captioner: an image encoder and a caption decoder, each chosen by name. With pooled
features and the LSTM decoder it is Show and Tell (Vinyals et al. 2015); with the encoder's
tokens and the transformer decoder, each word cross-attends to the image regions (Show, Attend
and Tell, Xu et al. 2015, with a transformer as in Vaswani et al. 2017)."""

import dataclasses
from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax import models
from mmjax.models.heads import decoding

FEATURES = ("tokens", "pooled")
DECODE_METHODS = ("greedy", "beam")


class Captioner(nn.Module):
  """images [batch, h, w, c], tokens_in [batch, length] (teacher forcing: <bos> + caption[:-1])
  -> logits [batch, length, vocab] float32.

  features: what the decoder sees of the image: "tokens" (the encoder's [batch, n, dim]; the
  transformer decoder attends to them, the LSTM mean-pools them) or "pooled" ([batch, dim]).
  Encoders with BatchNorm keep "batch_stats": apply with `mutable=["batch_stats"]` when
  train=True. Generation: `decode` below (greedy or beam search). The captioner a config
  section describes: `mmjax.tasks.captioning.build_captioner`. visual="video": the encoder is a
  VIDEO_ENCODERS one and `images` are videos [batch, frames, h, w, c] (video captioning).
  """
  visual: str = "image"  # the encoder's registry: models.visual_encoders
  image_encoder: str = "vit"
  image: Optional[dict] = None  # kwargs of the image encoder
  caption_decoder: str = "transformer"
  decoder: Optional[dict] = None  # kwargs of the caption decoder
  features: str = "tokens"
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    if self.features not in FEATURES:
      raise ValueError(f"features={self.features!r}; valid: {', '.join(FEATURES)}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.encoder = models.visual_encoders(self.visual).build(self.image_encoder,
                                                             **dict(self.image or {}), **kw)
    self.text_decoder = models.CAPTION_DECODERS.build(self.caption_decoder,
                                                      **dict(self.decoder or {}), **kw)

  def encode(self, images, train: bool = False):
    """images -> what the decoder conditions on: [batch, n, dim] tokens or [batch, dim]."""
    pooled, tokens = self.encoder(images, train=train)
    return tokens if self.features == "tokens" else pooled

  def __call__(self, images, tokens_in, train: bool = False):
    return self.text_decoder(tokens_in, self.encode(images, train), train=train)

  def init_state(self, images):
    """The decoder's state before the first word (encoder run in inference mode)."""
    return self.text_decoder.init_state(self.encode(images))

  def step(self, tokens_t, state):
    """tokens_t [batch] -> (logits [batch, vocab], next state)."""
    return self.text_decoder.step(tokens_t, state)


def max_caption_len(caption_decoder: str, decoder: Optional[dict] = None) -> Optional[int]:
  """Longest caption (in tokens) the named decoder with options `decoder` can hold; None if
  unbounded (LSTM)."""
  ctor = models.CAPTION_DECODERS.get(caption_decoder)
  if "max_len" not in {f.name for f in dataclasses.fields(ctor)}:
    return None
  return dict(decoder or {}).get("max_len", ctor.max_len)


def decode(model: Captioner, variables, images, *, max_len: int, bos_id: int, eos_id: int,
           pad_id: int = 0, method: str = "greedy", beam_size: int = 3, alpha: float = 0.0):
  """Generates captions for images [batch, h, w, c] -> (tokens [batch, max_len] int32: words,
  <eos>, then <pad>; log-probability (beam: length-penalised score) [batch] float32).

  method: "greedy" or "beam" (beam search of width `beam_size` with GNMT length penalty
  `alpha`; see `heads/decoding.py`). Jit it with the keyword arguments fixed, e.g. through
  functools.partial.
  """
  if method not in DECODE_METHODS:
    raise ValueError(f"method={method!r}; valid: {', '.join(DECODE_METHODS)}.")
  limit = max_caption_len(model.caption_decoder, model.decoder)
  if limit is not None and max_len > limit:
    raise ValueError(f"max_len={max_len} exceeds the decoder's max_len={limit}.")
  state = model.apply(variables, images, method=Captioner.init_state)
  step_fn = lambda tokens, s: model.apply(variables, tokens, s, method=Captioner.step)
  start = jnp.full((images.shape[0],), bos_id, jnp.int32)
  if method == "greedy":
    return decoding.greedy(step_fn, state, start, max_len, eos_id, pad_id)
  return decoding.beam_search(step_fn, state, start, max_len, beam_size, eos_id, alpha, pad_id)
