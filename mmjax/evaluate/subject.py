"""A trained classification run as the evaluation battery sees it (experiments/evaluate.py) and
the cognitive profile reuses (experiments/cognitive_profile.py): its probabilities, test
split, per-modality corruptions and drops, and held-out split, rebuilt from the run's workdir.
"""

import dataclasses
import functools
import os
from typing import Callable, Optional

import numpy as np

from mmjax import experiment as experiment_lib, train
from mmjax.data import sources
from mmjax.evaluate import robustness
from mmjax.tasks import classification

# Corruption levels, mildest first. Image noise is in pixel units of the [0, 1] images (the
# world's own noise is 0.05); audio SNR is of noise added on top of the world's 20 dB.
IMAGE_NOISE_STD = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
AUDIO_SNR_DB = (30.0, 20.0, 10.0, 5.0, 0.0, -5.0, -10.0, -20.0)
TOKEN_PROBABILITY = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


def pixel_noise(images, std: float, rng) -> np.ndarray:
  """Gaussian noise of `std` in pixel units ([0, 1] images) on normalised images [n, h, w, 3],
  clipped to the valid pixel range."""
  lo, hi = sources.normalize(0.0), sources.normalize(1.0)
  return robustness.gaussian_noise(images, std / sources.PIXEL_STD, rng, (lo, hi))


@dataclasses.dataclass
class Subject:
  """What the battery needs from a trained classifier."""
  probabilities: Callable   # inputs {modality: [n, ...]} -> float [n, num_classes], rows sum to 1
  inputs: dict              # the test split: {modality: [n, ...]}
  labels: np.ndarray        # int [n]
  num_classes: int
  corruptions: dict         # {modality: [robustness.Corruption]}
  drops: dict               # {modality: x -> x with the modality removed (zeros / padding)}
  compositional: Optional[tuple] = None  # (inputs, labels) of test_compositional, if any
  compositional_note: str = "the run held out no pairs."  # why there is none
  run: dict = dataclasses.field(default_factory=dict)  # step, task, chance...: into the report


def fusion_subject(workdir: str, num_examples: Optional[int] = None) -> Subject:
  """A fusion_classification.py run: its config, vocabulary and newest checkpoint."""
  config = experiment_lib.load_run_config(workdir)
  # The suite's noise, held-out and modality studies need the synthetic world.
  mods, world, task, info, tokenizer, model = classification.setup(
      config, os.path.join(workdir, "vocab.json"), reads=("shapes",))
  n = num_examples or config.eval.num_examples
  batches = lambda split: classification.batch_maker(world, split, mods, tokenizer,
                                                     config.data.text_len)(np.arange(n))
  test = batches("test")
  inputs = {m: test[m] for m in mods}
  state, step = train.restore_latest(config, workdir, classification.init_fn(model, inputs))
  variables = classification.variables_of(state)
  predict = classification.predictor(model, probabilities=True)
  probabilities = lambda x: classification.in_batches(predict, variables, x,
                                                      config.eval.batch_size)

  text = dict(pad_id=tokenizer.pad_id, protected=(tokenizer.bos_id, tokenizer.eos_id))
  corruptions = {
      "image": [robustness.Corruption("gaussian_noise", pixel_noise, IMAGE_NOISE_STD,
                                      "noise std (pixels in [0, 1])")],
      "audio": [robustness.Corruption("white_noise", robustness.white_noise, AUDIO_SNR_DB,
                                      "SNR (dB)")],
      "text": [robustness.Corruption(
                   "token_dropout", functools.partial(robustness.token_dropout, **text),
                   TOKEN_PROBABILITY, "probability a word is removed"),
               robustness.Corruption(
                   "token_replacement", functools.partial(
                       robustness.token_replacement, vocab_size=tokenizer.vocab_size, **text),
                   TOKEN_PROBABILITY, "probability a word is replaced")]}
  # Zeros of the model's inputs: mid-grey images (normalised pixels), silence, all padding.
  drops = {m: functools.partial(robustness.drop, fill=tokenizer.pad_id if m == "text" else 0)
           for m in mods}
  compositional, held_out = None, [list(p) for p in world.held_out]
  if held_out:
    comp = batches("test_compositional")
    compositional = ({m: comp[m] for m in mods}, comp["label"])
  run = {"experiment": "fusion_classification", "workdir": os.path.abspath(workdir),
         "step": step, "task": task, "modalities": list(mods),
         "fusion": config.model.fusion.name if len(mods) > 1 else None,
         "num_test_examples": n, "chance": info["chance"],
         "bayes_optimal": classification.bayes_for(info, mods), "held_out": held_out}
  return Subject(probabilities, inputs, test["label"], info["num_classes"],
                 {m: corruptions[m] for m in mods}, drops, compositional,
                 "the run held out no (shape, colour) pairs: train with "
                 "data.source.shapes.held_out set.", run)
