"""Integrated gradients (Sundararajan et al. 2017, "Axiomatic Attribution for Deep Networks"),
per input element and summed per modality: how much each modality's input moved a class score
away from its value at a baseline.

attribution_i = (x_i - x'_i) * integral_0^1 df/dx_i(x' + a (x - x')) da, the integral by
the midpoint rule over `steps` intervals (never at the baseline itself, where a model may have
no gradient: an audio encoder that normalises its spectrogram divides by zero on silence).
All attributed inputs move together along one straight path, so the attributions of every
element of every attributed modality sum to f(x) - f(x') (completeness) up to the quadrature
error; each modality's sum is its share. Token ids are attributed through their embeddings
(`token_attributions`: how much each word of a text moved the score).
"""

from typing import Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp

from mmjax.interpret import paths


def integrated_gradients(fn: Callable, inputs: Mapping, baselines: Mapping,
                         steps: int = 32) -> dict:
  """fn(inputs {name: [batch, ...]}) -> float [batch] (each example's score, examples
  independent); baselines: {name: array like inputs[name]} for the inputs to attribute (the
  others are held at their values). Returns {name: attributions, float32 like inputs[name]}."""
  if steps < 1:
    raise ValueError(f"steps={steps}; valid: >= 1.")
  names = tuple(baselines)
  x = {k: jnp.asarray(inputs[k], jnp.float32) for k in names}
  x0 = {k: jnp.asarray(baselines[k], jnp.float32) for k in names}
  rest = {k: v for k, v in inputs.items() if k not in names}
  grad = jax.grad(lambda moved: fn({**rest, **moved}).sum())

  def body(total, a):
    g = grad({k: x0[k] + a * (x[k] - x0[k]) for k in names})
    return {k: total[k] + g[k] for k in names}, None

  alphas = (jnp.arange(steps, dtype=jnp.float32) + 0.5) / steps
  total, _ = jax.lax.scan(body, jax.tree.map(jnp.zeros_like, x), alphas)
  mean_grad = {k: total[k] / steps for k in names}
  return {k: (x[k] - x0[k]) * mean_grad[k] for k in names}


def class_score(model, variables, classes, output: str = "logit") -> Callable:
  """fn(inputs) -> float32 [batch]: each example's logit (or softmax probability) of its class
  (int [batch]) under model.apply(variables, inputs) -> logits [batch, classes]."""
  if output not in ("logit", "probability"):
    raise ValueError(f"output={output!r}; valid: logit, probability.")
  rows = jnp.arange(len(classes))

  def fn(inputs):
    logits = model.apply(variables, inputs).astype(jnp.float32)
    if output == "probability":
      logits = jax.nn.softmax(logits, -1)
    return logits[rows, classes]
  return fn


def modality_attributions(model, variables, inputs: Mapping, modalities: Sequence[str],
                          classes=None, baselines: Optional[Mapping] = None, steps: int = 32,
                          output: str = "logit") -> dict:
  """Integrated gradients of each example's class score over `modalities` (continuous inputs:
  image, audio, video; token ids are not), the others held at their values.

  classes: int [batch] (None: the predicted ones). baselines: {modality: array}, default zeros
  (for the classifiers' inputs: mid-grey normalised images, silence). Returns {"attributions":
  {modality: like its input}, "per_modality": {modality: float32 [batch] sum},
  "score", "baseline_score": float32 [batch], "classes": int32 [batch]}.
  """
  discrete = [m for m in modalities if not jnp.issubdtype(jnp.asarray(inputs[m]).dtype,
                                                          jnp.floating)]
  if discrete:
    raise ValueError(f"integrated gradients needs continuous inputs; {discrete} are token ids. "
                     "Attribute the continuous modalities and hold these fixed.")
  if classes is None:
    classes = jnp.argmax(model.apply(variables, inputs), -1)
  classes = jnp.asarray(classes, jnp.int32)
  baselines = {m: (jnp.zeros_like(jnp.asarray(inputs[m], jnp.float32)) if baselines is None
                   or m not in baselines else baselines[m]) for m in modalities}
  fn = class_score(model, variables, classes, output)
  attributions = integrated_gradients(fn, inputs, baselines, steps)
  axes = lambda a: tuple(range(1, a.ndim))
  return {"attributions": attributions,
          "per_modality": {m: a.sum(axis=axes(a)) for m, a in attributions.items()},
          "score": fn(inputs), "baseline_score": fn({**inputs, **baselines}),
          "classes": classes}


def token_attributions(model, variables, tokens, score_of: Callable, steps: int = 32,
                       prefix: str = "") -> dict:
  """Integrated gradients of a score over a text encoder's token embeddings (its
  "token_embeddings" feature hook, mmjax/models/hooks.py, under `prefix`): token ids have no
  path to integrate along, their embeddings do. The baseline is every embedding at zero (the
  position embeddings, added after the hook, stay).

  model.apply(variables, tokens) -> out; score_of(out) -> float [batch]. Returns
  {"attributions": float32 [batch, length] (each position's attribution, summed over the
  embedding's width; they sum to score - baseline_score up to the quadrature error),
  "score", "baseline_score": float32 [batch]}.
  """
  out, state = model.apply(variables, tokens, mutable=["perturbations", "intermediates"])
  sown = paths.under(paths.flatten(state["intermediates"]), prefix)
  hooks = [k for k in sown if k.rsplit("/", 1)[-1] == "token_embeddings"]
  if len(hooks) != 1:
    raise ValueError(f"token attributions need one text encoder's token_embeddings hook under "
                     f"{prefix!r}; the model has {hooks or 'none'} (the text encoders of "
                     "mmjax.models.text have one).")
  hook, zeros = hooks[0], paths.flatten(state["perturbations"])
  embeddings = sown[hook][0]
  x = embeddings.astype(jnp.float32)

  def score(moved):  # the model with its token embeddings replaced by moved["embeddings"]
    delta = (moved["embeddings"] - x).astype(embeddings.dtype)
    perturbations = paths.unflatten({**zeros, hook: delta})
    return score_of(model.apply({**variables, "perturbations": perturbations}, tokens))

  baseline = {"embeddings": jnp.zeros_like(x)}
  attributions = integrated_gradients(score, {"embeddings": x}, baseline, steps)["embeddings"]
  return {"attributions": attributions.sum(axis=-1),
          "score": score_of(out).astype(jnp.float32),
          "baseline_score": score(baseline).astype(jnp.float32)}
