"""Heads: classification / regression, captioning decoders, CTC, text-to-image generators."""
