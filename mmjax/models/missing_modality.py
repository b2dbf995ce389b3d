"""Learned stand-ins for a modality that is missing, and modality dropout to train them.

A model with placeholders replaces a missing modality's encoder outputs with learned vectors
(as BERT's [MASK] token stands in for a word), so every fusion and head run unchanged on any
subset of the modalities. Trained with modality dropout (each example loses each modality with
probability p, as in ModDrop, Neverova et al. 2015), the model learns to use them; trained
without, the placeholders keep their initial values and show how brittle the model is
(MultiBench's robustness question).
"""

from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class Placeholder(nn.Module):
  """One modality's stand-ins: a pooled vector [d] and one token [e].

  Where the modality is missing, pooled becomes the vector and the token sequence the stand-in
  token followed by masked-out positions, so an attention fusion sees one stand-in token however
  many tokens the encoder gives (the same as `absent`, which has no encoder output to replace).
  """
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled: jax.Array, tokens: jax.Array, mask: Optional[jax.Array],
               keep: jax.Array):
    """pooled [batch, d], tokens [batch, n, e], mask [batch, n] bool or None, keep [batch]
    bool (False: missing) -> (pooled, tokens, mask [batch, n] bool) with the stand-ins where
    keep is False."""
    vector = self.param("pooled", nn.initializers.normal(0.02), pooled.shape[-1:],
                        self.param_dtype)
    token = self.param("token", nn.initializers.normal(0.02), tokens.shape[-1:],
                       self.param_dtype)
    pooled = jnp.where(keep[:, None], pooled, vector.astype(pooled.dtype))
    tokens = jnp.where(keep[:, None, None], tokens, token.astype(tokens.dtype))
    mask = jnp.ones(tokens.shape[:2], bool) if mask is None else mask
    first = jnp.arange(tokens.shape[1]) == 0
    return pooled, tokens, jnp.where(keep[:, None], mask, first[None, :])

  def absent(self, batch: int, dtype: Any):
    """The stand-ins of a modality with no input at all: (pooled [batch, d], tokens
    [batch, 1, e], mask [batch, 1] all True)."""
    vector, token = (self.get_variable("params", k) for k in ("pooled", "token"))
    if vector is None:
      raise ValueError("the placeholders are created at init: initialise the model with every "
                       "modality present, then leave out any at apply.")
    pooled = jnp.broadcast_to(vector.astype(dtype), (batch, vector.shape[0]))
    tokens = jnp.broadcast_to(token.astype(dtype), (batch, 1, token.shape[0]))
    return pooled, tokens, jnp.ones((batch, 1), bool)


class SequencePlaceholder(nn.Module):
  """One modality's stand-in for a sequence whose positions a later layer keeps apart (the
  event localiser's segments: [batch, segments, e]): where the modality is missing, every
  position becomes the same learned vector [e], so the fusion still sees one per segment."""
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, sequence: jax.Array, keep: jax.Array) -> jax.Array:
    """sequence [batch, n, e], keep [batch] bool (False: missing) -> [batch, n, e]."""
    vector = self.param("vector", nn.initializers.normal(0.02), sequence.shape[-1:],
                        self.param_dtype)
    return jnp.where(keep[:, None, None], sequence, vector.astype(sequence.dtype))

  def absent(self, batch: int, length: int, dtype: Any) -> jax.Array:
    """The stand-in sequence [batch, length, e] of a modality with no input at all."""
    vector = self.get_variable("params", "vector")
    if vector is None:
      raise ValueError("the placeholders are created at init: initialise the model with every "
                       "modality present, then leave out any at apply.")
    return jnp.broadcast_to(vector.astype(dtype), (batch, length, vector.shape[0]))


def check_options(placeholders: bool, modality_dropout: float):
  """A model's missing-modality options, checked (ValueError naming the fix)."""
  if not 0.0 <= modality_dropout < 1.0:
    raise ValueError(f"modality_dropout={modality_dropout}; valid: 0 <= p < 1.")
  if modality_dropout and not placeholders:
    raise ValueError("modality_dropout needs placeholders=True: a dropped modality is replaced "
                     "by its learned stand-ins.")


def which_kept(module: nn.Module, modalities: Sequence[str], inputs: Mapping[str, jax.Array],
               present: Optional[Mapping[str, jax.Array]], train: bool):
  """For a model over `modalities` with fields `placeholders` and `modality_dropout`, given
  its inputs (a modality left out is missing from every example) and `present` ({modality:
  bool [batch]}, False where an example lacks it): (the absent modalities, {modality: keep
  bool [batch]}, batch size). With train and modality_dropout, each example also loses each
  modality at that rate (`dropout_keep`, from the "dropout" rng). Bad inputs raise ValueError."""
  absent = [m for m in modalities if m not in inputs]
  if (absent or present) and not module.placeholders:
    raise ValueError(f"inputs lack modalities {absent or sorted(present)}; got keys "
                     f"{sorted(inputs)}, need {list(modalities)} (a model with "
                     "placeholders=True takes any subset: config model.missing.placeholders).")
  unknown = sorted(set(present or {}) - set(modalities))
  if unknown:
    raise ValueError(f"present names {unknown}, not modalities of this model: "
                     f"{list(modalities)}.")
  if len(absent) == len(modalities):
    raise ValueError(f"inputs hold none of the modalities {list(modalities)}; got keys "
                     f"{sorted(inputs)}.")
  batch = next(inputs[m].shape[0] for m in modalities if m in inputs)
  keep = {m: jnp.ones((batch,), bool) for m in modalities}
  if train and module.modality_dropout:
    drawn = dropout_keep(module.make_rng("dropout"), batch, len(modalities),
                         module.modality_dropout)
    keep = dict(zip(modalities, drawn))
  for m, mask in (present or {}).items():
    keep[m] = keep[m] & jnp.asarray(mask, bool)
  return absent, keep, batch


def dropout_keep(rng: jax.Array, batch: int, count: int, rate: float) -> jax.Array:
  """bool [count, batch]: which modality each example keeps when each is dropped with
  probability `rate`, independently, except that an example never loses all of them (it then
  keeps one chosen uniformly)."""
  keep_rng, pick_rng = jax.random.split(rng)
  keep = jax.random.uniform(keep_rng, (count, batch)) >= rate
  rescue = jax.nn.one_hot(jax.random.randint(pick_rng, (batch,), 0, count), count, dtype=bool).T
  return keep | (rescue & ~keep.any(0, keepdims=True))
