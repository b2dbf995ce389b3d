"""Audio-visual event localisation from a config: the per-segment model its `model` section
describes and the batches of the synthetic clips' per-segment labels
(experiments/av_event_localisation.py).

  model.modalities = ("video", "audio")            # or one of them: the unimodal ablations
  model.encoders.<modality> = {"name": "frames", "frames": {...}, "vivit": {...}}
  model.fusion = {"name": "concat", "concat": {...}, "cross_attention": {...}}  # TEMPORAL_FUSIONS
  model.head = {"name": "classification", "classification": {"hidden": (128,)}}  # per segment
  model.missing = {"placeholders": False, "modality_dropout": 0.0}  # stand-ins, their training
"""

from typing import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from mmjax.data.synthetic import av_events
from mmjax.models import HEADS
from mmjax.models.event_localiser import MODALITIES, EventLocaliser
from mmjax.models.multimodal_classifier import encoder_registry
from mmjax.models.temporal_fusion import TEMPORAL_FUSIONS
from mmjax.registry import ConfigError
from mmjax.tasks import classification


def localiser(config, modalities: Sequence[str], num_segments: int) -> EventLocaliser:
  """The EventLocaliser config.model describes over `modalities`; every name and option is
  checked, naming its config key, before anything is built."""
  m = config.model
  encoders = {}
  for name in modalities:
    encoder, options = encoder_registry(name).choose(
        m.encoders[name], f"model.encoders.{name}", sample_rate=float(config.data.sample_rate))
    encoders[name] = {"name": encoder, **options}
  video = encoders.get("video", {})
  if video.get("name") == "vivit" and video.get("variant", "factorised") != "factorised":
    # Joint tokens are space-time patches in time-major order: a half segment's span would
    # pick some patches of a time step, not the whole frame.
    raise ConfigError(f"model.encoders.video.vivit.variant={video['variant']!r}: segments pool "
                      "tokens that each cover a time step; use variant='factorised' (one token "
                      "per tubelet of frames).")
  fusion, fusion_options = TEMPORAL_FUSIONS.choose(m.fusion, "model.fusion")
  counts = TEMPORAL_FUSIONS.get(fusion).counts
  if counts is not None and len(modalities) not in counts:
    raise ConfigError(f"model.fusion.name={fusion!r} joins {' or '.join(map(str, counts))} "
                      f"modalities, model.modalities has {len(modalities)}; for one modality "
                      "use model.fusion.name=concat.")
  head, head_options = HEADS.choose(m.head, "model.head")
  return EventLocaliser(num_segments=num_segments, modalities=tuple(modalities),
                        encoders=encoders, fusion=fusion, fusion_options=fusion_options,
                        head=head, head_options=head_options,
                        **classification.missing_options(config),
                        dtype=jnp.dtype(config.compute_dtype))


def modalities_of(config) -> tuple:
  """config.model.modalities, checked: a non-empty subset of video, audio."""
  return classification.names_of(config.model.modalities, MODALITIES, "model.modalities")


def batch_maker(world, split: str, modalities: Sequence[str]) -> Callable:
  """make(indices int [n]) -> {"segments": int32 [n, frames - 1] (1: the audio-visual event,
  av_events.segment_labels), **classification.stack_inputs of `modalities`} of `split`'s clips."""
  def make(indices):
    examples = [world.example(split, int(i), tuple(modalities)) for i in indices]
    labels = [av_events.segment_labels(world.clip(split, int(i))) for i in indices]
    return {"segments": np.stack(labels), **classification.stack_inputs(examples, modalities)}
  return make
