"""The models of experiments/translation.py's stages from their config sections: the attribute
classifier that judges images or captions (one head per judged attribute), and the
text-to-image generator with the diffusion loss_fn and the sampler that train and draw from it.
(The captioner stage's model is mmjax.tasks.captioning's.)

The judged attributes are the data's (`attributes_of`, `labels_of`): the synthetic world's first
object's shape, colour and size, or a source of files' single attribute `label` (the manifests'
label field).

  classifier model = dict(encoder=dict(name="cnn", cnn=dict(channels=(16, 32))),
                          head=dict(hidden=(64,)))          # the ClassificationHead's options
  generator model  = dict(text=dict(name="bag_of_words", bag_of_words=dict(width=64)),
                          generator=dict(name="diffusion", diffusion=dict(base_channels=32, ...)),
                          condition="pooled", noise_schedule="cosine", timesteps=1000)
"""

from typing import Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import models
from mmjax.data import sources
from mmjax.data.synthetic.scenes import ATTRIBUTES
from mmjax.evaluate.batched import apply_in_batches
from mmjax.losses.diffusion import diffusion_loss
from mmjax.models.attribute_classifier import AttributeClassifier
from mmjax.models.heads import diffusion
from mmjax.models.multimodal_classifier import encoder_registry
from mmjax.models.text_to_image import CONDITIONS, TextToImage
from mmjax.registry import ConfigError


def rbg(key):
  """An "rbg" key seeded by one small draw from `key`. XLA:CPU takes seconds to compile each
  threefry draw of this jax and ~8x less for an rbg one: parameter inits and image-sized noise
  draw from this key instead (init compiles in a third of the time)."""
  return jax.random.wrap_key_data(jax.random.bits(key, (4,), jnp.uint32), impl="rbg")


def attributes_of(source) -> dict:
  """{attribute: number of classes} that the judges name for `source`: the synthetic world's
  first-object attributes (shape, colour, size), or a source of files' single attribute `label`
  (its class names, else its train split's largest label id + 1)."""
  if sources.size(source, "train") is None:
    return {a: len(v) for a, v in ATTRIBUTES.items()}
  sources.require(source, ("label",))
  names = source.class_names()
  return {"label": len(names) if names is not None else int(source.labels("train").max()) + 1}


def labels_of(source, split: str, indices) -> dict:
  """{attribute of attributes_of(source): int32 [n]} the class ids of examples `indices` of
  `split`."""
  if sources.size(source, "train") is None:
    labels = source.first_object_labels(split, indices)  # minus n_objects: no stage judges it
    return {a: labels[a] for a in ATTRIBUTES}
  return {"label": np.array([source.example(split, int(i), ("label",))["label"]
                             for i in indices], np.int32)}


def build_attribute_classifier(m, modality: str, vocab_size: int, text_len: int,
                               dtype=jnp.float32, key: str = "model",
                               attributes: Optional[Mapping[str, int]] = None
                               ) -> AttributeClassifier:
  """The AttributeClassifier of `modality` ("image" or "text") that config section `m` (at
  config key `key`) describes: one head per attribute of `attributes` ({name: number of
  classes}, `attributes_of(source)`; default the synthetic world's ATTRIBUTES). A text encoder's
  vocab_size and max_len come from the data unless its options set them."""
  if attributes is None:
    attributes = {a: len(v) for a, v in ATTRIBUTES.items()}
  name, options = encoder_registry(modality).choose(m.encoder, f"{key}.encoder",
                                                   vocab_size=vocab_size, max_len=text_len)
  models.HEADS.check_options("classification", m.head, f"{key}.head")
  return AttributeClassifier(num_classes=dict(attributes),
                             modality=modality, encoder=name, encoder_options=options,
                             head_options=dict(m.head), dtype=dtype)


def classifier_init_fn(model: AttributeClassifier, example):
  """init_fn(rng) -> (params, model_state) of an attribute classifier, as translation.py's
  classifier stages initialise it: on `example` (a batch of one model input), from an rbg key."""
  def init_fn(rng):
    variables = dict(model.init(rbg(rng), example))
    return variables.pop("params"), variables
  return init_fn


def noise_schedule(m, key: str = "model") -> jax.Array:
  """ᾱ_t [timesteps] of config section `m`'s noise_schedule and timesteps."""
  try:
    return diffusion.noise_schedule(m.noise_schedule, m.timesteps)
  except ValueError as e:
    raise ConfigError(f"{key}.noise_schedule={m.noise_schedule!r}, {key}.timesteps="
                      f"{m.timesteps!r}: {e}") from None


def build_text_to_image(m, vocab_size: int, text_len: int, dtype=jnp.float32,
                        key: str = "model") -> TextToImage:
  """The TextToImage that config section `m` (at config key `key`) describes; the text
  encoder's vocab_size and max_len come from the data unless its options set them. A bad name
  or option fails here naming its key."""
  if m.condition not in CONDITIONS:
    raise ConfigError(f"{key}.condition={m.condition!r}; valid choices: {', '.join(CONDITIONS)}.")
  noise_schedule(m, key)
  text, text_options = models.TEXT_ENCODERS.choose(m.text, f"{key}.text", vocab_size=vocab_size,
                                                   max_len=text_len)
  generator, options = models.GENERATORS.choose(m.generator, f"{key}.generator")
  return TextToImage(text_encoder=text, text=text_options, generator=generator,
                     generator_options=options, condition=m.condition, dtype=dtype)


def _apply_fn(model: TextToImage):
  return lambda p, x, t, tokens, **kw: model.apply({"params": p}, x, t, tokens, **kw)


def diffusion_loss_fn(model: TextToImage, alpha_bars):
  """The trainer's loss_fn on batches {"images": [b, s, s, 3] in [0, 1], "captions": int [b,
  text_len]}: DDPM's noise-prediction loss (`losses.diffusion`), the noise drawn from an rbg
  key."""
  apply_fn = _apply_fn(model)

  def loss_fn(params, model_state, batch, rng, axis_name):
    images = batch["images"] * 2.0 - 1.0  # the diffusion model's pixels live in [-1, 1]
    loss = diffusion_loss(params, apply_fn, images, batch["captions"], rbg(rng), alpha_bars)
    return loss, ({}, model_state)
  return loss_fn


def image_sampler(model: TextToImage, alpha_bars, image_size: int, num_steps: int,
                  guidance_scale: float, eta: float):
  """Jitted (params, tokens [b, text_len], rng) -> images [b, s, s, 3] in [-1, 1]: DDIM with
  classifier-free guidance (`heads.diffusion.sample`)."""
  return jax.jit(lambda params, tokens, rng: diffusion.sample(
      _apply_fn(model), params, tokens, rng, alpha_bars, (image_size, image_size, 3), num_steps,
      guidance_scale, eta))


def generate_images(sampler, params, tokens, seed: int, batch_size: int) -> np.ndarray:
  """Images [n, s, s, 3] in [0, 1] of captions tokens [n, text_len], `batch_size` at a time;
  each batch's noise from key(seed) folded with its first row."""
  key = jax.random.key(seed)
  sample = lambda t, i: sampler(params, t, jax.random.fold_in(key, i))
  return np.clip((apply_in_batches(sample, tokens, batch_size) + 1.0) / 2.0, 0.0, 1.0)


def accuracies(predictions, labels, attributes=None) -> dict:
  """{attribute: accuracy, "all": all attributes right} as floats; predictions and labels:
  {attribute: int [n]}. attributes: the attributes scored (default: every one predicted)."""
  right = {a: predictions[a] == labels[a] for a in (attributes or predictions)}
  return {**{a: float(r.mean()) for a, r in right.items()},
          "all": float(np.mean(np.all(list(right.values()), axis=0)))}
