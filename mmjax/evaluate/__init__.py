"""Evaluators: pure functions from model outputs to the metrics papers report."""
