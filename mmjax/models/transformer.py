"""Transformer building blocks shared by the ViT, text and audio encoders: pre-LN by default,
post-LN (BERT, Devlin et al. 2019) as an option so pretrained BERT weights load.

Every product goes through `matmul.einsum`, so `dtype=bfloat16` computes all matmuls (forward and
backward) in bfloat16 with float32 accumulation, while LayerNorm statistics and the softmax stay
in float32 and parameters are `param_dtype` (float32 by default).
"""

import functools
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mmjax.models import matmul

Dtype = Any


class Dense(nn.Module):
  """y = activation(x @ kernel + bias) over the last axis. x: [..., in] -> [..., features].

  activation: an elementwise function applied in float32 before the cast to `dtype` (see
  matmul.dense), or None."""
  features: int
  use_bias: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  kernel_init: Any = nn.initializers.xavier_uniform()
  activation: Any = None

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), self.param_dtype)
    bias = (self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype)
            if self.use_bias else None)
    # As one 2-D product: XLA:CPU runs the backward of a [batch, tokens, in] x [in, out] einsum
    # (a weight gradient contracting two axes) ~1.6x slower than the same product on [n, in].
    # The reshape is free on every backend, so it is not made CPU-only.
    y = matmul.dense(x.reshape(-1, x.shape[-1]), kernel, bias, self.dtype, self.activation)
    return y.reshape(x.shape[:-1] + (self.features,))


class LayerNorm(nn.Module):
  """LayerNorm over the last axis, statistics in float32. x: [..., dim] -> [..., dim] in `dtype`.

  Same parameters ("scale", "bias") and maths as flax's nn.LayerNorm (fast variance
  E[x^2] - E[x]^2), but the two means are matrix-vector products with a 1/dim vector: XLA:CPU
  splits a row reduction into an unvectorised reduce-window that cost ~0.8 s of a 4.7 s
  clip_tiny step, while a product runs at memory speed (its gradient is a broadcast). Only on CPU:
  elsewhere plain means (the same maths, tested).
  """
  epsilon: float = 1e-5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    dim = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (dim,), self.param_dtype)
    bias = self.param("bias", nn.initializers.zeros, (dim,), self.param_dtype)
    x32 = x.astype(jnp.float32)
    if matmul.on_cpu():
      mean_op = jnp.full((dim,), 1.0 / dim, jnp.float32)
      mean, mean_sq = x32 @ mean_op, x32 * x32 @ mean_op
    else:  # GPU/TPU compilers fuse row reductions well; a matrix-vector product would not help.
      mean, mean_sq = x32.mean(axis=-1), (x32 * x32).mean(axis=-1)
    var = jnp.maximum(mean_sq - mean * mean, 0.0)
    y = (x32 - mean[..., None]) * jax.lax.rsqrt(var + self.epsilon)[..., None]
    y = matmul.scale_shift(y.reshape(-1, dim), scale.astype(jnp.float32),
                           bias.astype(jnp.float32))
    return y.reshape(x.shape).astype(self.dtype)


def layer_norm(dtype, param_dtype, name=None, eps=1e-5):
  return LayerNorm(epsilon=eps, dtype=dtype, param_dtype=param_dtype, name=name)


def attention_bias(mask: Optional[jax.Array], causal: bool, length: int) -> Optional[jax.Array]:
  """Additive bias [batch or 1, 1, q, k] from a padding mask [batch, k] (True = token) and/or
  a causal mask; None when neither applies."""
  bias = None
  if causal:
    bias = jnp.where(jnp.tril(jnp.ones((length, length), bool)), 0.0, -1e9)[None, None]
  if mask is not None:
    pad = jnp.where(mask[:, None, None, :], 0.0, -1e9)
    bias = pad if bias is None else bias + pad
  return bias


# "auto": mmjax's einsum path on CPU, jax.nn.dot_product_attention elsewhere (it picks cuDNN's
# fused flash attention on GPUs where it applies, XLA's otherwise); or one of them by name.
ATTENTION_IMPLEMENTATIONS = ("auto", "einsum", "xla", "cudnn")


def dot_product_attention(q, k, v, bias, dtype, implementation: str = "auto"):
  """softmax(q k^T / sqrt(head_dim) + bias) v on head-major [batch, heads, tokens, head_dim].

  Products in `dtype` with float32 accumulation, logits and softmax in float32; bias as
  `attention_bias` returns (or None). Returns [batch, heads, q_len, head_dim] in `dtype`.

  implementation (`ATTENTION_IMPLEMENTATIONS`): "einsum" materialises the [batch, heads, q, k]
  logits through `matmul.einsum`, the fastest form on XLA:CPU (bf16 products in both passes;
  there, in low precision, with its backward written out: `matmul.attention`);
  "xla" / "cudnn" call `jax.nn.dot_product_attention` with that implementation (cuDNN: flash
  attention on GPU, bf16/fp16 only); "auto" is "einsum" on CPU and jax's own choice elsewhere.
  """
  if implementation not in ATTENTION_IMPLEMENTATIONS:
    raise ValueError(f"attention={implementation!r}; valid: "
                     f"{', '.join(ATTENTION_IMPLEMENTATIONS)}.")
  if implementation == "auto":
    implementation = "einsum" if matmul.on_cpu() else None
  if implementation != "einsum":
    # jax's layout is token-major [batch, tokens, heads, head_dim].
    to_tokens = lambda t: t.astype(dtype).transpose(0, 2, 1, 3)
    out = jax.nn.dot_product_attention(
        to_tokens(q), to_tokens(k), to_tokens(v),
        bias=None if bias is None else bias.astype(dtype), implementation=implementation)
    return out.transpose(0, 2, 1, 3)
  if jnp.dtype(dtype) != jnp.float32 and matmul.on_cpu():
    return matmul.attention(q, k, v, bias, dtype)
  return matmul.einsum("bhqk,bhkd->bhqd", attention_weights(q, k, bias, dtype), v, dtype)


def attention_weights(q, k, bias, dtype):
  """softmax(q k^T / sqrt(head_dim) + bias), float32 [batch, heads, q_len, k_len]: the einsum
  path's attention probabilities (q, k head-major as `dot_product_attention` takes them), the
  same function as `matmul.attention`'s forward pass uses."""
  return matmul.attention_probabilities(q, k, bias, dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def split_heads(t, n: int, num_heads: int):
  """A fused projection [batch, tokens, n * num_heads * head_dim] -> n arrays head-major
  [batch, num_heads, tokens, head_dim] (q, k, v for n=3).

  Its backward pass stacks the n gradients back into one array. Autodiff's own gradient of the
  split pads each gradient to the full width and adds them; XLA:CPU does those adds in float32
  with a rounding to bfloat16 after each, which cost clip_tiny's bf16 step ~0.2 s of ~1.3 s
  (2026-12-05); a stack is a copy, and the same on every backend. Each gradient is made
  token-major before the stack: XLA:CPU's fusion of a head-major stack and one transpose after it
  took 13.3 against 2.3 ms alone (one core, one layer of clip_tiny's image tower), and made its
  bf16 step ~6 % slower (A/B, 2026-12-05)."""
  return _split_heads_fwd(t, n, num_heads)[0]


def _split_heads_fwd(t, n, num_heads):
  b, length, width = t.shape
  parts = t.reshape(b, length, n, num_heads, width // (n * num_heads)).transpose(2, 0, 3, 1, 4)
  return tuple(parts), None


def _split_heads_bwd(n, num_heads, _, grads):
  b, _, length, head_dim = grads[0].shape
  tokens_major = [g.transpose(0, 2, 1, 3) for g in grads]  # [batch, tokens, heads, head_dim]
  stacked = jnp.stack(tokens_major, axis=2)  # [batch, tokens, n, heads, head_dim]
  return (stacked.reshape(b, length, n * num_heads * head_dim),)


split_heads.defvjp(_split_heads_fwd, _split_heads_bwd)


class MultiHeadAttention(nn.Module):
  """Self- or cross-attention with a fused QKV projection (self) or fused KV projection (cross).

  x: [batch, q_len, dim]; context: [batch, k_len, dim] or None; bias: broadcastable to
  [batch, heads, q_len, k_len]. Returns [batch, q_len, dim].

  Applied with the "intermediates" collection mutable (`mutable=["intermediates"]`, as
  mmjax/interpret does), it sows its attention probabilities float32 [batch, heads, q_len,
  k_len] as "attention_weights", computed by the einsum path whatever `attention` says (the
  fused kernels never form them), and with a "perturbations" collection adds its "attention"
  entry to them (flax's `perturb`: for their gradient); otherwise nothing is computed or stored.
  """
  num_heads: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  attention: str = "auto"  # see dot_product_attention

  @nn.compact
  def __call__(self, x, context=None, bias=None):
    dim = x.shape[-1]
    if dim % self.num_heads:
      raise ValueError(f"width {dim} is not divisible by num_heads {self.num_heads}.")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    # Head-major [batch, heads, tokens, head_dim]: every attention product is then a plain
    # batched matmul, which XLA:CPU runs in bf16 with f32 accumulation in both passes.
    if context is None:
      q, k, v = split_heads(Dense(3 * dim, name="qkv", **kw)(x), 3, self.num_heads)
    else:
      (q,) = split_heads(Dense(dim, name="q", **kw)(x), 1, self.num_heads)
      k, v = split_heads(Dense(2 * dim, name="kv", **kw)(context), 2, self.num_heads)
    if self.is_mutable_collection("intermediates"):
      weights = attention_weights(q, k, bias, self.dtype)
      self.sow("intermediates", "attention_weights", weights)
      if self.is_mutable_collection("perturbations") or \
          self.has_variable("perturbations", "attention"):
        # Zeros added here make the gradient with respect to them the gradient with respect to
        # the weights (gradient-weighted rollout, mmjax/interpret/attention.py).
        weights = self.perturb("attention", weights)
      out = matmul.einsum("bhqk,bhkd->bhqd", weights, v, self.dtype)
    else:
      out = dot_product_attention(q, k, v, bias, self.dtype, self.attention)
    out = out.transpose(0, 2, 1, 3)
    return Dense(dim, name="out", **kw)(out.reshape(x.shape[:2] + (dim,)))


def gelu(x):
  """Exact (erf) GELU. jax.nn.gelu(approximate=False) goes through erfc, which XLA:CPU lowers to
  exp and selects costing ~3x the erf form; XLA's erf is a vectorised rational approximation."""
  return x * (0.5 + 0.5 * jax.lax.erf(x * np.float32(0.5 ** 0.5)).astype(x.dtype))


def gelu_tanh(x):
  """The tanh approximation of GELU (flax's nn.gelu default)."""
  return jax.nn.gelu(x, approximate=True)


class MlpBlock(nn.Module):
  """Dense -> GELU (exact erf, as CLIP/BERT) -> [dropout] -> Dense. [..., dim] -> [..., dim].

  gelu_approximate: the tanh approximation instead (flax's nn.gelu default, which the original
  ViT / big_vision checkpoints were trained with). dropout: rate on the hidden units when
  called with train=True (from the "dropout" rng)."""
  mlp_dim: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  gelu_approximate: bool = False
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = Dense(self.mlp_dim, name="fc1", activation=gelu_tanh if self.gelu_approximate else gelu,
              **kw)(x)
    h = nn.Dropout(self.dropout)(h, deterministic=not train)
    return Dense(x.shape[-1], name="fc2", **kw)(h)


NORM_POSITIONS = ("pre", "post")


class EncoderBlock(nn.Module):
  """[batch, tokens, dim] -> same.

  norm_position "pre":  x + MHA(LN1(x)); then x + MLP(LN2(x))  (GPT-2 / ViT / CLIP).
  norm_position "post": LN1(x + MHA(x)); then LN2(x + MLP(x))  (the original Transformer, BERT).
  Both use the same parameter names, so one tree layout serves either. dropout: with train=True,
  the rate on each residual branch's output and the MLP's hidden units (ViT, Dosovitskiy et al.
  2021; BERT). attention: the implementation, as `dot_product_attention` takes it.
  """
  num_heads: int
  mlp_dim: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  norm_position: str = "pre"
  ln_eps: float = 1e-5
  gelu_approximate: bool = False  # tanh GELU (original ViT checkpoints); see MlpBlock.
  dropout: float = 0.0
  attention: str = "auto"

  @nn.compact
  def __call__(self, x, bias=None, train: bool = False):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    ln1 = layer_norm(name="ln1", eps=self.ln_eps, **kw)
    ln2 = layer_norm(name="ln2", eps=self.ln_eps, **kw)
    attn = MultiHeadAttention(self.num_heads, name="attn", attention=self.attention, **kw)
    mlp = MlpBlock(self.mlp_dim, name="mlp", gelu_approximate=self.gelu_approximate,
                   dropout=self.dropout, **kw)
    drop = lambda y: nn.Dropout(self.dropout)(y, deterministic=not train)
    if self.norm_position == "pre":
      x = x + drop(attn(ln1(x), bias=bias))
      return x + drop(mlp(ln2(x), train))
    if self.norm_position == "post":
      x = ln1(x + drop(attn(x, bias=bias)))
      return ln2(x + drop(mlp(x, train)))
    raise ValueError(f"norm_position={self.norm_position!r}; valid: {', '.join(NORM_POSITIONS)}.")


# jax.checkpoint policies by name: what a block's backward pass may keep from its forward pass
# instead of recomputing it. "none" keeps everything (no remat).
REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,  # recompute the whole block
    "dots": jax.checkpoint_policies.dots_saveable,  # keep matmul outputs, redo elementwise ops
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,  # not attention's
}


def stack_blocks(encoder_params: dict, depth: int) -> dict:
  """An unrolled Encoder's parameters {"block0": t0, ..., "block{depth-1}": t} -> the scan=True
  layout {"blocks": {"block": t with every leaf stacked [depth, ...]}}: so a checkpoint or a
  pretrained import (BERT, ViT .npz) of the unrolled layout loads into a scanned model."""
  blocks = [encoder_params[f"block{i}"] for i in range(depth)]
  rest = {k: v for k, v in encoder_params.items() if k not in {f"block{i}" for i in range(depth)}}
  return {**rest, "blocks": {"block": jax.tree.map(lambda *t: jnp.stack(t), *blocks)}}


SCANNED = "blocks"  # the nn.scan of an Encoder with scan=True: its params stack the layers


def gather_layer(params):
  """One scanned layer's params, constrained to be whole (replicated) on every device of the
  ambient mesh: the train step sets it when the state is FSDP-sharded, so XLA all-gathers one
  layer at a time inside the scan, and again in the backward pass where the block is
  rematerialised, instead of every layer before the step (ZeRO-3); the layer's gradients go
  back to their shards. Unchanged outside a mesh (one device, pmap, init)."""
  if jax.sharding.get_abstract_mesh().empty:
    return params
  return jax.tree.map(lambda w: jax.lax.with_sharding_constraint(w, jax.P()), params)


class _ScannedBlock(nn.Module):
  """An EncoderBlock as nn.scan's body: (x, bias) -> (next x, nothing stacked); its params
  pass through `gather_layer` each time they are read."""
  block_kwargs: dict
  train: bool = False

  @nn.compact
  def __call__(self, x, bias):
    block = nn.map_variables(EncoderBlock, "params", trans_in_fn=gather_layer,
                             init=self.is_initializing())
    return block(**self.block_kwargs, name="block")(x, bias, self.train), None


class Encoder(nn.Module):
  """A stack of blocks (pre-LN unless norm_position="post"). x: [batch, tokens, dim]; bias as
  `attention_bias` returns; dropout as EncoderBlock's, active with train=True.

  Memory and compile time for deep models, all the same maths (tests/test_transformer_options.py):
  remat: "none", or a name of `REMAT_POLICIES`: each block's activations are recomputed in the
    backward pass instead of stored (jax.checkpoint), trading ~1/3 more compute for memory.
  scan: one block's code run `depth` times by nn.scan (compile time constant in depth). The
    parameters are then one tree "blocks" whose leaves stack the layers [depth, ...], not
    "block0".."block{depth-1}"; `stack_blocks` converts an unrolled tree (a checkpoint, a
    pretrained import) to it.
  """
  depth: int
  num_heads: int
  mlp_dim: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  norm_position: str = "pre"
  ln_eps: float = 1e-5
  gelu_approximate: bool = False  # tanh GELU (original ViT checkpoints); see MlpBlock.
  dropout: float = 0.0
  attention: str = "auto"  # see dot_product_attention
  remat: str = "none"
  scan: bool = False

  @nn.compact
  def __call__(self, x, bias=None, train: bool = False):
    if self.remat != "none" and self.remat not in REMAT_POLICIES:
      raise ValueError(f"remat={self.remat!r}; valid: none, {', '.join(REMAT_POLICIES)}.")
    block_kwargs = dict(num_heads=self.num_heads, mlp_dim=self.mlp_dim, dtype=self.dtype,
                        param_dtype=self.param_dtype, norm_position=self.norm_position,
                        ln_eps=self.ln_eps, gelu_approximate=self.gelu_approximate,
                        dropout=self.dropout, attention=self.attention)
    if self.scan:
      body = _ScannedBlock
      if self.remat != "none":
        body = nn.remat(body, policy=REMAT_POLICIES[self.remat], prevent_cse=False)
      # Sown intermediates (attention weights) and their perturbations stack over the layers
      # like the params.
      stack = nn.scan(body,
                      variable_axes={"params": 0, "intermediates": 0, "perturbations": 0},
                      split_rngs={"params": True, "dropout": True},
                      in_axes=nn.broadcast, length=self.depth)
      x, _ = stack(block_kwargs, train, name=SCANNED)(x, bias)
      return x
    block = EncoderBlock
    if self.remat != "none":
      # train (argument 3, counting self) decides dropout: a Python bool, so static.
      block = nn.remat(block, policy=REMAT_POLICIES[self.remat], static_argnums=(3,))
    for i in range(self.depth):
      x = block(**block_kwargs, name=f"block{i}")(x, bias, train)
    return x
