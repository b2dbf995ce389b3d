"""Video-text tasks on the synthetic clips (data.source clips): what experiments/video_retrieval.py
and video_captioning.py add to image_text's and captioning's machinery, whose models take a
video tower with visual="video".

Both ask whether a model uses time. A clip played backwards (clips.reverse) has the same bag of
frames and the opposite direction and event, and the sampler draws it as often, so:
  retrieval   time_reversed/accuracy: how often a clip's embedding is closer to its caption than
              to its reversal's (the same paraphrase, direction and event both swapped); a model
              blind to frame order sits at 0.5. direction_swapped/ and event_swapped/ swap one
              word: a bag of frames tells those apart (the frames showing the other object say
              where the mover was), so they test reading the words, not time;
  captioning  motion/{direction,event}_accuracy and motion/accuracy (both right) of generated
              captions: chance 0.25, 0.5, 0.125; order-blind 0.5 each (the bag of frames fixes
              the pair up to reversal).
The experiments also score each test clip with its frames shuffled (shuffled_frames/...).
"""

import dataclasses

import numpy as np

from mmjax.data import sources
from mmjax.data.synthetic import clips
from mmjax.evaluate.retrieval import retrieval_metrics
from mmjax.evaluate.robustness import shuffle_frames
from mmjax.tasks import image_text

NEGATIVES = ("time_reversed", "direction_swapped", "event_swapped")
MOTION_CHANCE = {"direction_accuracy": 0.25, "event_accuracy": 0.5, "accuracy": 0.125}
MOTION_ORDER_BLIND = {"direction_accuracy": clips.label_info("direction")["order_blind"],
                      "event_accuracy": clips.label_info("event")["order_blind"],
                      "accuracy": 0.5}


def negatives(clip: clips.Clip) -> dict:
  """{NEGATIVES name: the clip with that changed}: played backwards, the opposite direction,
  the other event."""
  other = clips.EVENTS[1 - clips.EVENTS.index(clip.event)]
  return {"time_reversed": clips.reverse(clip),
          "direction_swapped": dataclasses.replace(clip, direction=clips.OPPOSITE[clip.direction]),
          "event_swapped": dataclasses.replace(clip, event=other)}


def evaluation_clips(world, split: str, n: int) -> dict:
  """Clips 0 .. n-1 of `split`: {"video": float32 [n, frames, s, s, 3] in [0, 1], "captions":
  [n] str (each clip's paraphrase), "references": [n] lists of its paraphrases, "keys": [n] str
  (its first paraphrase: clips with equal keys have the same captions), each of NEGATIVES: [n]
  str (the caption of negatives(clip), in the clip's paraphrase), "direction", "event": int32
  [n] (ids of clips.LABELS)}."""
  out = {k: [] for k in ("video", "captions", "references", "keys", *NEGATIVES)}
  labels = []
  for i in range(n):
    clip, ex = world.clip(split, i), world.example(split, i, ("video", "caption", "labels"))
    refs = clip.captions()
    paraphrase = refs.index(ex["caption"])
    out["video"].append(ex["video"])
    out["captions"].append(ex["caption"])
    out["references"].append(refs)
    out["keys"].append(refs[0])
    for name, changed in negatives(clip).items():
      out[name].append(changed.captions()[paraphrase])
    labels.append(ex["labels"])
  out["video"] = np.stack(out["video"])
  out["keys"] = np.array(out["keys"])
  for label in ("direction", "event"):
    out[label] = np.array([x[label] for x in labels], np.int32)
  return out


def with_shuffled_frames(test: dict, seed) -> dict:
  """evaluation_clips' dict with each clip's frames in a random order (the captions unchanged)."""
  return {**test, "video": shuffle_frames(test["video"], seed)}


def preference(zvid, zpos, zneg) -> float:
  """Fraction of rows whose video embedding zvid [n, dim] scores its caption zpos [n, dim]
  above the negative zneg [n, dim] (dot products; a tie counts one half)."""
  zvid, zpos, zneg = (np.asarray(z, np.float32) for z in (zvid, zpos, zneg))
  pos, neg = np.sum(zvid * zpos, -1), np.sum(zvid * zneg, -1)
  return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def retrieval_evaluator(model, text_input, splits: dict, batch_size: int, ks=(1, 5, 10)):
  """evaluate(state, step) of a video-text TwoTower on `splits` {prefix: evaluation_clips' dict}:
  "<prefix>v2t/R@k", "<prefix>t2v/R@k" and their chance_R@k (a caption is right for every clip
  with its key), and "<prefix><negative>/accuracy" for each of NEGATIVES (`preference`)."""
  videos = image_text.embed_images(model, batch_size)
  texts = image_text.embed_texts(model, text_input, batch_size)

  def evaluate(state, step):
    params, metrics = state.eval_params, {}
    for prefix, d in splits.items():
      zvid = videos(params, sources.normalize(d["video"]))[0]
      ztxt = texts(params, d["captions"])
      for k, v in retrieval_metrics(zvid, ztxt, d["keys"], ks=ks).items():
        metrics[prefix + k.replace("i2t", "v2t").replace("t2i", "t2v")] = v
      for name in NEGATIVES:
        metrics[f"{prefix}{name}/accuracy"] = preference(zvid, ztxt, texts(params, d[name]))
    return metrics
  return evaluate


def motion_words(caption: str) -> tuple:
  """(the first direction word, the first event word) a caption says; None for one it lacks."""
  words = caption.split()
  first = lambda vocabulary: next((w for w in words if w in vocabulary), None)
  return first(clips.DIRECTIONS), first(clips.EVENTS)


def motion_accuracy(captions, direction, event) -> dict:
  """{"direction_accuracy", "event_accuracy", "accuracy" (both right)} of captions [n] against
  the clips' direction and event ids [n] (clips.LABELS); a caption without the word is wrong."""
  said = [motion_words(c) for c in captions]
  d = np.array([w == clips.DIRECTIONS[i] for (w, _), i in zip(said, direction)])
  e = np.array([w == clips.EVENTS[i] for (_, w), i in zip(said, event)])
  return {"direction_accuracy": float(d.mean()), "event_accuracy": float(e.mean()),
          "accuracy": float((d & e).mean())}
