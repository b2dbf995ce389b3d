"""Temporal fusions: per-segment features of each modality, [batch, segments, e_i], joined
segment by segment -> [batch, segments, dim], for per-segment heads (event localisation). The
fusions of mmjax/models/fusion pool a clip to one vector; these keep its time axis."""

from mmjax.models.temporal_fusion.concat import ConcatTemporal
from mmjax.models.temporal_fusion.cross_attention import CrossAttentionTemporal
from mmjax.registry import Registry

TEMPORAL_FUSIONS = Registry("temporal fusion")
TEMPORAL_FUSIONS.register("concat")(ConcatTemporal)
TEMPORAL_FUSIONS.register("cross_attention")(CrossAttentionTemporal)
