"""Zero-shot classification with prompt templates (Radford et al. 2021, CLIP, sec. 3.1.4).

Each class name is written into every template ("a picture of a {c}"), the prompts are
embedded by the text tower, and a class's classifier is the L2-normalised mean of its prompts'
(L2-normalised) embeddings. An image is assigned the class whose embedding is most similar.
"""

import numpy as np


def _normalize(x, eps=1e-6):
  x = np.asarray(x, np.float32)
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def class_embeddings(encode_text_fn, class_names, templates) -> np.ndarray:
  """encode_text_fn: list of n strings -> [n, dim] embeddings; class_names: C names;
  templates: T format strings with a "{c}" slot. Returns float32 [C, dim]: per class, the
  L2-normalised mean over templates of the L2-normalised prompt embeddings."""
  class_names, templates = list(class_names), list(templates)
  if not class_names or not templates:
    raise ValueError(f"need at least one class name and one template; got {len(class_names)} "
                     f"names and {len(templates)} templates.")
  bad = [t for t in templates if "{c}" not in t]
  if bad:
    raise ValueError(f"templates {bad} have no '{{c}}' slot for the class name; valid: e.g. "
                     "'a picture of a {c}'.")
  prompts = [t.format(c=c) for c in class_names for t in templates]
  emb = _normalize(encode_text_fn(prompts))
  if emb.ndim != 2 or emb.shape[0] != len(prompts):
    raise ValueError(f"encode_text_fn returned shape {emb.shape}; expected "
                     f"[{len(prompts)}, dim] for {len(prompts)} prompts.")
  emb = emb.reshape(len(class_names), len(templates), -1).mean(axis=1)
  return _normalize(emb)


def zero_shot_accuracy(image_emb, class_emb, labels, ks=(1,)) -> dict:
  """image_emb: [n, dim]; class_emb: [C, dim]; labels: int [n] in [0, C). Returns
  {"top{k}": fraction of images whose true class is among the k most similar classes} and
  {"chance_top{k}": k / C}, the accuracy of guessing uniformly."""
  image_emb, class_emb = np.asarray(image_emb, np.float32), np.asarray(class_emb, np.float32)
  labels = np.asarray(labels)
  num_classes = class_emb.shape[0]
  if image_emb.ndim != 2 or class_emb.ndim != 2 or image_emb.shape[1] != class_emb.shape[1]:
    raise ValueError(f"image_emb {image_emb.shape} and class_emb {class_emb.shape} must be "
                     "[n, dim] and [classes, dim] with the same dim.")
  if labels.shape != (image_emb.shape[0],) or labels.size == 0:
    raise ValueError(f"labels {labels.shape} must be a non-empty [n] with n = "
                     f"{image_emb.shape[0]} images.")
  if labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(f"labels must be class ids in [0, {num_classes}); got range "
                     f"[{labels.min()}, {labels.max()}].")
  sim = image_emb @ class_emb.T
  # Rank of the true class = classes strictly more similar (ties favour the true class).
  rank = (sim > np.take_along_axis(sim, labels[:, None], axis=1)).sum(1)
  out = {}
  for k in ks:
    if not 1 <= k <= num_classes:
      raise ValueError(f"k={k}; valid: 1 to the number of classes ({num_classes}).")
    out[f"top{k}"] = float(np.mean(rank < k))
    out[f"chance_top{k}"] = k / num_classes
  return out
