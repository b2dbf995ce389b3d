"""ViT checkpoints in the google-research/vision_transformer / big_vision `.npz` format
(Dosovitskiy et al. 2021; the "How to train your ViT" AugReg models, Steiner et al. 2022) as
`ViT` weights.

The file holds '/'-joined flax names: `embedding/kernel` (a [p, p, 3, width] convolution),
`cls`, `Transformer/posembed_input/pos_embedding` ([1, 1 + grid^2, width], the class token's
position first), `Transformer/encoderblock_{i}/{LayerNorm_0, MultiHeadDotProductAttention_1,
LayerNorm_2, MlpBlock_3/Dense_{0,1}}`, `Transformer/encoder_norm`, and a classifier
(`pre_logits`, `head`) that is dropped. big_vision's own checkpoints keep the position
embedding at the top level (`pos_embedding`, patches only); both layouts load.

>>> config, params = load_vit_npz("B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz")
>>> pooled, tokens = ViT(**config).apply({"params": params}, images)  # images in [-1, 1]
"""

import math
import os
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

# The classifier on top of the encoder: not part of the image tower.
DROPPED = ("head/", "pre_logits/")
_POSEMB = ("Transformer/posembed_input/pos_embedding", "Transformer/pos_embedding",
           "pos_embedding")
# Our block's parameter -> the checkpoint's name inside Transformer/encoderblock_{i}/.
_BLOCK = {("ln1", "scale"): "LayerNorm_0/scale", ("ln1", "bias"): "LayerNorm_0/bias",
          ("ln2", "scale"): "LayerNorm_2/scale", ("ln2", "bias"): "LayerNorm_2/bias",
          ("mlp", "fc1", "kernel"): "MlpBlock_3/Dense_0/kernel",
          ("mlp", "fc1", "bias"): "MlpBlock_3/Dense_0/bias",
          ("mlp", "fc2", "kernel"): "MlpBlock_3/Dense_1/kernel",
          ("mlp", "fc2", "bias"): "MlpBlock_3/Dense_1/bias",
          ("attn", "out", "kernel"): "MultiHeadDotProductAttention_1/out/kernel",
          ("attn", "out", "bias"): "MultiHeadDotProductAttention_1/out/bias"}
_QKV = ("query", "key", "value")


def _read(source, weights: bool) -> dict:
  if isinstance(source, (str, os.PathLike)):
    if not os.path.isfile(source):
      raise FileNotFoundError(f"no ViT checkpoint at {source}.")
    if not weights:
      return {k: _placeholder(shape) for k, shape in _npz_shapes(source).items()}
    with np.load(source, allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  return dict(source) if weights else {k: _placeholder(np.shape(v)) for k, v in source.items()}


def _npz_shapes(path) -> dict:
  """{name: shape} of an .npz's arrays, from each member's header: no array is read."""
  shapes = {}
  with zipfile.ZipFile(path) as z:
    for info in z.infolist():
      with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shapes[info.filename.removesuffix(".npy")] = read_header(f)[0]
  return shapes


def _placeholder(shape):
  """A read-only float32 array of `shape` holding no memory (every stride 0)."""
  return np.broadcast_to(np.float32(0), shape)


def _set(tree, path, value):
  for key in path[:-1]:
    tree = tree.setdefault(key, {})
  tree[path[-1]] = value


def load_vit_npz(source, image_size=None, weights: bool = True) -> tuple[dict, dict]:
  """A ViT `.npz` (a path, or a dict of its arrays) -> (ViT kwargs, params) for
  `ViT(**kwargs).apply({"params": params}, images [batch, s, s, 3])` with s = grid * patch (224
  for a B/16 with 197 positions). Inputs are what the checkpoint was trained on: [-1, 1] pixels.

  The class token absorbs its own position embedding (what big_vision does for these files), so
  the model is exactly the published one: pool "cls" when the file has `cls`, else "mean".
  image_size: checked against the checkpoint's grid (position embeddings are not resampled).
  Raises ValueError naming missing or unexpected weights and every shape mismatch.
  weights=False: the same checks and kwargs from the arrays' shapes alone (the file's headers),
  and params None: for a model whose weights come from elsewhere, e.g. a restored run.
  """
  arrays = {k: np.asarray(v, np.float32) for k, v in _read(source, weights).items()}
  used = set()
  missing = []

  def take(name):
    if name not in arrays:
      missing.append(name)
      return None
    used.add(name)
    return arrays[name]

  posemb_keys = [k for k in _POSEMB if k in arrays]
  if len(posemb_keys) > 1:
    raise ValueError(f"ViT checkpoint has position embeddings under several names "
                     f"{posemb_keys}; expected one of {', '.join(_POSEMB)}.")
  if not posemb_keys or "embedding/kernel" not in arrays:
    absent = [n for n, ok in ((" or ".join(_POSEMB), posemb_keys), ("embedding/kernel",
              "embedding/kernel" in arrays)) if not ok]
    raise ValueError(f"not a ViT checkpoint: missing {'; '.join(absent)} (has "
                     f"{', '.join(sorted(arrays)[:6])}{' ...' if len(arrays) > 6 else ''}).")
  kernel = take("embedding/kernel")
  if kernel.ndim != 4 or kernel.shape[0] != kernel.shape[1]:
    raise ValueError(f"embedding/kernel has shape {kernel.shape}; expected a square patch "
                     f"convolution [patch, patch, channels, width].")
  patch, _, _, width = kernel.shape
  pos = take(posemb_keys[0])
  pos = pos.reshape(pos.shape[-2:]) if pos.ndim == 3 and pos.shape[0] == 1 else pos
  if pos.ndim != 2:
    raise ValueError(f"{posemb_keys[0]} has shape {arrays[posemb_keys[0]].shape}; expected "
                     f"[1, tokens, width].")
  cls = take("cls") if "cls" in arrays else None
  grid = math.isqrt(pos.shape[0])
  if cls is not None and grid * grid != pos.shape[0]:
    # Old layout: the [cls] token was prepended before adding positions (1 + grid^2 of them).
    grid = math.isqrt(pos.shape[0] - 1)
    if grid * grid + 1 != pos.shape[0]:
      raise ValueError(f"{posemb_keys[0]} has {pos.shape[0]} positions: neither grid^2 nor "
                       f"1 + grid^2.")
    cls, pos = cls + pos[None, :1], pos[1:]
  elif grid * grid != pos.shape[0]:
    raise ValueError(f"{posemb_keys[0]} has {pos.shape[0]} positions, not a square grid "
                     f"(a checkpoint without `cls` has no class-token position).")
  if image_size is not None and image_size != grid * patch:
    raise ValueError(f"image_size={image_size} but the checkpoint's position embeddings cover "
                     f"{grid}x{grid} patches of {patch} = {grid * patch} pixels; use "
                     f"image_size={grid * patch}.")

  depth = 0
  while f"Transformer/encoderblock_{depth}/LayerNorm_0/scale" in arrays:
    depth += 1
  if depth == 0:
    missing.append("Transformer/encoderblock_0/...")
  query = arrays.get("Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel")
  mlp = arrays.get("Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel")
  num_heads = query.shape[1] if query is not None and query.ndim == 3 else 1
  mlp_dim = mlp.shape[-1] if mlp is not None else 4 * width

  params = {"embedding": {"kernel": kernel.reshape(-1, width)}, "pos_embedding": pos,
            "encoder": {}, "ln_post": {"scale": take("Transformer/encoder_norm/scale"),
                                       "bias": take("Transformer/encoder_norm/bias")}}
  patch_bias = "embedding/bias" in arrays
  if patch_bias:
    params["embedding"]["bias"] = take("embedding/bias")
  if cls is not None:
    params["cls"] = cls
  for i in range(depth):
    pre = f"Transformer/encoderblock_{i}/"
    block = {}
    for ours, theirs in _BLOCK.items():
      _set(block, ours, take(pre + theirs))
    # [width, heads, head_dim] kernels flatten head-major, which is how our fused qkv splits.
    q, k, v = (take(pre + f"MultiHeadDotProductAttention_1/{n}/kernel") for n in _QKV)
    qb, kb, vb = (take(pre + f"MultiHeadDotProductAttention_1/{n}/bias") for n in _QKV)
    out = block["attn"]["out"]
    if all(t is not None for t in (q, k, v, qb, kb, vb, out["kernel"])):
      try:
        block["attn"]["qkv"] = {
            "kernel": np.concatenate([t.reshape(t.shape[0], -1) for t in (q, k, v)], 1),
            "bias": np.concatenate([t.reshape(-1) for t in (qb, kb, vb)])}
        out["kernel"] = out["kernel"].reshape(-1, out["kernel"].shape[-1])
      except ValueError as e:
        raise ValueError(f"{pre}MultiHeadDotProductAttention_1: inconsistent shapes "
                         f"{[t.shape for t in (q, k, v, qb, kb, vb)]}: {e}") from None
    params["encoder"][f"block{i}"] = block
  if missing:
    raise ValueError(f"ViT checkpoint is missing {len(missing)} weight(s): "
                     f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}.")
  unexpected = sorted(k for k in arrays if k not in used and not k.startswith(DROPPED))
  if unexpected:
    raise ValueError(f"ViT checkpoint has weights this ViT does not use: "
                     f"{', '.join(unexpected[:6])}{' ...' if len(unexpected) > 6 else ''} "
                     f"(only {', '.join(DROPPED)} are dropped).")

  config = dict(patch_size=int(patch), width=int(width), depth=depth, num_heads=int(num_heads),
                mlp_dim=int(mlp_dim), pool="cls" if cls is not None else "mean",
                posemb="learned", patch_bias=patch_bias, ln_pre=False, ln_eps=1e-6,
                gelu_approximate=True)
  _check_shapes(params, config, grid * patch, kernel.shape[2])
  return config, jax.tree.map(jnp.asarray, params) if weights else None


def _check_shapes(params, config, size, channels):
  """Raises naming every parameter whose shape differs from what ViT(**config) creates."""
  from mmjax.models.image.vit import ViT
  want = jax.eval_shape(ViT(**config).init, jax.random.key(0),
                        jnp.zeros((1, size, size, channels)))["params"]
  want = {jax.tree_util.keystr(p): x.shape for p, x in jax.tree_util.tree_leaves_with_path(want)}
  got = {jax.tree_util.keystr(p): np.shape(x)
         for p, x in jax.tree_util.tree_leaves_with_path(params)}
  bad = [f"{k}: checkpoint {got.get(k, 'missing')} vs model {want.get(k, 'missing')}"
         for k in sorted(set(want) | set(got)) if got.get(k) != want.get(k)]
  if bad:
    raise ValueError(f"ViT checkpoint shapes do not fit a ViT of width {config['width']}, "
                     f"{config['num_heads']} heads, mlp_dim {config['mlp_dim']}: "
                     + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
