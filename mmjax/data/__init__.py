"""Data: sources (synthetic world, tfds, manifests), tokenizers, and the resumable pipeline."""
