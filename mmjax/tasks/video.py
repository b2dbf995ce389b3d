"""Video classification data from config sections: the clips' (or your files') labelled
batches. experiments/video_classification.py trains on them; `python -m mmjax.interpret`
maps a finished run's test clips.
"""

import numpy as np

from mmjax.tasks import classification

MODALITIES = ("video", "audio")
READS = ("clips", "manifest", "ucf101")
FILES_LABEL = "label"  # data.label of a source of files: each example's own label


def batch_maker(world, split: str, modalities, label: str):
  """make(indices int [n]) -> {"label": int32 [n], "video": float32 [n, frames, s, s, 3]
  normalised pixels, "audio": float32 [n, samples]} of `split`'s clips. label: one of the
  synthetic clips' labels, or FILES_LABEL (a source of files)."""
  files = label == FILES_LABEL
  fields = ("label" if files else "labels",) + tuple(modalities)

  def make(indices):
    examples = [world.example(split, int(i), fields) for i in indices]
    labels = [e["label"] if files else e["labels"][label] for e in examples]
    return {"label": np.array(labels, np.int32),
            **classification.stack_inputs(examples, modalities)}
  return make
