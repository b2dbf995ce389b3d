"""tfds sources on mock data (nothing is downloaded): coco_captions streaming, AV-MNIST, and
image classification with zero-shot prompts."""

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from mmjax.data import sources
from mmjax.data.pipeline import Batches
from mmjax.data.tfds import AVMnist, CocoCaptions, ImageClassification, load
from mmjax.data.tfds.av_mnist import fit_pca, split_audio_pools
from mmjax.data.tfds.mock import coco_caption, mock_coco_captions
from mmjax.data.tokenizer import WordTokenizer
from mmjax.registry import ConfigError

NUM_COCO = 10
NUM_MOCK = 84  # mock examples per tfds split: 7 val, 77 train


@pytest.fixture
def mock_coco():
  with mock_coco_captions(num_examples=NUM_COCO):
    yield


@pytest.fixture
def mock_tfds():
  with tfds.testing.mock_data(num_examples=NUM_MOCK, policy=tfds.testing.MockPolicy.USE_CODE):
    yield


def take(it, n):
  return [next(it) for _ in range(n)]


def test_coco_stream_is_deterministic_resumable_and_epoch_complete(mock_coco):
  tok = WordTokenizer.build([coco_caption(100 + i, j) for i in range(NUM_COCO) for j in range(5)])
  kw = dict(split="train", image_size=12, tokenizer=tok, max_len=8, seed=1, shuffle_buffer=4,
            process_index=0, process_count=1)
  coco, again = CocoCaptions(**kw), CocoCaptions(**kw)
  it, it2 = coco.batches(5), again.batches(5, prefetch=0)
  try:
    a = take(it, 4)  # 4 batches of 5 = 2 epochs of 10, made by the prefetch thread.
    it.close()  # (tfds' mock file system is not thread-safe: one reader at a time.)
    b = take(it2, 2)
    for x in a:
      assert x["images"].shape == (5, 12, 12, 3) and x["tokens"].shape == (5, 8)
      for img_id, text in zip(x["image_ids"], x["texts"]):
        assert text.endswith(f"of image {img_id}")  # the caption belongs to its image.
    for x, y in zip(a, b):
      assert x["images"].tobytes() == y["images"].tobytes() and list(x["texts"]) == list(y["texts"])
    epochs = [np.concatenate([x["image_ids"] for x in a[e:e + 2]]) for e in (0, 2)]
    assert all(sorted(ids) == list(range(100, 110)) for ids in epochs)
    assert list(epochs[0]) != list(epochs[1])  # a new order each epoch

    # Resume: a fresh stream restored to after batch 1 continues exactly (seeking mid-epoch).
    it2.restore({"batches_consumed": 1})
    for x, y in zip(take(it2, 3), a[1:]):
      assert x["images"].tobytes() == y["images"].tobytes() and list(x["texts"]) == list(y["texts"])
    with pytest.raises(ValueError, match="not a contiguous run of process 0"):
      coco.batch_fn(5)(np.array([0, 2, 4]))
  finally:
    for x in (it, it2, coco, again):
      x.close()


def test_coco_process_shards_take_their_part_of_each_global_batch(mock_coco):
  parts = [CocoCaptions(image_size=8, seed=2, process_index=p, process_count=2) for p in (0, 1)]
  try:
    batches = [p.batches(4, prefetch=0) for p in parts]
    out = [take(b, 2) for b in batches]
    assert all(x["images"].shape == (2, 8, 8, 3) for o in out for x in o)
    with pytest.raises(ValueError, match="not a contiguous run of process 1"):
      parts[1].batch_fn(4)(np.arange(2))  # process 0's positions
  finally:
    for p in parts:
      p.close()


def test_image_classification_materialises_split_with_prompts(mock_tfds):
  cifar = ImageClassification("cifar10", split="test", image_ops=[
      {"op": "random_resized_crop", "size": 16}, "random_flip"], seed=3)
  # Mocked metadata names classes "0"..."9"; prepared data has airplane, automobile, ...
  assert len(cifar) == NUM_MOCK and cifar.class_names == [str(i) for i in range(10)]
  b = cifar.make_batch(np.arange(8))
  assert b["images"].shape == (8, 16, 16, 3) and b["images"].dtype == np.float32
  assert b["labels"].dtype == np.int32 and 0 <= b["labels"].min() <= b["labels"].max() < 10
  assert cifar.make_batch(np.arange(8))["images"].tobytes() == b["images"].tobytes()
  assert cifar.make_batch(np.arange(8), positions=np.arange(8) + NUM_MOCK)["images"].tobytes() != (
      b["images"].tobytes())  # epoch 2 positions: new augmentations
  prompts = cifar.prompts()
  assert len(prompts) == 10 and prompts[1][0] == "a photo of a 1."
  mnist = ImageClassification("mnist", split="train", image_ops=["to_rgb"])
  assert mnist.make_batch([0, 1])["images"].shape == (2, 28, 28, 3)
  assert mnist.prompts()[7] == ['a photo of the number: "7".']
  with pytest.raises(ValueError, match="exactly one"):
    mnist.prompts(["no slot"])


@pytest.fixture(scope="module")
def av():
  """AV-MNIST splits, built once (the mock is active only while they load)."""
  with tfds.testing.mock_data(num_examples=NUM_MOCK, policy=tfds.testing.MockPolicy.USE_CODE):
    out = AVMnist.splits(seed=4, audio_length=64)
    out["alone"] = AVMnist(split="val", seed=4, audio_length=64)  # reads its own sources
    out["degraded"] = AVMnist(split="test", seed=4, audio_length=64, image_energy=0.3,
                              audio_snr_db=5.0)
    out["speech_labels"] = np.asarray(load.as_lists("spoken_digit", "train", ("label",))["label"])
  return out


def test_av_mnist_pairs_by_label_with_disjoint_audio(av):
  assert [len(av[s]) for s in ("train", "val", "test")] == [NUM_MOCK - NUM_MOCK // 12,
                                                           NUM_MOCK // 12, NUM_MOCK]
  for s in ("train", "val", "test"):
    np.testing.assert_array_equal(av["speech_labels"][av[s].audio_index], av[s].labels)
  pools = [set(av[s].audio_index) for s in ("train", "val", "test")]
  assert not (pools[0] & pools[1] or pools[0] & pools[2] or pools[1] & pools[2])
  b = av["train"].make_batch(np.arange(6))
  assert b["images"].shape == (6, 28, 28, 1) and b["audio"].shape == (6, 64)
  assert b["audio"].dtype == np.float32 and np.abs(b["audio"]).max() <= 1
  np.testing.assert_array_equal(b["labels"], av["train"].labels[:6])
  pools4, pools5 = (split_audio_pools(av["speech_labels"], seed) for seed in (4, 5))
  assert any(set(pools4["test"][d]) != set(pools5["test"][d]) for d in range(10))  # seeded


def test_av_mnist_splits_share_one_read_of_the_sources(av):
  assert av["train"].sources is av["val"].sources is av["test"].sources
  alone, shared = (av[s].make_batch(np.arange(len(av["val"]))) for s in ("alone", "val"))
  assert all(alone[k].tobytes() == shared[k].tobytes() for k in alone)
  with pytest.raises(ValueError, match="image_energy=0.5, but the sources' PCA keeps 1.0"):
    AVMnist(split="test", image_energy=0.5, sources=av["test"].sources)


def test_av_mnist_resumes_exactly_through_batches(av):
  data = av["train"]
  it = Batches(data.make_batch, 8, num_examples=len(data), seed=0)
  take(it, 2)
  state, expected = it.state(), take(it, 3)
  fresh = Batches(data.make_batch, 8, num_examples=len(data), seed=0)
  fresh.restore(state)
  for x, y in zip(take(fresh, 3), expected):
    assert all(x[k].tobytes() == y[k].tobytes() for k in ("images", "audio", "labels"))
  it.close()
  fresh.close()


def test_pca_keeps_the_requested_energy():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((500, 3)) * [3.0, 1.0, 0.5]  # variances 9 : 1 : 0.25
  mean, comps = fit_pca(x, 0.85)
  assert comps.shape == (3, 1) and abs(abs(comps[0, 0]) - 1) < 0.01
  assert fit_pca(x, 0.95)[1].shape == (3, 2)
  with pytest.raises(ValueError, match="image_energy=0; must be in"):
    fit_pca(x, 0)


def test_av_mnist_degradations(av):
  clean, degraded = av["test"], av["degraded"]
  idx = np.arange(40)
  c, d = clean.make_batch(idx), degraded.make_batch(idx)
  mean, comps = degraded.pca
  centred = lambda im: im.reshape(len(idx), -1) - mean
  kept = np.sum(centred(d["images"]) ** 2) / np.sum(centred(c["images"]) ** 2)
  assert 0.15 < kept < 0.5  # ~30% of the energy (test images, train PCA, clipping to [0, 1])
  assert 0 < comps.shape[1] < 784 and 0 <= d["images"].min() <= d["images"].max() <= 1
  noise = d["audio"] - c["audio"]
  lengths = [min(len(degraded._clips[int(degraded.audio_index[i])]), 64) for i in idx]
  snrs = [10 * np.log10(np.mean(c["audio"][i, :n] ** 2) / np.mean(noise[i] ** 2))
          for i, n in enumerate(lengths)]
  assert abs(np.median(snrs) - 5.0) < 1.5
  assert degraded.make_batch(idx)["audio"].tobytes() == d["audio"].tobytes()  # fixed noise


def test_registry_and_unprepared_data_errors(tmp_path):
  with pytest.raises(ConfigError, match="no option 'snr'.*audio_snr_db"):
    sources.build(ml_collections.ConfigDict(dict(
        source=dict(name="av_mnist", av_mnist=dict(snr=5)))))
  with pytest.raises(ConfigError,
                     match="Valid choices: av_mnist, clips, coco_captions, manifest, "
                     "moving_mnist, shapes, ucf101"):
    sources.build(ml_collections.ConfigDict(dict(source=dict(name="coco", coco={}))))
  with pytest.raises(FileNotFoundError, match="not prepared in .*tfds build mnist --data_dir"):
    ImageClassification("mnist", data_dir=str(tmp_path))


def test_coco_jpegs_decode_downscaled_but_not_below_twice_the_image_size():
  with mock_coco_captions(num_examples=4, sides=(100, 140)):
    coco = CocoCaptions(image_size=12, shuffle=False, process_index=0, process_count=1)
    try:
      sides = [min(ex["image"].shape[:2]) for ex in coco.read(0, 4)]
    finally:
      coco.close()
  assert all(24 <= s < 48 for s in sides), sides  # 1/4 of 100..139 px


def test_coco_source_serves_experiments_without_random_access(mock_coco):
  data = ml_collections.ConfigDict(dict(seed=0, image_size=12, source=dict(
      name="coco_captions", coco_captions=dict(train_split="train", vocab_examples=3))))
  coco = sources.build(data)
  assert sources.streamed(coco) and not sources.streamed(sources.build(ml_collections.ConfigDict(
      dict(source=dict(name="shapes", shapes={})))))
  # The vocabulary reads the first train images' captions only.
  assert coco.vocabulary() == sorted({"caption", "of", "image", "0", "1", "2", "3", "4", "100",
                                      "101", "102"})
  test = coco.images_with_captions("test", 4)
  assert test["images"].shape == (4, 12, 12, 3) and test["images"].dtype == np.float32
  assert list(test["image_ids"]) == [100, 101, 102, 103]  # file order
  assert test["captions"][1] == [coco_caption(101, j) for j in range(5)]
  assert len(coco.images_with_captions("test", 0)["image_ids"]) == NUM_COCO  # 0: all of it
  batches = coco.train_batches(4, lambda b: {"n": len(b["texts"]), "ids": b["image_ids"]})
  try:
    assert next(batches)["n"] == 4
  finally:
    batches.close()
  coco.require(("image", "caption", "key"))
  with pytest.raises(ConfigError, match="coco_captions has the fields image, caption, key; this "
                     "experiment also reads audio"):
    coco.require(("image", "audio"))
