"""Model zoo. Every component is chosen by name from one of these registries (README's model
table lists them all); `python -m mmjax.models.summary` prints parameter counts."""

from mmjax.registry import Registry

IMAGE_ENCODERS = Registry("image encoder")
TEXT_ENCODERS = Registry("text encoder")
AUDIO_ENCODERS = Registry("audio encoder")
VIDEO_ENCODERS = Registry("video encoder")
FUSIONS = Registry("fusion")
HEADS = Registry("head")
CAPTION_DECODERS = Registry("caption decoder")
GENERATORS = Registry("text-to-image generator")
VISUAL = ("image", "video")


def visual_encoders(visual: str) -> Registry:
  """The registry a visual tower is chosen from: "image" (IMAGE_ENCODERS, inputs [batch, h, w,
  c]) or "video" (VIDEO_ENCODERS, [batch, frames, h, w, c]); both give (pooled, tokens)."""
  if visual not in VISUAL:
    raise ValueError(f"visual={visual!r}; valid: {', '.join(VISUAL)}.")
  return IMAGE_ENCODERS if visual == "image" else VIDEO_ENCODERS


# Importing the subpackages registers their components.
from mmjax.models import image, text, audio, video, fusion, heads  # noqa: E402,F401
from mmjax.models.image.vit import ViT  # noqa: E402,F401
from mmjax.models.text.transformer import TextTransformer  # noqa: E402,F401
from mmjax.models.two_tower import TwoTower  # noqa: E402,F401
