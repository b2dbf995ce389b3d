"""AV-MNIST: an MNIST digit paired with a spoken digit of the same class (Vielzeuf et al. 2018,
"CentralNet: a multilayer approach for multimodal fusion"; as packaged by MultiBench, Liang et
al. 2021), built here from the tfds mnist and spoken_digit datasets.

Splits as MultiBench's: train = the first 55,000 MNIST training images, val = the last 5,000
(the last 1/12 of whatever `mnist` train holds), test = MNIST test (10,000). Each split draws
its audio from its own part of spoken_digit (per digit: 80% train, 10% val, 10% test clips),
so no recording is heard in both training and testing. Pairing is a pure function of the seed.

Degradations that make the task multimodal (both are fixed properties of the dataset, not
augmentation, so they are seeded per example and identical every epoch):
  image_energy: keep this fraction of the images' PCA energy (variance), PCA fitted on the
    train split; MultiBench keeps 0.25 ("75% of the energy removed"). 1.0 = clean.
  audio_snr_db: add white Gaussian noise at this SNR (relative to the clip's speech).
    MultiBench mixes in ESC-50 environmental sounds instead, which would need a download;
    None = clean.

The log-mel spectrogram (MultiBench's 112x112 input) is left to the model's front end.

As a data source (config.data.source.name = "av_mnist", see mmjax/data/sources.py), `source`
gives the three splits, read once.
"""

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from mmjax.data.audio_ops import AudioOps, add_noise, pad_or_crop, pcm_to_float, resample
from mmjax.data.image_ops import ImageOps
from mmjax.data.sources import SOURCES
from mmjax.data.tfds import load
from mmjax.registry import ConfigError

SPLITS = {"train": 0, "val": 1, "test": 2}
AUDIO_FRACTIONS = {"val": 0.1, "test": 0.1}  # the rest of each digit's clips is train.
SPOKEN_DIGIT_RATE = 8000
CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def fit_pca(x: np.ndarray, energy: float):
  """x [n, d] -> (mean [d], components [d, k]): the fewest principal directions whose variance
  is at least `energy` of the total."""
  if not 0.0 < energy <= 1.0:
    raise ValueError(f"image_energy={energy}; must be in (0, 1].")
  x = np.asarray(x, np.float64)
  mean = x.mean(axis=0)
  centred = x - mean
  if len(x) < x.shape[1]:  # few examples: the thin SVD is the cheaper route.
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    eigvals, eigvecs = s ** 2, vt.T
  else:  # many (MNIST's 55k x 784): eigenvectors of the covariance; float32 product is 2x faster.
    c32 = centred.astype(np.float32)
    eigvals, eigvecs = np.linalg.eigh((c32.T @ c32).astype(np.float64))
    order = np.argsort(eigvals)[::-1]
    eigvals, eigvecs = np.clip(eigvals[order], 0, None), eigvecs[:, order]
  k = int(np.searchsorted(np.cumsum(eigvals) / eigvals.sum(), energy - 1e-12) + 1)
  return mean.astype(np.float32), eigvecs[:, :k].astype(np.float32)


def split_audio_pools(labels: np.ndarray, seed: int) -> dict:
  """split -> digit -> clip indices: a seeded per-digit partition of spoken_digit."""
  pools = {s: {} for s in SPLITS}
  for digit in range(10):
    clips = np.flatnonzero(labels == digit)
    if len(clips) < 3:
      raise ValueError(f"spoken_digit has {len(clips)} clips of digit {digit}; AV-MNIST needs "
                       "at least 3 (one each for train, val and test).")
    clips = np.random.default_rng([seed, 1000 + digit]).permutation(clips)
    n_val, n_test = (max(1, round(AUDIO_FRACTIONS[s] * len(clips))) for s in ("val", "test"))
    pools["test"][digit] = clips[:n_test]
    pools["val"][digit] = clips[n_test:n_test + n_val]
    pools["train"][digit] = clips[n_test + n_val:]
  return pools


def load_sources(data_dir: Optional[str] = None, image_energy: float = 1.0) -> dict:
  """What every split is built from, read once: mnist train and test, spoken_digit, and the PCA
  of the train split's images ((mean, components), or None for image_energy 1.0)."""
  train = load.as_arrays("mnist", "train", ("image", "label"), data_dir)
  n_train = len(train["label"]) - len(train["label"]) // 12  # val: 5,000 of 60,000
  pca = None
  if image_energy < 1.0:  # always fitted on train, whatever split reads it.
    pca = fit_pca(train["image"][:n_train].reshape(n_train, -1) / 255.0, image_energy)
  return {"mnist_train": train, "n_train": n_train, "pca": pca, "image_energy": image_energy,
          "mnist_test": load.as_arrays("mnist", "test", ("image", "label"), data_dir),
          "speech": load.as_lists("spoken_digit", "train", ("audio", "label"), data_dir)}


@dataclasses.dataclass
class AVMnist:
  """make_batch(indices) -> {"images": float32 [n, 28, 28, 1] in [0, 1] (then image_ops),
  "audio": float32 [n, audio_length] at sample_rate (then audio_ops), "labels": int32 [n]}.

  sources: `load_sources(data_dir, image_energy)`, shared by the splits of one run
  (`AVMnist.splits` does that); None reads them for this split alone."""
  split: str = "train"
  data_dir: Optional[str] = None
  seed: int = 0
  image_energy: float = 1.0
  audio_snr_db: Optional[float] = None
  sample_rate: int = SPOKEN_DIGIT_RATE
  audio_length: int = SPOKEN_DIGIT_RATE  # 1 s; clips are 0.1-2.3 s, most under 1 s.
  image_ops: Sequence[Any] = ()
  audio_ops: Sequence[Any] = ()
  sources: Optional[dict] = dataclasses.field(default=None, repr=False)

  @classmethod
  def splits(cls, splits: Sequence[str] = tuple(SPLITS), **kwargs) -> dict:
    """{split: AVMnist} with the datasets read and the PCA fitted once for all of them."""
    sources = load_sources(kwargs.get("data_dir"), kwargs.get("image_energy", 1.0))
    return {s: cls(split=s, sources=sources, **kwargs) for s in splits}

  def __post_init__(self):
    if self.split not in SPLITS:
      raise ValueError(f"split={self.split!r}; valid: {', '.join(SPLITS)}.")
    self._image_ops, self._audio_ops = ImageOps(self.image_ops), AudioOps(self.audio_ops)
    src = self.sources or load_sources(self.data_dir, self.image_energy)
    if src["image_energy"] != self.image_energy:
      raise ValueError(f"image_energy={self.image_energy}, but the sources' PCA keeps "
                       f"{src['image_energy']}: load_sources with the same image_energy.")
    if self.split == "test":
      data = src["mnist_test"]
    else:
      n_train = src["n_train"]
      part = slice(0, n_train) if self.split == "train" else slice(n_train, None)
      data = {k: v[part] for k, v in src["mnist_train"].items()}
    self.images, self.labels = data["image"], data["label"].astype(np.int32)
    self.pca, speech = src["pca"], src["speech"]
    pools = split_audio_pools(np.asarray(speech["label"]), self.seed)[self.split]
    used = np.unique(np.concatenate(list(pools.values())))
    # int64 storage of 16-bit PCM: cast down so pcm_to_float scales by 2**15.
    self._clips = {int(i): resample(pcm_to_float(speech["audio"][i].astype(np.int16)),
                                    SPOKEN_DIGIT_RATE, self.sample_rate) for i in used}
    rng = np.random.default_rng([self.seed, SPLITS[self.split]])
    self.audio_index = np.empty(len(self.labels), np.int64)
    for digit in range(10):
      where = np.flatnonzero(self.labels == digit)
      self.audio_index[where] = pools[digit][rng.integers(len(pools[digit]), size=len(where))]

  def __len__(self):
    return len(self.labels)

  @property
  def class_names(self):
    return list(CLASS_NAMES)

  def _degraded_images(self, idx) -> np.ndarray:
    x = self.images[idx].astype(np.float32) / 255.0
    if self.pca is None:
      return x
    mean, comps = self.pca
    flat = x.reshape(len(idx), -1) - mean
    return np.clip((flat @ comps) @ comps.T + mean, 0.0, 1.0).reshape(x.shape)

  def _degraded_audio(self, i: int) -> np.ndarray:
    clip = self._clips[int(self.audio_index[i])][:self.audio_length]
    x = pad_or_crop(clip, self.audio_length)
    if self.audio_snr_db is None:
      return x
    # The SNR is relative to the speech, not to speech diluted by padding; the noise fills
    # the whole window, as background noise would.
    noise_rng = np.random.default_rng([self.seed, SPLITS[self.split], i])
    power = float(np.mean(np.square(clip, dtype=np.float64)))
    return add_noise(x, self.audio_snr_db, noise_rng, signal_power=power)

  def make_batch(self, indices, positions=None) -> dict:
    """Random ops (image_ops, audio_ops) are seeded by (seed, positions), default the indices."""
    idx = np.asarray(indices, np.int64)
    seeds = [(self.seed, int(p)) for p in (idx if positions is None else positions)]
    audio = [self._degraded_audio(int(i)) for i in idx]
    return {"images": self._image_ops.batch(self._degraded_images(idx), seeds),
            "audio": self._audio_ops.batch(audio, [self.sample_rate] * len(idx), seeds),
            "labels": self.labels[idx]}


@SOURCES.register("av_mnist")
def source(seed: int = 0, sample_rate: int = SPOKEN_DIGIT_RATE, audio_seconds: float = 1.0,
           data_dir: str = "", image_energy: float = 1.0,
           audio_snr_db: Optional[float] = None) -> dict:
  """{"train", "val", "test": AVMnist}, read once. audio_seconds: the clips' length (padded or
  cropped); audio_snr_db: None or inf = clean audio; data_dir: "" = tfds' default. A missing
  dataset fails here, in seconds, naming the command that prepares it."""
  if audio_snr_db is not None and audio_snr_db != float("inf") and not np.isfinite(audio_snr_db):
    raise ConfigError(f"data.source.av_mnist.audio_snr_db={audio_snr_db}; give a finite SNR in "
                      "dB, or inf for clean audio.")
  clean = audio_snr_db is None or audio_snr_db == float("inf")
  try:
    return AVMnist.splits(tuple(SPLITS), data_dir=data_dir or None, seed=seed,
                          image_energy=image_energy, audio_snr_db=None if clean else audio_snr_db,
                          sample_rate=sample_rate, audio_length=round(audio_seconds * sample_rate))
  except FileNotFoundError as e:
    where = data_dir or "tfds' default data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)"
    raise FileNotFoundError(
        f"AV-MNIST is built from the tfds datasets mnist and spoken_digit, which are not "
        f"prepared in {where}. Prepare them once where downloading is allowed:\n"
        f"  tfds build mnist spoken_digit --data_dir DIR\nthen pass "
        f"--config.data.source.av_mnist.data_dir=DIR. ({e})") from None
