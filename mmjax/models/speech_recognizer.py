"""A CTC speech recogniser: any audio encoder by name, its tokens taken as the output frames,
then a CTC head (Graves et al. 2006, "Connectionist Temporal Classification: Labelling
Unsegmented Sequence Data with Recurrent Neural Networks")."""

from typing import Any, Mapping, Optional

import flax.linen as nn
import jax.numpy as jnp

from mmjax import models


class SpeechRecognizer(nn.Module):
  """waves [batch, samples] -> logits [batch, frames, vocab_size + 1] float32.

  encoder / encoder_options: an AUDIO_ENCODERS name and its kwargs. The encoder's tokens
  [batch, frames, dim] are the CTC frames, so its time stride sets the frame rate: CTC needs at
  least one frame per label (two for a repeated label), so prefer a small stride, e.g.
  `spec_cnn` with two pooling blocks (40 ms per frame at a 10 ms hop) or `ast` with patches that
  span every mel bin (one token per `patch_stride` frames). An encoder that mixes frequency
  patches into its tokens (ast with several frequency patches) is rejected: its tokens are not
  a time sequence.
  vocab_size: labels without the blank; the blank is class `blank_id` (see heads/ctc.py).
  Clips are fixed-length, so every frame is valid (no frame paddings).
  """
  vocab_size: int
  encoder: str = "spec_cnn"
  encoder_options: Optional[Mapping[str, Any]] = None
  blank_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    options = dict(self.encoder_options or {})
    if self.encoder == "ast":
      mels = options.get("num_mel_bins", 128)
      freq = tuple(options.get("patch_size", (16, 16)))[1]
      if freq != mels:
        raise ValueError(f"the ast encoder with patch_size frequency {freq} != num_mel_bins "
                         f"{mels} gives several tokens per time step; for CTC use patches that "
                         f"span every mel bin, e.g. patch_size=(4, {mels}).")
    self.audio = models.AUDIO_ENCODERS.build(self.encoder, **options, **kw)
    self.head = models.HEADS.build("ctc", vocab_size=self.vocab_size, blank_id=self.blank_id,
                                   **kw)

  def __call__(self, waves, train: bool = False):
    _, tokens = self.audio(waves, train=train)
    return self.head(tokens, train=train)
