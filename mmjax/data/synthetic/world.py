"""The synthetic multimodal world: any example of any split, made on demand from its index.

Example `i` of split `s` is a pure function of (seed, s, i) and the world's options: any
example can be made in any order, on any process, so the data never needs to be stored and a
pipeline can resume at any position. Each field draws from its own random stream, so asking for
a field never changes another, and a field not asked for costs nothing.

  world = SceneWorld(seed=0, image_size=32, max_objects=3, task="redundant")
  ex = world.example("train", 12345, fields=("image", "caption", "audio", "label", "qa"))

Fields and the keys they give:
  image   "image" [size, size, 3] float32 in [0, 1] (render.py: noise, clutter, occlusion)
  caption "caption" str, one of the scene's paraphrases (scenes.py)
  key     "key" str, the caption's canonical scene description (equal keys = same text)
  audio   "audio" [samples] float32 (the caption spoken in the tonal language, speech.py; task
          agreement: its own scene in the caption's wording),
          "transcript" [words] str, "word_starts" / "word_ends" [words] int32 sample indices
  transcript "transcript" [words] str, the caption's words (without speaking them)
  label   "label" int32, the task's label (tasks.py; needs a task)
  qa      "question_type", "question", "answer" str, "answer_id" int32 (questions.py)
Splits: train, val, test, and test_compositional -- scenes with a held-out (shape, colour) pair,
which never appears in the other splits (needs held_out). With the default options (max_objects
1 or 2, no task, no held-out pairs), images, captions and keys are those of the first version.
"""

from typing import Optional, Sequence

import numpy as np

from mmjax.data.synthetic import questions, render, scenes, speech, tasks

SPLITS = {"train": 0, "val": 1, "test": 2, "test_compositional": 3}
FIELDS = ("image", "caption", "key", "audio", "transcript", "label", "qa")
# Random streams of an example, besides the scene's own (which also gives noise and caption).
_TASK, _EXTRAS, _SPEECH, _QA = 1, 2, 3, 4


class SceneWorld:
  """Scenes of 1..max_objects objects with images, captions, speech, labels and questions.

  noise: std of Gaussian pixel noise. clutter: distractor strokes/blobs per image (behind the
  objects). occlusion: probability of a grey patch over a random spot. held_out: (shape,
  colour) pairs kept out of train/val/test, seen only in test_compositional. task: None or a
  tasks.TASKS name ("redundant", "unique_audio", "unique_image", "synergy") with knobs in
  task_options, or a task object. sample_rate (8-16 kHz), snr_db (None: no noise), voice
  (speech.Voice ranges) and audio_seconds (fixed length, or None for the sentence's own) shape
  the audio.
  """

  def __init__(self, seed: int = 0, image_size: int = 32, max_objects: int = 2,
               noise: float = 0.05, *, clutter: int = 0, occlusion: float = 0.0,
               held_out: Sequence = (), task=None, task_options: Optional[dict] = None,
               sample_rate: int = 8000, snr_db: Optional[float] = 20.0,
               voice: speech.Voice = speech.Voice(),  # noqa: B008 (frozen, so shared safely)
               audio_seconds: Optional[float] = None):
    if max_objects not in (1, 2, 3):
      raise ValueError(f"max_objects={max_objects}; valid: 1, 2, 3.")
    if image_size < 1:
      raise ValueError(f"image_size={image_size}; valid: a positive number of pixels.")
    if noise < 0 or clutter < 0:
      raise ValueError(f"noise={noise}, clutter={clutter}; valid: >= 0.")
    if not 0.0 <= occlusion <= 1.0:
      raise ValueError(f"occlusion={occlusion}; valid: a probability in [0, 1].")
    if not speech.MIN_RATE <= sample_rate <= speech.MAX_RATE:
      raise ValueError(f"sample_rate={sample_rate}; valid: {speech.MIN_RATE} to "
                       f"{speech.MAX_RATE} Hz.")
    if audio_seconds is not None and audio_seconds <= 0:
      raise ValueError(f"audio_seconds={audio_seconds}; valid: None or > 0.")
    self.seed, self.image_size, self.max_objects, self.noise = seed, image_size, max_objects, noise
    self.clutter, self.occlusion = int(clutter), occlusion
    self.sample_rate, self.snr_db, self.voice = sample_rate, snr_db, voice
    self.audio_seconds = audio_seconds
    self.held_out = scenes.check_pairs(held_out)
    self.pairs = None  # None: every (shape, colour) pair is allowed
    if self.held_out:
      self.pairs = [p for p in scenes.all_pairs() if p not in self.held_out]
      if not self.pairs:
        raise ValueError("held_out holds out every (shape, colour) pair; keep at least one.")
    self.task = None if task is None else tasks.make_task(task, task_options)
    if hasattr(self.task, "check_pairs"):  # the tasks that change scenes (synergy, agreement)
      self.task.check_pairs(self.pairs)

  def vocabulary(self, questions_too: bool = False) -> list:
    """Every word a caption (or with questions_too, a question) can use, sorted."""
    words = scenes.caption_words(self.max_objects)
    if self.task is not None:
      words |= self.task.words()
    if questions_too:
      words |= questions.question_words()
    return sorted(words)

  def _rng(self, split: str, index: int, stream: Optional[int] = None):
    if split not in SPLITS:
      raise ValueError(f"split={split!r}; valid: {', '.join(SPLITS)}.")
    if split == "test_compositional" and not self.held_out:
      raise ValueError("split='test_compositional' needs held-out pairs: pass "
                       "held_out=((shape, colour), ...).")
    key = [self.seed, SPLITS[split], index] + ([] if stream is None else [stream])
    return np.random.default_rng(key)

  def _pairs(self, split: str):
    return None if split == "test_compositional" else self.pairs

  def scene(self, split: str, index: int) -> scenes.Scene:
    """The true scene of example `index`."""
    return scenes.sample_scene(self._rng(split, index), self.max_objects, self.pairs,
                               self.held_out, split == "test_compositional")

  def first_object_labels(self, split: str, indices,
                          attributes: Sequence[str] = tuple(scenes.ATTRIBUTES)) -> dict:
    """{attribute: int32 [n] class id of each scene's first object (reading order), "n_objects":
    int32 [n]} for examples `indices` of `split`: the labels of zero-shot, probe and
    attribute-classifier evaluations."""
    chosen = [self.scene(split, int(i)) for i in indices]
    return {**scenes.first_object_labels(chosen, attributes),
            "n_objects": np.array([len(s.objects) for s in chosen], np.int32)}

  def present_classes(self, split: str, indices,
                      attributes: Sequence[str] = tuple(scenes.ATTRIBUTES)) -> dict:
    """{attribute: bool [n, classes]}: the classes any object of each scene has, for examples
    `indices` of `split` (zero-shot on scenes of several objects)."""
    return scenes.present_classes([self.scene(split, int(i)) for i in indices], attributes)

  def views(self, split: str, index: int) -> tasks.Views:
    """The true scene, what the image shows, what the caption says, and the task's label."""
    scene = self.scene(split, index)
    if self.task is None:
      return tasks.Views(scene, scene, scene)
    return self.task.views(scene, self._rng(split, index, _TASK), self._pairs(split))

  def render(self, scene: scenes.Scene, rng, extras_rng=None) -> np.ndarray:
    """scene -> image [size, size, 3]; pixel noise from rng, clutter/occlusion from
    extras_rng (default: rng)."""
    return render.render(scene, self.image_size, rng, self.noise, self.clutter, self.occlusion,
                         rng if extras_rng is None else extras_rng)

  def example(self, split: str, index: int, fields: Sequence[str] = ("image", "caption", "key")
              ) -> dict:
    """The requested fields of example `index` of `split` (see the module docstring)."""
    if isinstance(fields, str) or not set(fields) <= set(FIELDS):
      raise ValueError(f"fields={fields!r}; valid: a sequence of {', '.join(FIELDS)}.")
    if "label" in fields and self.task is None:
      raise ValueError("field 'label' needs a task; valid tasks: "
                       f"{', '.join(tasks.TASKS.names())}.")
    views = self.views(split, index)
    out = {}
    # The scene's stream, far past the draws that made the scene: pixel noise, then caption.
    rng = self._rng(split, index)
    rng.bit_generator.advance(1 << 20)
    speaks = bool({"caption", "audio", "transcript"} & set(fields))
    if "image" in fields:
      out["image"] = self.render(views.image, rng, self._rng(split, index, _EXTRAS))
    elif speaks and self.noise:  # keep the caption choice where rendering would leave it
      rng.normal(0.0, self.noise, (self.image_size, self.image_size, 3))
    written = views.spoken if views.written is None else views.written
    if speaks:
      captions = written.captions()
      j = int(rng.integers(len(captions)))
      if "caption" in fields:
        out["caption"] = captions[j]
      # The speech says the spoken scene in the same wording (task agreement: text and speech
      # may show different scenes); otherwise it is the caption itself.
      said = views.spoken.captions()
      caption = said[j % len(said)]
    if "key" in fields:
      out["key"] = written.key
    if "audio" in fields:
      words = caption.split()
      wave, starts, ends = speech.speak(words, self._rng(split, index, _SPEECH),
                                        self.sample_rate, self.voice, self.snr_db,
                                        self.audio_seconds)
      out.update(audio=wave, transcript=np.asarray(words), word_starts=starts, word_ends=ends)
    if "transcript" in fields:
      out["transcript"] = np.asarray(caption.split())
    if "label" in fields:
      out["label"] = np.int32(views.label)
    if "qa" in fields:
      out.update(questions.ask(views.scene, self._rng(split, index, _QA), self._pairs(split)))
    return out
