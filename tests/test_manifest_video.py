"""Video in manifests, on clips the test writes: batches of sampled frames, the bad files named by
line and field (damaged, empty, no frames, too many pixels), the validation report and cache,
the manifest source's video field, and the kinetics_tiny layout."""

import json
import os

import numpy as np
import pytest

from mmjax.data import manifest, prepare, validate
from mmjax.data.manifest import ManifestDataset
from mmjax.data.validation_cache import cache_path
from mmjax.registry import ConfigError

av = pytest.importorskip("av")


def write_clip(path, frames, rate=10, codec=None):
  """uint8 frames [t, h, w, 3] as a video file (mpeg4 in mp4/avi, gif in gif)."""
  path = str(path)
  codec = codec or ("gif" if path.endswith(".gif") else "mpeg4")
  with av.open(path, "w") as out:
    stream = out.add_stream(codec, rate=rate)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
    out.start_encoding()  # the header, even of a clip without frames
    for f in frames:
      out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
    out.mux(stream.encode())
  return path


def ramp(n=12, size=16):
  """Frame i is a flat grey of 20 * i + 10: a decoded frame's mean says which it was."""
  return np.repeat((20 * np.arange(n) + 10).astype(np.uint8), size * size * 3).reshape(
      n, size, size, 3)


def which(video):
  return np.round((video.reshape(len(video), -1).mean(1) * 255 - 10) / 20).astype(int).tolist()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
  """Good clips (mp4 24 x 16, gif 16 x 16) and bad ones: damaged, empty, without frames."""
  d = tmp_path_factory.mktemp("clips")
  write_clip(d / "a.mp4", ramp(12))
  write_clip(d / "wide.mp4", np.concatenate([ramp(12), ramp(12)[:, :, :8]], axis=2))
  write_clip(d / "b.gif", ramp(12))
  (d / "damaged.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
  (d / "empty.mp4").write_bytes(b"")
  write_clip(d / "noframes.avi", ramp(0))
  for p in d.iterdir():  # an hour old: files written within 2 s of a load are not cached
    t = os.stat(p).st_mtime_ns - 3600 * 10**9
    os.utime(p, ns=(t, t))
  return d


def write_jsonl(path, rows):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return str(path)


def test_video_rows_become_batches_of_sampled_frames(clips):
  path = write_jsonl(clips / "m.jsonl", [{"video": "a.mp4", "label": "up"},
                                         {"video": "wide.mp4", "label": "up"},
                                         {"video": "b.gif", "label": "down"}])
  ds = ManifestDataset(path, num_frames=4, image_ops=[{"op": "resize", "size": 8}])
  b = ds.make_batch([0, 1, 2])
  assert b["videos"].shape == (3, 4, 8, 8, 3) and b["videos"].dtype == np.float32
  assert [which(v) for v in b["videos"]] == [[1, 4, 7, 10]] * 3  # spread over 12 frames
  assert b["labels"].tolist() == [1, 1, 0] and ds.class_names == ["down", "up"]
  strided = ManifestDataset(path, num_frames=3, frame_stride=4, image_ops=[
      {"op": "resize", "size": 8}])
  assert which(strided.make_batch([2])["videos"][0]) == [0, 4, 8]
  with pytest.raises(ValueError, match="frame sampling: .*give stride or fps"):
    ManifestDataset(path, frame_stride=2, frame_fps=1.0)


BAD = {  # file -> words of its error
    "damaged.mp4": "cannot open .*damaged.mp4 as a video",
    "empty.mp4": "empty.mp4 is an empty file",
    "noframes.avi": "noframes.avi has no video frames",
    "wide.mp4": "24 x 16 pixels are more than max_pixels=300",
}


def test_bad_videos_are_bad_rows_named_by_line_and_field(clips, capsys):
  rows = [{"video": "a.mp4", "label": 0}] + [{"video": f, "label": 1} for f in BAD]
  path = write_jsonl(clips / "bad.jsonl", rows)
  for bad_row, words in zip(rows[1:], BAD.values()):
    with pytest.raises(ValueError, match=f"line 2, field 'video': .*{words}"):
      ManifestDataset(write_jsonl(clips / "one.jsonl", [rows[0], bad_row]), max_pixels=300,
                      cache_validation=False)
  ds = ManifestDataset(path, on_bad_example="skip", max_pixels=300, cache_validation=False)
  assert len(ds) == 1 and dict(ds.skipped) == {"undecodable_video": 4}
  # The validation command reports each of them before any training.
  assert validate.validate([path], max_pixels=300, cache=False) == 4
  out = capsys.readouterr().out
  for line in range(2, 6):
    assert any(o.startswith(f"{path}:{line} video: ") for o in out.splitlines()), (line, out)
  assert "undecodable_video 4" in out


def test_videos_that_decode_are_cached(clips, monkeypatch):
  path = write_jsonl(clips / "cached.jsonl", [{"video": "a.mp4"}, {"video": "b.gif"},
                                              {"video": "empty.mp4"}])
  ManifestDataset(path, on_bad_example="skip")
  assert sorted(json.load(open(cache_path(path)))["video"]) == ["a.mp4", "b.gif"]
  calls = []
  decode = manifest.decode_video
  monkeypatch.setattr(manifest, "decode_video", lambda p, *a, **k: calls.append(p) or decode(
      p, *a, **k))
  assert len(ManifestDataset(path, on_bad_example="skip")) == 2
  assert [os.path.basename(p) for p in calls] == ["empty.mp4"]  # only the bad one again


def source(folder, **options):
  import ml_collections
  from mmjax.data import sources
  data = ml_collections.ConfigDict(dict(seed=0, image_size=8, source=dict(
      name="manifest", manifest=dict(dir=str(folder), **options))))
  return sources.build(data)


def test_the_manifest_source_serves_video(clips, tmp_path):
  for split in ("train", "val", "test"):
    write_jsonl(tmp_path / f"{split}.jsonl", [{"video": str(clips / "wide.mp4"), "label": "x"}])
  ex = source(tmp_path, frames=3, frame_fps=5.0).example("test", 0, ("video", "label", "key"))
  assert ex["video"].shape == (3, 8, 8, 3) and ex["label"] == 0
  assert which(ex["video"]) == [0, 2, 4] and ex["key"].endswith("wide.mp4")  # 10 fps source
  with pytest.raises(ConfigError, match="data.source.manifest .*num_frames=0"):
    source(tmp_path, frames=0)
  with pytest.raises(ConfigError, match="this experiment also reads image"):
    source(tmp_path).require(["image"])


def test_kinetics_tiny_layout(clips, tmp_path, capsys):
  root = tmp_path / "kinetics400_tiny"
  for part, names in (("train", ["t1.mp4", "t2.mp4", "t3.mp4", "e1.mp4", "e2.mp4", "e3.mp4"]),
                      ("val", ["t9.mp4", "e9.mp4"])):
    (root / part).mkdir(parents=True)
    for n in names:
      src = clips / ("empty.mp4" if n == "e3.mp4" else "a.mp4")
      (root / part / n).write_bytes(src.read_bytes())
    (root / f"kinetics_tiny_{part}_video.txt").write_text(
        "".join(f"{n} {int(n[0] == 't')}\n" for n in names))
  (root / "label_map_k2.txt").write_text("doing exercises\ntyping\n")
  prepare.main(["kinetics_tiny", "--root", str(root), "--out", str(tmp_path / "m"),
                "--val_fraction", "0.34"])
  assert "train.jsonl: 4 rows" in capsys.readouterr().out
  rows = {s: [json.loads(x) for x in open(tmp_path / "m" / f"{s}.jsonl")]
          for s in ("train", "val", "test")}
  assert [r["label"] for r in rows["test"]] == ["typing", "doing exercises"]
  assert sorted(r["label"] for r in rows["val"]) == ["doing exercises", "typing"]
  ds = ManifestDataset(str(tmp_path / "m" / "train.jsonl"), on_bad_example="skip")
  assert len(ds) + sum(ds.skipped.values()) == 4
  (root / "kinetics_tiny_val_video.txt").write_text("t9.mp4 one\n")
  with pytest.raises(ValueError, match="line 1: expected '<video file> <class id>'"):
    prepare.kinetics_tiny(str(root), str(tmp_path / "m2"))
