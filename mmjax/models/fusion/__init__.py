"""Fusion variants: per-modality features in, fused features out, chosen by name."""
