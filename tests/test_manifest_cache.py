"""Manifest validation in threads, and its cache of the files that decoded."""

import json
import logging
import os

import numpy as np
import pytest

from mmjax.data import manifest, validation_cache
from mmjax.data.manifest import ManifestDataset
from mmjax.data.validation_cache import cache_path
from tests.test_manifest import write_jsonl, write_png, write_wav

HOUR_AGO = 3600 * 10**9


def age(*paths, by=HOUR_AGO):
  """Sets the files' mtimes `by` ns into the past: files written within 2 s of a load are
  decoded but not cached (a change in the same timestamp tick could go unseen)."""
  for p in paths:
    t = os.stat(p).st_mtime_ns - by
    os.utime(p, ns=(t, t))


@pytest.fixture
def data(tmp_path):
  """Six PNGs, three WAVs, and a broken PNG, JPEG and WAV, all an hour old."""
  from PIL import Image
  rng = np.random.default_rng(0)
  for i in range(6):
    write_png(tmp_path / f"{i}.png", rng.integers(0, 256, (10 + i, 12, 3)))
  for i in range(3):
    write_wav(tmp_path / f"{i}.wav", rng.integers(-3000, 3000, 800 + i))
  (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
  Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(tmp_path / "whole.jpg")
  jpeg = (tmp_path / "whole.jpg").read_bytes()
  (tmp_path / "broken.jpg").write_bytes(jpeg[:len(jpeg) // 2])
  (tmp_path / "broken.wav").write_bytes(b"RIFF1234WAVEnope")
  age(*tmp_path.iterdir())
  return tmp_path


def rows():
  """Lines 1-10: good rows, and bad ones at lines 3, 5, 6 and 8 (bad files, a missing one)."""
  good = lambda i, j=None: {"image": f"{i}.png", "text": f"row {i}",
                            "audio": f"{i % 3 if j is None else j}.wav"}
  return [good(0), good(1), dict(good(2), image="broken.jpg"), good(3),
          dict(good(4), audio="broken.wav"), dict(good(5), image="nope.png"),
          good(1, 2), dict(good(0), image="broken.png"), good(4), good(5)]


@pytest.fixture
def decodes(monkeypatch):
  """Counts the files manifest.py decodes: [path]."""
  calls = []
  image, audio = manifest.decode_image, manifest.decode_audio
  monkeypatch.setattr(manifest, "decode_image", lambda p, **kw: calls.append(p) or image(p, **kw))
  monkeypatch.setattr(manifest, "decode_audio", lambda p: calls.append(p) or audio(p))
  return calls


def read_cache(manifest_path):
  with open(cache_path(manifest_path)) as f:
    return json.load(f)


def summary(ds):
  return ds.rows, dict(ds.skipped), ds.skipped_rows


def test_threads_give_the_serial_results_and_errors(data):
  path = write_jsonl(data / "m.jsonl", rows())
  serial = ManifestDataset(path, on_bad_example="skip", workers=1, cache_validation=False)
  assert dict(serial.skipped) == {"undecodable_image": 2, "undecodable_audio": 1,
                                  "missing_file": 1}
  assert [line for line, _, _ in serial.skipped_rows] == [3, 5, 6, 8] and len(serial) == 6
  for workers in (2, 4, None):
    ds = ManifestDataset(path, on_bad_example="skip", workers=workers, cache_validation=False)
    assert summary(ds) == summary(serial)
  # In error mode the first bad line fails, whichever thread decoded which file first.
  for workers in (1, 4):
    with pytest.raises(ValueError, match=r"line 3, field 'image': cannot decode .*broken.jpg"):
      ManifestDataset(path, workers=workers, cache_validation=False)
  assert not os.path.exists(cache_path(path))


def test_second_load_decodes_nothing_and_gives_the_same_rows(data, decodes):
  path = write_jsonl(data / "m.jsonl", rows())
  first = ManifestDataset(path, on_bad_example="skip")
  # 5 images (no row names 2.png) + 3 clips + 3 broken files, each decoded once however many
  # rows name it.
  assert len(decodes) == 11 and len(set(decodes)) == 11
  cache = read_cache(path)
  assert sorted(cache["image"]) == [f"{i}.png" for i in (0, 1, 3, 4, 5)]
  assert sorted(cache["audio"]) == ["0.wav", "1.wav", "2.wav"]
  decodes.clear()
  second = ManifestDataset(path, on_bad_example="skip")
  assert summary(second) == summary(first)
  # Only the bad files are decoded again (so their messages name where they are now).
  assert sorted(os.path.basename(p) for p in decodes) == ["broken.jpg", "broken.png",
                                                          "broken.wav"]


def test_a_changed_file_is_decoded_again_and_a_newly_broken_one_caught(data, decodes):
  path = write_jsonl(data / "m.jsonl", [r for i, r in enumerate(rows()) if i not in (2, 4, 5, 7)])
  ManifestDataset(path)
  decodes.clear()
  age(data / "3.png", by=HOUR_AGO // 2)  # touched: same bytes, another mtime
  ManifestDataset(path)
  assert [os.path.basename(p) for p in decodes] == ["3.png"]
  decodes.clear()
  (data / "4.png").write_bytes(b"\x89PNG truncated")  # broken (new size and mtime)
  age(data / "4.png")
  with pytest.raises(ValueError, match=r"line 5, field 'image': cannot decode .*4.png"):
    ManifestDataset(path)
  assert [os.path.basename(p) for p in decodes] == ["4.png"]
  assert "4.png" not in read_cache(path)["image"]


def test_files_written_just_now_are_not_cached(data, decodes):
  path = write_jsonl(data / "m.jsonl", [{"image": "0.png"}, {"image": "1.png"}])
  write_png(data / "1.png", np.zeros((3, 3, 3)))
  ManifestDataset(path)
  ManifestDataset(path)
  assert sorted(os.path.basename(p) for p in decodes) == ["0.png", "1.png", "1.png"]


def test_a_corrupt_cache_is_ignored_and_rewritten(data, decodes, caplog):
  path = write_jsonl(data / "m.jsonl", [{"image": "0.png"}])
  with open(cache_path(path), "w") as f:
    f.write('{"version": 1, "max_pix')  # a run killed mid-write (before os.replace was used)
  with caplog.at_level(logging.WARNING):
    assert len(ManifestDataset(path)) == 1
  assert "ignoring unreadable validation cache" in caplog.text and len(decodes) == 1
  assert read_cache(path)["image"] == {
      "0.png": [os.path.getsize(data / "0.png"), os.stat(data / "0.png").st_mtime_ns]}
  # Well-formed JSON of the wrong shape is ignored too.
  with open(cache_path(path), "w") as f:
    f.write('{"version": 2, "max_pixels": 89478485, "image": [1]}')
  ManifestDataset(path)
  ManifestDataset(path)
  assert len(decodes) == 2 and not [f for f in os.listdir(data) if f.endswith(".tmp")]


def test_an_unwritable_folder_validates_without_the_cache(data, decodes, monkeypatch, caplog):
  def refuse(*args, **kwargs):
    raise PermissionError(13, "Permission denied")  # tests run as root: chmod would not stop us
  monkeypatch.setattr(validation_cache.tempfile, "mkstemp", refuse)
  monkeypatch.setattr(validation_cache, "_warned_cache_dirs", set())
  path = write_jsonl(data / "m.jsonl", [{"image": "0.png"}, {"image": "1.png"}])
  with caplog.at_level(logging.WARNING):
    for _ in range(2):
      assert len(ManifestDataset(path)) == 2
  assert caplog.text.count("cannot write the validation cache") == 1 and len(decodes) == 4
  assert not os.path.exists(cache_path(path))


def test_another_pixel_limit_validates_again(data, decodes):
  path = write_jsonl(data / "m.jsonl", [{"image": f"{i}.png"} for i in range(3)])
  ManifestDataset(path)
  ManifestDataset(path)
  assert len(decodes) == 3
  # 1.png is 12 x 11 = 132 pixels (2.png 144): fine before, bad rows now.
  with pytest.raises(ValueError, match="line 2, field 'image': .*12 x 11 = 132 pixels is more than "
                     "max_pixels=130"):
    ManifestDataset(path, max_pixels=130)
  assert len(decodes) == 6
  ds = ManifestDataset(path, max_pixels=130, on_bad_example="skip")
  assert len(ds) == 1 and read_cache(path)["max_pixels"] == 130


def test_validate_cli_has_workers_and_no_cache(data, decodes, capsys):
  from mmjax.data import validate
  path = write_jsonl(data / "m.jsonl", rows())
  with pytest.raises(SystemExit) as exit_:
    validate.main([path, "--workers", "2", "--no_cache"])
  assert exit_.value.code == 1 and not os.path.exists(cache_path(path))
  out = capsys.readouterr().out
  assert [line.split(" ")[0] for line in out.splitlines()[:4]] == [
      f"{path}:{n}" for n in (3, 5, 6, 8)]
  with pytest.raises(SystemExit):
    validate.main([path])
  assert os.path.exists(cache_path(path)) and capsys.readouterr().out == out


def test_the_manifest_source_passes_validation_cache_on(tmp_path):
  from mmjax.data.manifest_source import ManifestSource
  write_png(tmp_path / "0.png", np.zeros((4, 4, 3)))
  for split in ("train", "val", "test"):
    write_jsonl(tmp_path / f"{split}.jsonl", [{"image": "0.png", "text": "a"}])
  age(tmp_path / "0.png")
  assert ManifestSource(dir=str(tmp_path), validation_cache=False).size("train") == 1
  assert not os.path.exists(cache_path(tmp_path / "train.jsonl"))
  assert ManifestSource(dir=str(tmp_path)).size("val") == 1
  assert read_cache(tmp_path / "val.jsonl")["image"] == {"0.png": [
      os.path.getsize(tmp_path / "0.png"), os.stat(tmp_path / "0.png").st_mtime_ns]}
