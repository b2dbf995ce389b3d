"""Event localisation metrics over per-segment labels (AVE, Tian et al. 2018, reports the
per-segment accuracy), with the clip-level readings of the same predictions: is the clip's
event in exactly the right segment (or correctly absent), and is there one at all."""

import numpy as np


def localisation_metrics(labels, predictions) -> dict:
  """labels, predictions: int [n, segments], 1 where a segment holds an event, else 0 ->
  {"segment_accuracy": the fraction of segments right; "exact": of clips with every segment
  right; "detection": of clips whose "any event?" is right; "event_recall": of true event
  segments predicted; "event_precision": of predicted event segments true (0 when none is
  predicted)}."""
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  if labels.ndim != 2 or labels.shape != predictions.shape or not labels.size:
    raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} must be equal, "
                     "non-empty [clips, segments] arrays.")
  for name, x in (("labels", labels), ("predictions", predictions)):
    if not np.isin(x, (0, 1)).all():
      raise ValueError(f"{name} must be 0 / 1 per segment; got values {np.unique(x)[:5]}.")
  labels, predictions = labels.astype(bool), predictions.astype(bool)
  hits = (labels & predictions).sum()
  return {"segment_accuracy": float((labels == predictions).mean()),
          "exact": float((labels == predictions).all(1).mean()),
          "detection": float((labels.any(1) == predictions.any(1)).mean()),
          "event_recall": float(hits / max(labels.sum(), 1)),
          "event_precision": float(hits / max(predictions.sum(), 1))}
