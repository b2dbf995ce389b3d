"""Fusion variants: per-modality features in, fused features out, chosen by name.

One interface for all (MultiBench's idea: a list of modality tensors in, one tensor out):

  fused = fusion.apply(variables, pooled, tokens=None, masks=None, train=False)

  pooled: one [batch, d_i] array per modality (token-level fusions accept pooled=None).
  tokens: one [batch, n_i, e_i] array per modality; required by concat_early, cross_attention
          and bottleneck, which raise a ValueError without them.
  masks:  one [batch, n_i] bool array (True = real token) per modality, or None entries.
  fused:  [batch, out_dim] in the module's compute `dtype`.

Auxiliary losses (adversarial's discriminator cross-entropy) are sown into the "losses"
collection. Collect them by making it mutable and add them to the task loss:

  fused, state = model.apply(variables, pooled, tokens, masks, mutable=["losses"])
  aux = sum(jax.tree.leaves(state.get("losses", {})))   # float32 scalar (0 if none)

Without `mutable=["losses"]` the sow is a no-op and the fusion behaves like any other.
"""

from mmjax.models import FUSIONS
from mmjax.models.fusion.adversarial import AdversarialFusion
from mmjax.models.fusion.bottleneck import BottleneckFusion
from mmjax.models.fusion.concat_early import ConcatEarlyFusion
from mmjax.models.fusion.concat_late import ConcatLateFusion
from mmjax.models.fusion.cross_attention import CrossAttentionFusion
from mmjax.models.fusion.film import FiLMFusion
from mmjax.models.fusion.gated import GatedFusion
from mmjax.models.fusion.gradient_reversal import gradient_reversal  # noqa: F401
from mmjax.models.fusion.low_rank_tensor import LowRankTensorFusion
from mmjax.models.fusion.multiplicative import MultiplicativeFusion
from mmjax.models.fusion.product import ProductFusion
from mmjax.models.fusion.sum import SumFusion
from mmjax.models.fusion.tensor import TensorFusion
from mmjax.models.fusion.weighted_sum import WeightedSumFusion

FUSIONS.register("concat_late")(ConcatLateFusion)
FUSIONS.register("concat_early")(ConcatEarlyFusion)
FUSIONS.register("sum")(SumFusion)
FUSIONS.register("weighted_sum")(WeightedSumFusion)
FUSIONS.register("product")(ProductFusion)
FUSIONS.register("gated")(GatedFusion)
FUSIONS.register("film")(FiLMFusion)
FUSIONS.register("tensor")(TensorFusion)
FUSIONS.register("low_rank_tensor")(LowRankTensorFusion)
FUSIONS.register("cross_attention")(CrossAttentionFusion)
FUSIONS.register("bottleneck")(BottleneckFusion)
FUSIONS.register("adversarial")(AdversarialFusion)
FUSIONS.register("multiplicative")(MultiplicativeFusion)
