"""Text encoders: tokens [batch, length] int -> (pooled [batch, dim], tokens [batch, length, dim])."""

from mmjax.models import TEXT_ENCODERS
from mmjax.models.text.transformer import TextTransformer

TEXT_ENCODERS.register("transformer")(TextTransformer)
