"""Reading what a model sowed or exposed, by path: the "intermediates" and "perturbations"
collections as flat {"towers_image/block2": array} dicts in the order the model made them."""

from typing import Mapping


def flatten(tree: Mapping, prefix: str = "") -> dict:
  """A nested collection {"a": {"b": x}} -> {"a/b": x}, in insertion (= call) order; a sown
  value (a tuple of the values sown under one name) is kept whole."""
  out = {}
  for key, value in tree.items():
    path = f"{prefix}/{key}" if prefix else str(key)
    if isinstance(value, Mapping):
      out.update(flatten(value, path))
    else:
      out[path] = value
  return out


def unflatten(flat: Mapping) -> dict:
  """The inverse of `flatten`."""
  out = {}
  for path, value in flat.items():
    node = out
    *parents, leaf = path.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = value
  return out


def under(flat: Mapping, prefix: str) -> dict:
  """The entries of a flat collection whose path starts with `prefix` ("" = all)."""
  return {k: v for k, v in flat.items() if not prefix or k == prefix
          or k.startswith(prefix.rstrip("/") + "/")}
