"""The synthetic world and the pipeline: deterministic, resumable, sharded by process."""

import numpy as np
import pytest

from mmjax.data.pipeline import Batches
from mmjax.data.synthetic import SceneWorld
from mmjax.data.synthetic.scenes import COLOURS, SHAPES
from mmjax.data.tokenizer import WordTokenizer


def make(indices):
  world = SceneWorld(seed=3, image_size=16)
  ex = [world.example("train", int(i)) for i in indices]
  return {"images": np.stack([e["image"] for e in ex]), "index": np.asarray(indices)}


def take(it, n):
  return [next(it) for _ in range(n)]


def test_same_seed_gives_byte_identical_batches():
  a, b = take(Batches(make, 8), 3), take(Batches(make, 8, prefetch=0), 3)
  for x, y in zip(a, b):
    assert x["images"].tobytes() == y["images"].tobytes()


def test_restore_continues_exactly():
  it = Batches(make, 8)
  take(it, 2)
  state = it.state()
  expected = take(it, 3)
  fresh = Batches(make, 8)
  fresh.restore(state)
  for x, y in zip(take(fresh, 3), expected):
    np.testing.assert_array_equal(x["index"], y["index"])
    assert x["images"].tobytes() == y["images"].tobytes()
  assert fresh.state() == {"batches_consumed": 5}


def test_processes_split_each_global_batch():
  whole = take(Batches(make, 8, process_index=0, process_count=1), 2)
  parts = [take(Batches(make, 8, process_index=p, process_count=2), 2) for p in (0, 1)]
  for b in range(2):
    np.testing.assert_array_equal(
        np.concatenate([parts[0][b]["index"], parts[1][b]["index"]]), whole[b]["index"])


def test_finite_dataset_visits_every_example_once_per_epoch():
  it = Batches(lambda idx: {"index": idx}, 4, num_examples=12, seed=1, prefetch=0)
  epoch = np.concatenate([next(it)["index"] for _ in range(3)])
  assert sorted(epoch) == list(range(12))
  assert not np.array_equal(epoch, np.arange(12))  # shuffled


def test_producer_errors_reach_the_consumer():
  def broken(idx):
    raise ValueError("example 3: bad field")
  with pytest.raises(ValueError, match="example 3"):
    next(Batches(broken, 4))


def test_world_is_deterministic_and_captions_describe_the_scene():
  w = SceneWorld(seed=0, image_size=32)
  a, b = w.example("train", 7), w.example("train", 7)
  assert a["image"].tobytes() == b["image"].tobytes() and a["caption"] == b["caption"]
  assert w.example("test", 7)["image"].tobytes() != a["image"].tobytes()
  for i in range(50):
    scene = w.scene("val", i)
    for o in scene.objects:
      assert o.shape in SHAPES and o.colour in COLOURS
      for cap in scene.captions():
        assert o.shape in cap and o.colour in cap and o.size in cap
  img = w.example("train", 0)["image"]
  assert img.shape == (32, 32, 3) and img.dtype == np.float32 and 0 <= img.min() <= img.max() <= 1


def test_tokenizer_roundtrip_and_saved_vocabulary(tmp_path):
  w = SceneWorld()
  tok = WordTokenizer.build(w.vocabulary())
  cap = w.example("train", 1)["caption"]
  ids = tok.encode(cap, 16)
  assert ids.shape == (16,) and tok.decode(ids) == cap
  assert ids[len(cap.split())] == tok.eos_id
  path = tmp_path / "vocab.json"
  tok.save(path)
  assert WordTokenizer.load_or_build(path, ["other words"]).itos == tok.itos
  assert tok.decode(tok.encode("a zebra", 8)) == "a <unk>"


def test_positions_differ_across_epochs_and_resume_exactly():
  make = lambda idx, pos: {"idx": idx, "pos": pos}
  it = Batches(make, 4, num_examples=4, with_positions=True, prefetch=0)
  a, b = next(it), next(it)  # two epochs over the same 4 examples
  assert sorted(a["idx"]) == sorted(b["idx"]) and not set(a["pos"]) & set(b["pos"])
  again = Batches(make, 4, num_examples=4, with_positions=True, prefetch=0)
  again.restore({"batches_consumed": 1})
  np.testing.assert_array_equal(next(again)["pos"], b["pos"])
