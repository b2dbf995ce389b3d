"""Video encoders: video [batch, frames, h, w, c] -> (pooled [batch, dim], tokens [batch, n, dim]),
the interface of every image, text and audio encoder, so each fusion and head takes video."""

from mmjax.models import VIDEO_ENCODERS
from mmjax.models.video.frame_encoder import FrameEncoder
from mmjax.models.video.vivit import ViViT

VIDEO_ENCODERS.register("frames")(FrameEncoder)
VIDEO_ENCODERS.register("vivit")(ViViT)
