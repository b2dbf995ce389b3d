"""Model zoo. Encoders are chosen by name from these registries (see README's model table)."""

from mmjax.registry import Registry

IMAGE_ENCODERS = Registry("image encoder")
TEXT_ENCODERS = Registry("text encoder")

from mmjax.models.vit import ViT  # noqa: E402
from mmjax.models.text_transformer import TextTransformer  # noqa: E402

IMAGE_ENCODERS.register("vit")(ViT)
TEXT_ENCODERS.register("transformer")(TextTransformer)

from mmjax.models.two_tower import TwoTower  # noqa: E402,F401
