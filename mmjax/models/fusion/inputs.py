"""Checks of the shared fusion interface."""

from typing import Optional

import jax
import jax.numpy as jnp


def _as_list(value, arg: str, fusion: str, shape: str):
  if not isinstance(value, (list, tuple)):
    raise ValueError(f"{fusion}: {arg} must be a list or tuple with one {shape} array per "
                     f"modality; got {type(value).__name__}.")
  return list(value)


def check_inputs(fusion: str, pooled, tokens=None, masks=None, *, needs_tokens: bool = False,
                 exactly: Optional[int] = None, at_least: int = 1,
                 limit_note: str = "") -> tuple[int, Optional[list[jax.Array]]]:
  """Validates `pooled` [batch, d_i], `tokens` [batch, n_i, e_i] and `masks` [batch, n_i] bool.

  Token-level fusions (`needs_tokens`) read only `tokens` and accept `pooled=None`. Returns the
  number of modalities and the masks as a list of [batch, n_i] bool arrays (all True where a mask
  is missing), or None when no tokens were given.
  """
  if needs_tokens and tokens is None:
    raise ValueError(f"{fusion} fuses token sequences: pass tokens=[...] with one "
                     "[batch, n_i, e_i] array per modality (and optional masks).")
  if pooled is None and not needs_tokens:
    raise ValueError(f"{fusion} fuses pooled features: pass pooled=[...] with one [batch, d_i] "
                     "array per modality.")
  batches = set()
  count = None
  if pooled is not None:
    pooled = _as_list(pooled, "pooled", fusion, "[batch, d_i]")
    for i, p in enumerate(pooled):
      if p.ndim != 2:
        raise ValueError(f"{fusion}: pooled[{i}] must be [batch, d_i]; got shape {p.shape}.")
      batches.add(p.shape[0])
    count = len(pooled)
  if tokens is not None:
    tokens = _as_list(tokens, "tokens", fusion, "[batch, n_i, e_i]")
    if count is not None and len(tokens) != count:
      raise ValueError(f"{fusion}: got {count} pooled features but {len(tokens)} token arrays; "
                       "give one of each per modality.")
    for i, t in enumerate(tokens):
      if t.ndim != 3:
        raise ValueError(f"{fusion}: tokens[{i}] must be [batch, n_i, e_i]; got shape {t.shape}.")
      batches.add(t.shape[0])
    count = len(tokens)
  if masks is not None and tokens is None:
    raise ValueError(f"{fusion}: masks were given without tokens.")
  full_masks = None
  if tokens is not None:
    masks = [None] * count if masks is None else _as_list(masks, "masks", fusion, "[batch, n_i]")
    if len(masks) != count:
      raise ValueError(f"{fusion}: got {len(masks)} masks for {count} modalities.")
    full_masks = []
    for i, (t, m) in enumerate(zip(tokens, masks)):
      if m is None:
        m = jnp.ones(t.shape[:2], bool)
      if m.shape != t.shape[:2]:
        raise ValueError(f"{fusion}: masks[{i}] must be [batch, n_i] = {t.shape[:2]}; "
                         f"got {m.shape}.")
      full_masks.append(m.astype(bool))
  if len(batches) > 1:
    raise ValueError(f"{fusion}: modalities disagree on the batch size: {sorted(batches)}.")
  note = f" ({limit_note})" if limit_note else ""
  if exactly is not None and count != exactly:
    raise ValueError(f"{fusion} fuses exactly {exactly} modalities{note}; got {count}.")
  if count < at_least:
    raise ValueError(f"{fusion} needs at least {at_least} modalities{note}; got {count}.")
  return count, full_masks


def context_and_other(fusion: str, pooled, tokens, masks, index: int, index_name: str,
                      role: str) -> tuple[jax.Array, jax.Array]:
  """For fusions of exactly two pooled modalities where one (`index`, 0 or 1) acts on the other:
  validates the inputs and the index, -> (pooled[index], the other), each [batch, d_i].
  role: what the chosen modality does, for the error message."""
  check_inputs(fusion, pooled, tokens, masks, exactly=2, limit_note=role)
  if index not in (0, 1):
    raise ValueError(f"{fusion}: {index_name}={index}; valid: 0, 1.")
  return pooled[index], pooled[1 - index]
