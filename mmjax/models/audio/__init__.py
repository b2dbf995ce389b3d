"""Audio encoders: waves [batch, samples] float -> (pooled [batch, dim], tokens [batch, n, dim]),
and the log-mel front end (log_mel.py) the spectrogram encoders apply inside."""

from mmjax.models import AUDIO_ENCODERS
from mmjax.models.audio.ast import AudioSpectrogramTransformer
from mmjax.models.audio.log_mel import (  # noqa: F401  (the front end's public API)
    LogMel, log_mel_spectrogram, mel_filterbank, stft)
from mmjax.models.audio.spec_cnn import SpectrogramCNN
from mmjax.models.audio.wave_cnn import WaveCNN

AUDIO_ENCODERS.register("wave_cnn")(WaveCNN)
AUDIO_ENCODERS.register("spec_cnn")(SpectrogramCNN)
AUDIO_ENCODERS.register("ast")(AudioSpectrogramTransformer)
