"""The grain pipeline (`Batches`): at any number of worker threads it yields exactly the batches
the pre-grain iterator computed, resumes exactly mid-epoch, splits batches over processes, hands
make_batch's errors to the consumer, and waits for running work on close; the manifest source's
decoded-image cache serves what decoding does."""

import shutil
import threading
import time

import jax
import numpy as np
import pytest

from benchmarks import data_throughput
from mmjax import train
from mmjax.data.pipeline import Batches
from mmjax.tasks import image_text
from tests import toy
from tests.test_manifest_source import build, write_files

WORKERS = (0, 1, 2)


def reference_indices(b, global_batch, seed, num_examples, process_index=0, process_count=1):
  """What mmjax/data/pipeline.py computed before grain (the reproduction numbers depend on it):
  (example indices, stream positions) of this process's slice of global batch b."""
  local = global_batch // process_count
  pos = b * global_batch + process_index * local + np.arange(local, dtype=np.int64)
  if num_examples is None:
    return pos, pos
  epoch, within = np.divmod(pos, num_examples)
  out = np.empty_like(within)
  for e in np.unique(epoch):
    perm = np.random.default_rng([seed, int(e)]).permutation(num_examples)
    out[epoch == e] = perm[within[epoch == e]]
  return out, pos


def record(idx, pos=None):
  return {"idx": np.asarray(idx), "pos": np.asarray(idx if pos is None else pos)}


def take(it, n):
  return [next(it) for _ in range(n)]


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("num_examples,process_count", [(20, 1), (20, 2), (None, 1), (7, 4)])
def test_batches_are_the_reference_indices(workers, num_examples, process_count):
  # batch 8 over 20 examples: batches 2, 4, 7 straddle epochs.
  for p in range(process_count):
    it = Batches(record, 8, seed=5, num_examples=num_examples, process_index=p,
                 process_count=process_count, with_positions=True, workers=workers)
    for b, got in enumerate(take(it, 9)):
      idx, pos = reference_indices(b, 8, 5, num_examples, p, process_count)
      np.testing.assert_array_equal(got["idx"], idx)
      np.testing.assert_array_equal(got["pos"], pos)
    it.close()


@pytest.mark.parametrize("workers", (1, 2))
def test_restore_mid_epoch_continues_exactly(workers):
  it = Batches(record, 8, seed=2, num_examples=20, workers=workers, prefetch=3)
  take(it, 3)  # 24 of 20 examples: mid second epoch, with batches read ahead
  state = it.state()
  expected = take(it, 4)
  it.close()
  assert state == {"batches_consumed": 3}  # the checkpoint key before grain: old ones restore
  for w in WORKERS:
    fresh = Batches(record, 8, seed=2, num_examples=20, workers=w)
    fresh.restore(state)
    for x, y in zip(take(fresh, 4), expected):
      np.testing.assert_array_equal(x["idx"], y["idx"])
    assert fresh.state() == {"batches_consumed": 7}
    fresh.restore({"batches_consumed": 1})  # back, on a running iterator
    np.testing.assert_array_equal(next(fresh)["idx"], reference_indices(1, 8, 2, 20)[0])
    fresh.close()


def test_processes_split_each_global_batch():
  whole = take(Batches(record, 8, num_examples=12, process_index=0, process_count=1), 4)
  parts = [take(Batches(record, 8, num_examples=12, process_index=p, process_count=2,
                        workers=2), 4) for p in (0, 1)]
  for b in range(4):
    np.testing.assert_array_equal(
        np.concatenate([parts[0][b]["idx"], parts[1][b]["idx"]]), whole[b]["idx"])


@pytest.mark.parametrize("workers", WORKERS)
def test_errors_reach_the_consumer_and_the_batch_is_retried(workers):
  broken = {"on": True}

  def make(idx):
    if broken["on"] and 9 in idx:  # batch 2
      raise ValueError("example 9: bad field")
    return record(idx)

  it = Batches(make, 4, workers=workers)
  take(it, 2)
  with pytest.raises(ValueError, match="example 9: bad field"):
    next(it)
  assert it.state() == {"batches_consumed": 2}
  broken["on"] = False  # e.g. the file fixed: the failed batch comes again, then the next
  np.testing.assert_array_equal(next(it)["idx"], [8, 9, 10, 11])
  np.testing.assert_array_equal(next(it)["idx"], [12, 13, 14, 15])
  it.close()


def test_close_waits_for_running_batches_and_starts_no_more():
  running, calls = threading.Event(), []

  def slow(idx):
    calls.append(int(idx[0]))
    running.set()
    time.sleep(0.2)
    return record(idx)

  it = Batches(slow, 2, workers=2, prefetch=4)
  next(it)
  running.wait()
  it.close()
  n = len(calls)
  time.sleep(0.5)
  assert len(calls) == n  # nothing built after close returned


def test_bad_arguments():
  with pytest.raises(ValueError, match="workers=-1"):
    Batches(record, 4, workers=-1)
  assert Batches(record, 4, prefetch=0, workers=2).workers == 0  # prefetch=0: synchronous


def test_trainer_sets_data_workers_and_they_do_not_change_training(tmp_path):
  runs = []
  for workers in (0, 2):
    c = toy.config(total_steps=3, data_workers=workers)
    init_fn, loss_fn, make_batch = toy.contrastive_problem()
    data = toy.batches(make_batch, c)
    result = train.fit(c, str(tmp_path / str(workers)), init_fn=init_fn, loss_fn=loss_fn,
                       train_data=data)
    data.close()
    assert data.workers == workers
    runs.append(result.state.params)
  for x, y in zip(*map(jax.tree.leaves, runs)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_manifest_cache_serves_the_decoded_images(tmp_path):
  root = write_files(tmp_path)
  plain, cached = build(dir=root), build(dir=root, cache=True)
  tokens = lambda captions: np.zeros((len(captions), 4), np.int32)
  runs = [take(image_text.caption_batches(s, tokens, 16, seed=1), 6) for s in (plain, cached)]
  for x, y in zip(*runs):  # two epochs: the second one from the cache
    assert x["images"].tobytes() == y["images"].tobytes()
  assert len(cached._decoded) == 24 and not plain.__dict__.get("_decoded")  # one per file
  shutil.rmtree(tmp_path / "img")  # cached images need no files any more
  again = cached.example("train", 5)["image"]
  assert not again.flags.writeable
  with pytest.raises(ValueError, match="cannot decode"):
    plain.example("train", 5)


def test_benchmark_arguments():
  args = data_throughput.parse(["--manifest_dir", "some/dir", "--workers", "1,2"])
  assert args.sources == ["manifest_dir"] and args.workers == [1, 2]
  assert "manifest_dir" not in data_throughput.parse([]).sources
  with pytest.raises(SystemExit):
    data_throughput.parse(["--sources", "manifest_dir"])
