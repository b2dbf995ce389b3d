"""Attention maps of the Transformer encoders (ViT, AST, the text Transformer) and cross-attention
fusion, and attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in
Transformers").

Every `MultiHeadAttention` sows its probabilities when applied with "intermediates" mutable
(mmjax/models/transformer.py); `attention_weights` collects them per layer. Rollout follows
the information from the input tokens through the layers: each layer's head-averaged
attention A_l becomes 0.5 A_l + 0.5 I (the residual connection), rows renormalised, and the
rollout is their product R = A'_L ... A'_1, R[i, j] = how much of token i's output comes from
input token j. Rollout is blind to what is asked of the model; `gradient_rollout` (Chefer et
al. 2021) weights each layer's attention by the gradient of a chosen score, so its map answers
"where is the evidence for this score" (e.g. for one text query of a contrastive model).
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp

from mmjax.interpret import paths

WEIGHTS = "attention_weights"


def attention_weights(model, variables, inputs, prefix: str = "") -> dict:
  """{layer path: float32 [batch, heads, q_len, k_len]} of every attention layer under `prefix`
  (e.g. "towers_image" for a classifier's ViT, "fuse" for a cross-attention fusion), in call
  order. ValueError when there are none."""
  _, state = model.apply(variables, inputs, mutable=["intermediates"])
  return collect(state.get("intermediates", {}), prefix)


def collect(intermediates, prefix: str = "", name: str = WEIGHTS) -> dict:
  """The attention weights in a sown "intermediates" collection, as `attention_weights` gives
  them; a scanned stack's layers are split out as ".../blocks/block/attn@0", "@1", ...
  name="attention": the same from a "perturbations" collection or its gradient (arrays, not
  sown tuples)."""
  out = {}
  for path, sown in paths.under(paths.flatten(intermediates), prefix).items():
    if not path.endswith("/" + name):
      continue
    layer, weights = path[:-len(name) - 1], sown[0] if name == WEIGHTS else sown
    if weights.ndim == 5:  # nn.scan stacked the layers first
      out.update({f"{layer}@{i}": w for i, w in enumerate(weights)})
    else:
      out[layer] = weights
  if not out:
    raise ValueError(f"no attention layer under {prefix!r}: rollout needs a Transformer "
                     "encoder (vit, ast, transformer) there.")
  return out


def rollout(layers, residual: float = 0.5) -> jnp.ndarray:
  """Attention rollout of self-attention layers, first layer first.

  layers: a sequence of float [batch, heads, n, n] (or [batch, n, n], heads already merged).
  residual: the weight of the identity (0.5 in the paper; 0 multiplies raw attention).
  Returns float32 [batch, n, n] with rows summing to 1.
  """
  out = None
  for a in layers:
    a = jnp.asarray(a, jnp.float32)
    a = a.mean(axis=1) if a.ndim == 4 else a
    a = residual * jnp.eye(a.shape[-1]) + (1.0 - residual) * a
    a = a / a.sum(axis=-1, keepdims=True)
    out = a if out is None else jnp.einsum("bij,bjk->bik", a, out)
  if out is None:
    raise ValueError("rollout needs at least one attention layer.")
  return out


def gradient_rollout(model, variables, inputs, score_of: Callable, prefix: str) -> jnp.ndarray:
  """Gradient-weighted rollout of the self-attention layers under `prefix` for a score (Chefer,
  Gur & Wolf 2021, "Generic Attention-model Explainability for Interpreting Bi-Modal and
  Encoder-Decoder Transformers", their rule for self-attention): R = I, and per layer, first
  layer first, R <- R + mean_heads(relu(dS/dA * A)) R, so only attention that raises the score
  spreads relevance. score_of(model output) -> [batch] scores, e.g. a contrastive model's
  image-text similarity; examples must not interact (evaluation mode). Returns float32
  [batch, n, n]: R[i, j], the relevance of input token j to output token i (`token_map`)."""
  _, state = model.apply(variables, inputs, mutable=["intermediates", "perturbations"])

  def total(perturbations):
    out, sown = model.apply({**variables, "perturbations": perturbations}, inputs,
                            mutable=["intermediates"])
    return jnp.sum(score_of(out)), sown["intermediates"]

  grads, sown = jax.grad(total, has_aux=True)(state["perturbations"])
  weights, gradients = collect(sown, prefix), collect(grads, prefix, "attention")
  out = None
  for layer, a in weights.items():
    cam = jax.nn.relu(gradients[layer] * a.astype(jnp.float32)).mean(axis=1)
    out = jnp.broadcast_to(jnp.eye(a.shape[-1]), cam.shape) if out is None else out
    out = out + jnp.einsum("bij,bjk->bik", cam, out)
  return out


def token_map(rolled: jnp.ndarray, cls_token: bool, grid: Optional[tuple] = None
              ) -> jnp.ndarray:
  """What the pooled output draws from each input patch, [batch, *grid] (or [batch, tokens]).

  rolled: a rollout [batch, n, n]. cls_token: the encoder pools its first token (ViT
  pool="cls"): the map is that token's row over the other tokens; otherwise it pools the mean
  of all tokens (pool="mean"): the mean of the rows. grid: (rows, columns) of the patches, e.g.
  (h / patch, w / patch).
  """
  m = rolled[:, 0, 1:] if cls_token else rolled.mean(axis=1)
  if grid is None:
    return m
  if m.shape[1] != grid[0] * grid[1]:
    raise ValueError(f"{m.shape[1]} patch tokens do not fill a grid {tuple(grid)}.")
  return m.reshape(m.shape[0], *grid)


def head_maps(weights: jnp.ndarray, cls_token: bool, grid: tuple) -> jnp.ndarray:
  """One layer's per-head attention over the patches, [batch, heads, *grid]: with cls_token
  the class token's row, otherwise the mean of all rows (what a mean pool sees), the class
  token's column dropped. weights: [batch, heads, n, n]."""
  row = weights[:, :, 0, 1:] if cls_token else weights.mean(axis=2)
  return row.reshape(row.shape[:2] + tuple(grid))
