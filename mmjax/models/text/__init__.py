"""Text encoders: tokens [batch, length] int -> (pooled [batch, dim],
tokens [batch, length, dim])."""

from mmjax.models import TEXT_ENCODERS
from mmjax.models.text.bag_of_words import EmbeddingBag
from mmjax.models.text.rnn import GRUEncoder, LSTMEncoder
from mmjax.models.text.transformer import TextTransformer

TEXT_ENCODERS.register("transformer")(TextTransformer)
TEXT_ENCODERS.register("bag_of_words")(EmbeddingBag)
TEXT_ENCODERS.register("gru")(GRUEncoder)
TEXT_ENCODERS.register("lstm")(LSTMEncoder)
