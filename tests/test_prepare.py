"""mmjax.data.prepare on tiny files in each downloaded layout: the manifests it writes load in
ManifestDataset (every file found and decoded), splits are disjoint, seeded and as documented."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from mmjax.data import prepare
from mmjax.data.manifest import ManifestDataset


def write_png(path, value=0, size=(6, 5)):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)


def rows(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_image_folder_splits_each_class_and_loads(tmp_path):
  for c, n in (("cat", 10), ("dog", 20)):
    for i in range(n):
      write_png(str(tmp_path / "photos" / c / f"{i}.png"), i)
  (tmp_path / "photos" / "dog" / "notes.txt").write_text("not an image")
  out = str(tmp_path / "manifests")
  counts = prepare.image_folder(str(tmp_path / "photos"), out, seed=1)
  assert counts == {"train": 24, "val": 3, "test": 3}  # per class: 8/1/1 and 16/2/2
  images = [r["image"] for s in prepare.SPLITS for r in rows(os.path.join(out, f"{s}.jsonl"))]
  assert len(set(images)) == 30 and all(not os.path.isabs(p) for p in images)
  test = ManifestDataset(os.path.join(out, "test.jsonl"))
  assert sorted(r["label"] for r in test.rows) == [0, 1, 1]  # cat, dog, dog
  assert prepare.image_folder(str(tmp_path / "photos"), str(tmp_path / "again"), seed=1) == counts
  assert rows(os.path.join(out, "val.jsonl")) == rows(str(tmp_path / "again" / "val.jsonl"))
  with pytest.raises(FileNotFoundError, match="no class subfolders"):
    prepare.image_folder(str(tmp_path / "manifests"), str(tmp_path / "x"))


def flickr_folder(tmp_path, n=10):
  for i in range(n):
    write_png(str(tmp_path / "Images" / f"{i}.jpg".replace(".jpg", ".png")), i)
  return [f"{i}.png" for i in range(n)]


@pytest.mark.parametrize("layout", ["kaggle_csv", "token_txt"])
def test_flickr8k_keeps_each_image_s_captions_in_one_split(tmp_path, layout):
  names = flickr_folder(tmp_path)
  if layout == "kaggle_csv":
    lines = ["image,caption"] + [f"{n},a dog, running number {k}" for n in names for k in range(2)]
  else:
    lines = [f"{n}#{k}\ta dog running number {k}" for n in names for k in range(2)]
  captions = tmp_path / "captions.txt"
  captions.write_text("\n".join(lines) + "\n")
  out = str(tmp_path / "f8k")
  counts = prepare.flickr8k(str(tmp_path / "Images"), str(captions), out, sizes=(6, 2, 2))
  assert counts == {"train": 12, "val": 4, "test": 4}
  seen = {}
  for split in prepare.SPLITS:
    ds = ManifestDataset(os.path.join(out, f"{split}.jsonl"))
    for r in rows(os.path.join(out, f"{split}.jsonl")):
      seen.setdefault(r["image"], set()).add(split)
    assert len(ds) == counts[split]
  assert len(seen) == 10 and all(len(s) == 1 for s in seen.values())
  texts = [r["text"] for r in rows(os.path.join(out, "train.jsonl"))]
  comma = ", " if layout == "kaggle_csv" else " "
  assert f"a dog{comma}running number 1" in texts


def test_flickr8k_errors_name_the_problem(tmp_path):
  flickr_folder(tmp_path, 3)
  bad = tmp_path / "bad.txt"
  bad.write_text("file,text\n0.png,a dog\n")
  with pytest.raises(ValueError, match="line 1 should be the header 'image,caption'"):
    prepare.flickr8k(str(tmp_path / "Images"), str(bad), str(tmp_path / "o"), (1, 1, 1))
  bad.write_text("image,caption\n0.png,a dog\n1.png,\n")
  with pytest.raises(ValueError, match="line 3: expected an image name and a caption"):
    prepare.flickr8k(str(tmp_path / "Images"), str(bad), str(tmp_path / "o"), (1, 1, 1))
  bad.write_text("image,caption\n0.png,a dog\n7.png,a cat\n")
  with pytest.raises(FileNotFoundError, match="1 of the 2 captioned images are not in .*7.png"):
    prepare.flickr8k(str(tmp_path / "Images"), str(bad), str(tmp_path / "o"), (1, 0, 0))
  bad.write_text("image,caption\n0.png,a dog\n1.png,a cat\n")
  with pytest.raises(ValueError, match="need 3 images"):
    prepare.flickr8k(str(tmp_path / "Images"), str(bad), str(tmp_path / "o"), (1, 1, 1))


def test_coco_annotations(tmp_path):
  for i in range(3):
    write_png(str(tmp_path / "val2017" / f"{i:012d}.png"), i)
  data = {"images": [{"id": 10 + i, "file_name": f"{i:012d}.png"} for i in range(3)],
          "annotations": [{"image_id": 10 + i % 3, "caption": f" caption {i} "} for i in range(6)]}
  path = tmp_path / "captions_val2017.json"
  path.write_text(json.dumps(data))
  out = str(tmp_path / "coco")
  assert prepare.coco(str(path), str(tmp_path / "val2017"), out) == {"val": 6}
  ds = ManifestDataset(os.path.join(out, "val.jsonl"))
  assert len(ds) == 6 and rows(os.path.join(out, "val.jsonl"))[0]["text"] == "caption 0"
  data["annotations"].append({"image_id": 99, "caption": "orphan"})
  path.write_text(json.dumps(data))
  with pytest.raises(ValueError, match=r"annotations\[6\] names image_id 99"):
    prepare.coco(str(path), str(tmp_path / "val2017"), out)
  other = tmp_path / "mine.json"
  other.write_text(json.dumps({"images": [], "annotations": []}))
  with pytest.raises(ValueError, match="pass --split"):
    prepare.coco(str(other), str(tmp_path / "val2017"), out)


def write_idx(path, array):
  header = (0x08 << 8 | array.ndim).to_bytes(4, "big")
  header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
  with open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def test_fsdd_mnist_pairs_by_digit_and_splits_by_speaker(tmp_path):
  rec = tmp_path / "recordings"
  rec.mkdir()
  for speaker in ("george", "jackson", "theo", "yweweler"):
    for digit in range(3):
      for k in range(2):
        wavfile.write(str(rec / f"{digit}_{speaker}_{k}.wav"), 8000,
                      (np.sin(np.arange(800) * (digit + 1) / 10) * 3000).astype(np.int16))
  (rec / "README.md").write_text("not a recording")
  rng = np.random.default_rng(0)
  write_idx(str(tmp_path / "images-idx3"), rng.integers(0, 256, (40, 28, 28)))
  labels = np.arange(40) % 3
  write_idx(str(tmp_path / "labels-idx1"), labels)
  out = str(tmp_path / "avm")
  counts = prepare.fsdd_mnist(str(rec), str(tmp_path / "images-idx3"),
                              str(tmp_path / "labels-idx1"), out)
  assert counts == {"train": 32, "val": 4, "test": 4}
  for split, speakers in (("train", {"george", "jackson"}), ("val", {"theo"}),
                          ("test", {"yweweler"})):
    manifest = rows(os.path.join(out, f"{split}.jsonl"))
    assert {os.path.basename(r["audio"]).split("_")[1] for r in manifest} <= speakers
    for r in manifest:  # the recording says the image's digit
      assert int(os.path.basename(r["audio"])[0]) == r["label"]
    ds = ManifestDataset(os.path.join(out, f"{split}.jsonl"), sample_rate=8000)
    batch = ds.make_batch(np.arange(len(ds)))
    assert batch["images"].shape[1:] == (28, 28, 3) and batch["audio"].shape[0] == len(ds)
  train = rows(os.path.join(out, "train.jsonl"))
  used = [r["audio"] for r in train if r["label"] == 0]
  assert len(set(used)) == 4  # every train recording of 0 is used before any repeats
  with pytest.raises(ValueError, match="speaker 'nobody' has no recordings.*george, jackson"):
    prepare.fsdd_mnist(str(rec), str(tmp_path / "images-idx3"), str(tmp_path / "labels-idx1"),
                       out, test_speakers=("nobody",))
  (tmp_path / "short-idx1").write_bytes((0x0801).to_bytes(4, "big") + (5).to_bytes(4, "big"))
  with pytest.raises(ValueError, match="header says \\[5\\], the file holds 0 values"):
    prepare.read_idx(str(tmp_path / "short-idx1"))


def test_command_line(tmp_path, capsys):
  for i in range(10):
    write_png(str(tmp_path / "photos" / "a" / f"{i}.png"), i)
  prepare.main(["image_folder", "--root", str(tmp_path / "photos"), "--out", str(tmp_path / "m"),
                "--val_fraction", "0.2", "--test_fraction", "0"])
  printed = capsys.readouterr().out
  assert "train.jsonl: 8 rows" in printed and "val.jsonl: 2 rows" in printed
  assert "test.jsonl: 0 rows" in printed


def test_av_mnist_degradation_keeps_part_of_the_pca_energy():
  rng = np.random.default_rng(0)
  # Digits that vary along 3 directions, the first dominant.
  basis = rng.normal(size=(3, 64))
  coef = rng.normal(size=(50, 3)) * [6.0, 1.0, 0.5]
  images = np.clip(128 + coef @ basis * 10, 0, 255).astype(np.uint8).reshape(50, 8, 8)
  train = np.arange(40)
  # All the energy: the train images unchanged (the PCA spans them).
  np.testing.assert_allclose(prepare.degrade(images, train, 1.0)[train], images[train], atol=1)
  kept = prepare.degrade(images, train, 0.5).astype(np.float64).reshape(50, -1)
  # One direction is kept: the degraded images lie on one line through the mean (up to the
  # rounding to uint8 and clipping).
  s = np.linalg.svd(kept - kept.mean(0), compute_uv=False)
  assert s[1] < 0.05 * s[0]
