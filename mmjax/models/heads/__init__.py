"""Heads: classification / regression, captioning decoders, CTC, text-to-image generators."""

from mmjax.models import CAPTION_DECODERS, GENERATORS, HEADS
from mmjax.models.heads.classification import ClassificationHead, RegressionHead
from mmjax.models.heads.ctc import CTCHead
from mmjax.models.heads.diffusion import TextConditionedUNet
from mmjax.models.heads.lstm_decoder import LSTMDecoder
from mmjax.models.heads.transformer_decoder import TransformerDecoder

HEADS.register("classification")(ClassificationHead)
HEADS.register("regression")(RegressionHead)
CAPTION_DECODERS.register("lstm")(LSTMDecoder)
CAPTION_DECODERS.register("transformer")(TransformerDecoder)
HEADS.register("ctc")(CTCHead)
GENERATORS.register("diffusion")(TextConditionedUNet)
