"""Manifest datasets: loading JSONL/CSV rows of your own files, and every kind of bad row."""

import json
import logging
import struct
import wave
import zlib

import numpy as np
import pytest

from mmjax.data.manifest import ManifestDataset
from mmjax.data.pipeline import Batches
from mmjax.data.tokenizer import WordTokenizer


def write_png(path, pixels):
  """A minimal RGB PNG (stdlib only), so the test needs no image library to make its files."""
  h, w, _ = pixels.shape
  raw = b"".join(b"\x00" + pixels[y].astype(np.uint8).tobytes() for y in range(h))
  chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                              + struct.pack(">I", zlib.crc32(kind + data)))
  header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                   + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_wav(path, samples, rate=8000):
  with wave.open(str(path), "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(rate)
    f.writeframes(np.asarray(samples, np.int16).tobytes())


@pytest.fixture
def files(tmp_path):
  """Three good examples: images of different sizes, clips of different lengths and rates."""
  rng = np.random.default_rng(0)
  (tmp_path / "img").mkdir()
  for i, (h, w) in enumerate([(12, 16), (20, 20), (9, 30)]):
    write_png(tmp_path / "img" / f"{i}.png", rng.integers(0, 256, (h, w, 3)))
  for i, (n, rate) in enumerate([(4000, 8000), (9000, 16000), (100, 8000)]):
    write_wav(tmp_path / f"{i}.wav", rng.integers(-3000, 3000, n), rate)
  (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
  (tmp_path / "broken.wav").write_bytes(b"RIFF1234WAVEnope")
  return tmp_path


def row(i, **overrides):
  r = {"image": f"img/{i}.png", "text": f"example number {i}", "audio": f"{i}.wav",
       "label": ["cat", "dog", "cat"][i]}
  r.update(overrides)
  return {k: v for k, v in r.items() if v is not ...}


def write_jsonl(path, rows):
  path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
  return str(path)


def good(files, **kw):
  path = write_jsonl(files / "m.jsonl", [row(i) for i in range(3)])
  kw.setdefault("image_ops", [{"op": "resize", "size": 8}])
  return ManifestDataset(path, audio_ops=[{"op": "pad_or_crop", "length": 4000}],
                         sample_rate=8000, **kw)


def test_jsonl_rows_become_batches(files):
  tok = WordTokenizer.build(["example number 0 1 2"])
  ds = good(files, tokenizer=tok, max_len=6)
  b = ds.make_batch(np.array([2, 0]))
  assert b["images"].shape == (2, 8, 8, 3) and b["images"].dtype == np.float32
  assert list(b["texts"]) == ["example number 2", "example number 0"]
  assert tok.decode(b["tokens"][0]) == "example number 2"
  assert b["audio"].shape == (2, 4000) and not b["audio"][0, 100:].any()  # clip 2 is padded
  np.testing.assert_array_equal(b["labels"], [0, 0])
  assert ds.class_names == ["cat", "dog"] and len(ds) == 3
  # Clip 1 is 16 kHz: resampled to 8 kHz, its 9000 samples become 4500, cropped to 4000.
  assert np.abs(ds.make_batch([1])["audio"]).max() > 0


def test_csv_subset_of_fields_with_integer_labels(files):
  (files / "m.csv").write_text("image,label\nimg/0.png,3\nimg/1.png,0\n")
  ds = ManifestDataset(str(files / "m.csv"), image_ops=[{"op": "resize", "size": 4}])
  b = ds.make_batch([0, 1])
  assert set(b) == {"images", "labels"} and b["images"].shape == (2, 4, 4, 3)
  np.testing.assert_array_equal(b["labels"], [3, 0])


def test_batches_are_byte_identical_for_the_same_seed(files):
  ds = good(files, seed=5, image_ops=[{"op": "random_resized_crop", "size": 8}, "random_flip"])
  runs = [[next(it) for _ in range(3)] for it in (Batches(ds.make_batch, 2, num_examples=3),
                                                  Batches(ds.make_batch, 2, num_examples=3,
                                                          prefetch=0))]
  for a, b in zip(*runs):
    assert a["images"].tobytes() == b["images"].tobytes()
    assert a["audio"].tobytes() == b["audio"].tobytes()


BAD_ROWS = {  # reason -> (row, field named in the error, words in the error)
    "missing_file": (row(0, image="img/nope.png"), "image", "no such file"),
    "undecodable_image": (row(0, image="broken.png"), "image", "cannot decode"),
    "undecodable_audio": (row(0, audio="broken.wav"), "audio", "cannot decode .* as WAV"),
    "empty_text": (row(0, text="   "), "text", "non-empty string"),
    "bad_label": (row(0, label=1.5), "label", "non-negative integer or a class name.*float"),
    "unknown_field": (row(0, caption="x"), "caption", "unknown field 'caption'; valid fields: "
                      "image, text, audio, label"),
    "missing_field": (row(0, text=...), "text", "missing 'text'"),
    "invalid_json": ('{"image": "img/0.png",', "", "not valid JSON"),
}


@pytest.mark.parametrize("reason", sorted(BAD_ROWS))
def test_bad_row_raises_naming_line_and_field(files, reason):
  bad, field, words = BAD_ROWS[reason]
  path = write_jsonl(files / "m.jsonl", [row(1), bad, row(2)])
  where = "line 2" + (f", field '{field}'" if field else "")
  with pytest.raises(ValueError, match=f"{where}: .*{words}"):
    ManifestDataset(path)


def test_skip_counts_and_logs_every_dropped_row(files, caplog):
  rows = [row(0)] + [BAD_ROWS[r][0] for r in sorted(BAD_ROWS)] + [row(1), row(2, label=True)]
  path = write_jsonl(files / "m.jsonl", rows)
  with caplog.at_level(logging.WARNING):
    ds = ManifestDataset(path, on_bad_example="skip")
  expected = {r: 1 for r in BAD_ROWS}
  expected["bad_label"] = 2
  assert dict(ds.skipped) == expected and len(ds) == 2
  assert [line for line, _, _ in ds.skipped_rows] == list(range(2, 10)) + [11]
  assert caplog.text.count("skipping line") == 9 and "skipped 9 of 11 rows" in caplog.text


def test_manifest_level_errors(files):
  (files / "m.csv").write_text("image,caption\nimg/0.png,hi\n")
  with pytest.raises(ValueError, match=r"unknown column\(s\) \['caption'\]; valid fields"):
    ManifestDataset(str(files / "m.csv"))
  path = write_jsonl(files / "m.jsonl", [row(0), row(1, label=2)])
  with pytest.raises(ValueError, match="line 2, field 'label': 2 mixes class names and integer"):
    ManifestDataset(path)
  with pytest.raises(ValueError, match="on_bad_example='drop'; valid: error, skip"):
    ManifestDataset(path, on_bad_example="drop")
  path = write_jsonl(files / "m.jsonl", [row(0, text="")])
  with pytest.raises(ValueError, match=r"no usable rows \(skipped: \{'empty_text': 1\}\)"):
    ManifestDataset(path, on_bad_example="skip")
  with pytest.raises(ValueError, match="unknown format; valid: .jsonl, .csv"):
    ManifestDataset(str(files / "0.wav"))


def test_flac_needs_soundfile_and_says_how_to_install(files):
  (files / "0.flac").write_bytes(b"fLaC\x00\x00\x00\x22")
  path = write_jsonl(files / "m.jsonl", [{"audio": "0.flac"}])
  try:
    import soundfile  # noqa: F401
  except ImportError:
    # A missing library is the environment's fault, not the row's: it raises even in skip mode.
    with pytest.raises(RuntimeError, match="pip install soundfile"):
      ManifestDataset(path, on_bad_example="skip")
  else:
    with pytest.raises(ValueError, match="line 1, field 'audio': cannot decode .* as FLAC"):
      ManifestDataset(path)


def test_broken_media_are_bad_rows_naming_line_and_field(files):
  from PIL import Image
  from scipy.io import wavfile
  Image.fromarray(np.zeros((40, 40, 3), np.uint8) + 128).save(files / "whole.jpg", quality=90)
  data = (files / "whole.jpg").read_bytes()
  (files / "truncated.jpg").write_bytes(data[:len(data) // 2])
  (files / "empty.png").write_bytes(b"")
  wavfile.write(str(files / "nan.wav"), 8000, np.array([0.0, np.nan, 0.5], np.float32))
  write_wav(files / "silent.wav", [])
  cases = [(dict(image="truncated.jpg"), "image", "cannot decode .*truncated"),
           (dict(image="empty.png"), "image", "cannot decode"),
           (dict(audio="nan.wav"), "audio", "non-finite samples"),
           (dict(audio="silent.wav"), "audio", "no samples")]
  for overrides, field, words in cases:
    path = write_jsonl(files / "m.jsonl", [row(1, **overrides)])
    with pytest.raises(ValueError, match=f"line 1, field '{field}': .*{words}"):
      ManifestDataset(path)


def test_images_over_the_pixel_limit_are_bad_rows(files):
  path = write_jsonl(files / "m.jsonl", [row(0), row(1)])  # 12 x 16 and 20 x 20 pixels
  with pytest.raises(ValueError, match="line 2, field 'image': .*20 x 20 = 400 pixels is more "
                     "than max_pixels=300"):
    ManifestDataset(path, max_pixels=300)
  ds = ManifestDataset(path, max_pixels=300, on_bad_example="skip")
  assert len(ds) == 1 and dict(ds.skipped) == {"undecodable_image": 1}


def test_text_that_is_not_utf8_names_its_line(files):
  rows = [json.dumps(row(i)).encode() for i in range(3)]
  rows[1] = rows[1].replace(b"example number 1", "café".encode("latin-1"))
  (files / "m.jsonl").write_bytes(b"\n".join(rows) + b"\n")
  with pytest.raises(ValueError, match="line 2: not UTF-8 text"):
    ManifestDataset(str(files / "m.jsonl"))
  ds = ManifestDataset(str(files / "m.jsonl"), on_bad_example="skip")
  assert len(ds) == 2 and dict(ds.skipped) == {"bad_encoding": 1}
  (files / "m.csv").write_bytes(b"image,text\nimg/0.png,fine\nimg/1.png," +
                                "café".encode("latin-1") + b"\n")
  with pytest.raises(ValueError, match="m.csv line 3: not UTF-8 text .* save the manifest as "
                     "UTF-8"):
    ManifestDataset(str(files / "m.csv"))
  (files / "bom.csv").write_bytes("\ufeffimage,text\nimg/0.png,fine\n".encode("utf-8"))
  assert len(ManifestDataset(str(files / "bom.csv"))) == 1  # Excel's UTF-8 byte-order mark


def test_validate_reports_every_bad_row_and_exits_1(files, capsys):
  from mmjax.data import validate
  bad = write_jsonl(files / "bad.jsonl", [row(0), row(1, image="img/nope.png"),
                                          row(2, text=" "), '{"image": '])
  ok = write_jsonl(files / "ok.jsonl", [row(0), row(2)])
  assert validate.validate([bad, ok, str(files / "none.jsonl")]) == 4
  out = capsys.readouterr().out
  assert f"{bad}:2 image: no such file" in out and f"{bad}:3 text: text must be" in out
  assert f"{bad}:4 -: not valid JSON" in out and f"{bad}: 1 usable rows, 3 bad" in out
  assert f"{ok}: 2 usable rows, 0 bad" in out and "none.jsonl: [Errno 2]" in out
  assert "bad rows by reason: empty_text 1, invalid_json 1, missing_file 1, " \
         "unreadable_manifest 1" in out
  with pytest.raises(SystemExit) as exit_:
    validate.main([ok])
  assert exit_.value.code == 0
  with pytest.raises(SystemExit) as exit_:
    validate.main([bad, "--max_pixels", "1000"])
  assert exit_.value.code == 1
