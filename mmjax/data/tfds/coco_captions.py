"""COCO Captions image-text pairs (Chen et al. 2015, "Microsoft COCO Captions"), streamed from
the tfds `coco_captions` dataset (Karpathy splits: train, val, test, restval).

Too large to hold in memory, so each process streams its own 1/process_count of the split
(tfds even split) with tf.data. The order is deterministic: epoch e reads the files in an order
seeded by (seed, e) and shuffles through a seeded buffer. Position p of this process's stream
is example p % n of epoch p // n, so a resumed run seeks by skipping within one epoch - cheap,
because images are decoded (by Pillow, in tf.data's parallel map) only after the skip.

Each image has ~5 captions; at each stream position one is chosen by the seed and the global
position, so successive epochs pair an image with different captions.

  coco = CocoCaptions(split="train+restval", data_dir="~/tensorflow_datasets", image_size=64,
                      tokenizer=tok)
  batches = coco.batches(global_batch=128)   # a Batches: resumable, prefetching
"""

import dataclasses
import threading
from typing import Any, Optional, Sequence

import jax
import numpy as np

from mmjax.data.image_ops import ImageOps, decode_image
from mmjax.data.pipeline import Batches
from mmjax.data.sources import SOURCES
from mmjax.data.tfds import load
from mmjax.data.tokenizer import WordTokenizer
from mmjax.registry import ConfigError


@dataclasses.dataclass
class CocoCaptions:
  """A stream of this process's examples. The function from `batch_fn(global_batch)` (used by
  `batches`) maps the global example positions `Batches` hands out to
  {"images": float32 [n, image_size, image_size, 3] (image_ops applied to [0, 1] pixels),
   "texts": str [n], "tokens": int32 [n, max_len] (with a tokenizer), "image_ids": int64 [n]}.

  image_ops default: resize the shorter side to image_size, then center-crop a square; for
  training, e.g. [{"op": "random_resized_crop", "size": 64, "scale": [0.5, 1]}, "random_flip"].
  """
  split: str = "train"
  data_dir: Optional[str] = None
  image_size: int = 64
  image_ops: Optional[Sequence[Any]] = None
  tokenizer: Any = None
  max_len: int = 32
  seed: int = 0
  shuffle: bool = True
  shuffle_buffer: int = 1000
  process_index: Optional[int] = None
  process_count: Optional[int] = None
  dataset: str = "coco_captions"  # or a version/config, e.g. "coco_captions/2014:1.1.0"
  # A JPEG decodes downscaled by 2, 4 or 8 while its shorter side stays >= this; default
  # 2 * image_size (see image_ops.decode_image).
  decode_min_side: Optional[int] = None

  def __post_init__(self):
    if self.image_ops is None:
      self.image_ops = [{"op": "resize_shorter", "size": self.image_size},
                        {"op": "center_crop", "size": self.image_size}]
    self._ops = ImageOps(self.image_ops)
    if self.process_index is None:
      self.process_index = jax.process_index()
    if self.process_count is None:
      self.process_count = jax.process_count()
    if not 0 <= self.process_index < self.process_count:
      raise ValueError(f"process_index={self.process_index} is not in [0, {self.process_count}).")
    self._lock = threading.Lock()
    # The open stream, the position it yields next, and the position where its epoch ends.
    self._iter, self._next, self._iter_end = None, None, None
    self.num_examples = int(self._epoch_dataset(0).cardinality())
    if self.num_examples <= 0:
      raise ValueError(f"{self.dataset} split {self.split!r} has no examples for process "
                       f"{self.process_index} of {self.process_count} (cardinality "
                       f"{self.num_examples}).")

  def __len__(self):
    """Examples per epoch in this process's shard."""
    return self.num_examples

  def _shard(self):
    if self.process_count == 1:
      return self.split
    tfds = load.tfds_module()
    return tfds.even_splits(self.split, n=self.process_count,
                            drop_remainder=True)[self.process_index]

  def _epoch_dataset(self, epoch: int):
    """This process's examples of `epoch`, in their deterministic order, images still encoded."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tfds = load.tfds_module()
    seed = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
    ds = load.load(self.dataset, self._shard(), self.data_dir, shuffle_files=self.shuffle,
                   decoders={"image": tfds.decode.SkipDecoding()},
                   read_config=tfds.ReadConfig(shuffle_seed=seed))
    # Keep only what is used, so the shuffle buffer holds JPEG bytes, not objects and pixels.
    ds = ds.map(lambda ex: {"image": ex["image"], "image_id": ex["image/id"],
                            "captions": ex["captions"]["text"]})
    if self.shuffle:
      ds = ds.shuffle(self.shuffle_buffer, seed=seed, reshuffle_each_iteration=False)
    opts = tf.data.Options()
    opts.deterministic = True
    return ds.with_options(opts)

  def _seek(self, position: int):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    epoch, offset = divmod(position, self.num_examples)
    min_side = self.image_size * 2 if self.decode_min_side is None else self.decode_min_side
    # Pillow decodes in tf.data's parallel map (it releases the GIL while decoding), ahead of the
    # batch thread's image ops. benchmarks/data_throughput.py on mock COCO-sized JPEGs, 2-core
    # CPU, medians of 3: 204 examples/s; 143 decoding in the batch thread instead; 245 with
    # TF's decoder in this map: not worth a second decoder when clip_tiny's step takes ~30/s.
    decode = lambda data: tf.numpy_function(lambda d: decode_image(d, min_side), [data], tf.uint8,
                                            stateful=False)
    ds = self._epoch_dataset(epoch).skip(offset).map(
        lambda ex: {**ex, "image": decode(ex["image"])}, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    self._iter = iter(load.tfds_module().as_numpy(ds.prefetch(tf.data.AUTOTUNE)))
    self._next, self._iter_end = position, (epoch + 1) * self.num_examples

  def read(self, start: int, n: int) -> list:
    """Examples at stream positions start ... start + n - 1 of this process's stream."""
    with self._lock:
      if self._next != start:
        self._seek(start)
      out = []
      while len(out) < n:
        if self._next == self._iter_end:  # the epoch ended: open the next one.
          self._seek(self._next)
        try:
          out.append(next(self._iter))
        except StopIteration:
          raise RuntimeError(f"{self.dataset} {self.split!r} ended before its cardinality "
                             f"{self.num_examples} (at position {self._next}).") from None
        self._next += 1
      return out

  def batch_fn(self, global_batch: int):
    """make_batch(global positions) for Batches(global_batch) with num_examples=None, whose
    process p gets positions b*G + p*L ... b*G + p*L + L - 1 of each global batch b."""
    if global_batch % self.process_count:
      raise ValueError(f"batch {global_batch} is not divisible by {self.process_count} processes.")
    local = global_batch // self.process_count

    def make_batch(positions):
      g = np.asarray(positions, np.int64)
      b, r = np.divmod(g, global_batch)
      j = r - self.process_index * local
      if np.any((j < 0) | (j >= local)) or np.any(np.diff(b * local + j) != 1):
        raise ValueError(f"positions {g[:4]}... are not a contiguous run of process "
                         f"{self.process_index}'s part of a global batch of {global_batch}.")
      examples = self.read(int(b[0] * local + j[0]), len(g))
      # A stream separate from the image ops' (seed, p): choices stay independent of crops.
      caption_rng = [np.random.default_rng([self.seed, int(p), 1]) for p in g]
      texts = []
      for ex, rng in zip(examples, caption_rng):
        caps = ex["captions"]
        if len(caps) == 0:
          raise ValueError(f"{self.dataset} image {ex['image_id']} has no captions.")
        texts.append(caps[int(rng.integers(len(caps)))].decode("utf-8"))
      out = {"images": self._ops.batch([ex["image"] for ex in examples],
                                       [(self.seed, int(p)) for p in g]),
             "texts": np.array(texts),
             "image_ids": np.array([ex["image_id"] for ex in examples], np.int64)}
      if self.tokenizer is not None:
        out["tokens"] = self.tokenizer.encode_batch(texts, self.max_len)
      return out

    return make_batch

  def batches(self, global_batch: int, prefetch: int = 2) -> Batches:
    return Batches(self.batch_fn(global_batch), global_batch, seed=self.seed,
                   process_index=self.process_index, process_count=self.process_count,
                   prefetch=prefetch)

  def close(self):
    """Drops the open tf.data iterator (do this before exit: a live iterator can stall
    interpreter shutdown)."""
    with self._lock:
      self._iter, self._next = None, None


@SOURCES.register("coco_captions")
@dataclasses.dataclass(frozen=True)
class CocoCaptionsSource:
  """COCO Captions from tfds (`tfds build coco_captions --data_dir DIR`; Karpathy splits), one
  mmjax.data.tfds.CocoCaptions stream per split (images are too many to serve by index).
  dataset: the tfds name, or a version ("coco_captions/2014:1.1.0"); vocab_examples: the train
  examples whose captions make the word vocabulary (a text tower trained from scratch).

  Experiments that read any source through mmjax.tasks (contrastive, captioning) take its train
  batches from `train_batches` and a test set from `images_with_captions`, both read in order
  without random access (`sources.streamed(source)` tells them apart from a source of files).
  """
  seed: int = 0
  image_size: int = 224
  data_dir: str = ""
  dataset: str = "coco_captions"
  train_split: str = "train"
  eval_split: str = "test"
  shuffle_buffer: int = 20_000
  vocab_examples: int = 1000

  FIELDS = ("image", "caption", "key")  # key: the image id (its ~5 captions share it)

  def stream(self, split: str, **options):
    """A CocoCaptions stream of `split` with this source's data_dir, dataset, image_size, seed
    and shuffle buffer, updated with `options`."""
    return CocoCaptions(**{**dict(split=split, data_dir=self.data_dir or None,
                                  dataset=self.dataset, image_size=self.image_size,
                                  seed=self.seed, shuffle_buffer=self.shuffle_buffer), **options})

  def tfds_split(self, split: str) -> str:
    """The tfds split an experiment's "train" or "test" reads (train_split, eval_split); any
    other name ("val", "restval") is the tfds split of that name."""
    return {"train": self.train_split, "test": self.eval_split}.get(split, split)

  def check_prepared(self):
    """Fails naming the `tfds build` command when a split is not prepared (metadata only)."""
    for split in (self.train_split, self.eval_split):
      self.stream(split, shuffle=False, process_index=0, process_count=1).close()

  def require(self, fields) -> None:
    """Fails in seconds, before any training: naming the example fields COCO lacks, or the
    `tfds build` command when the data is not prepared in data_dir."""
    missing = [f for f in fields if f not in self.FIELDS]
    if missing:
      raise ConfigError(f"data.source coco_captions has the fields {', '.join(self.FIELDS)}; "
                        f"this experiment also reads {', '.join(missing)}. Choose a source "
                        f"that has them (data.source.name).")
    self.check_prepared()

  def captions(self, split: str, n: int) -> list:
    """The captions of the first n examples of tfds split `split` in file order: [n] lists of
    str (images are skipped, not decoded)."""
    ds = load.load(self.dataset, split, self.data_dir or None, shuffle_files=False,
                   decoders={"image": load.tfds_module().decode.SkipDecoding()})
    ds = ds.take(n).map(lambda ex: ex["captions"]["text"])
    return [[c.decode("utf-8") for c in caps] for caps in load.tfds_module().as_numpy(ds)]

  def vocabulary(self) -> list:
    """The words of the first vocab_examples train examples' captions, sorted."""
    texts = [c for caps in self.captions(self.train_split, self.vocab_examples) for c in caps]
    return sorted({w for t in texts for w in WordTokenizer.words(t)})

  def train_batches(self, global_batch: int, adapt, **options) -> Batches:
    """Resumable batches of the train split's stream, each process reading its own part:
    adapt(a CocoCaptions batch {"images": float32 [n, s, s, 3] in [0, 1], "texts": str [n],
    "image_ids": int64 [n]}) -> the experiment's batch. options: CocoCaptions fields
    (image_ops, ...). Closing the batches closes the stream."""
    coco = self.stream(self.train_split, **options)
    make = coco.batch_fn(global_batch)
    batches = Batches(lambda positions: adapt(make(positions)), global_batch, seed=self.seed,
                      process_index=coco.process_index, process_count=coco.process_count)
    close = batches.close

    def close_both():  # a live tf.data iterator can stall interpreter shutdown.
      close()
      coco.close()
    batches.close = close_both
    return batches

  def images_with_captions(self, split: str, n: int, batch: int = 256) -> dict:
    """The first n images (0 or more than there are: all) of `split` ("test": eval_split) in
    file order, read once, each with all its captions: {"images": float32 [n, s, s, 3] in
    [0, 1] (resized shorter side, centre crop: the train stream's default ops), "image_ids":
    int64 [n], "captions": [n] lists of str}. Every process reads the same images."""
    coco = self.stream(self.tfds_split(split), shuffle=False, process_index=0, process_count=1)
    ops = ImageOps(coco.image_ops)
    try:
      n = len(coco) if n <= 0 else min(n, len(coco))
      images, ids, captions = [], [], []
      for start in range(0, n, batch):
        for ex in coco.read(start, min(batch, n - start)):
          images.append(ops(ex["image"], 0))
          ids.append(int(ex["image_id"]))
          captions.append([c.decode("utf-8") for c in ex["captions"]])
    finally:
      coco.close()
    if any(not c for c in captions):
      raise ValueError(f"{self.dataset} {split!r}: an image has no captions.")
    return {"images": np.stack(images).astype(np.float32), "image_ids": np.array(ids, np.int64),
            "captions": captions}
