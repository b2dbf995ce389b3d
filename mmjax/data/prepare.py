"""Manifests (mmjax/data/manifest.py) from the layouts datasets are downloaded in.

  python -m mmjax.data.prepare image_folder --root photos/ --out data/photos
  python -m mmjax.data.prepare flickr8k --images Images --captions captions.txt --out data/f8k
  python -m mmjax.data.prepare coco --annotations captions_val2017.json --images val2017 \
      --out data/coco
  python -m mmjax.data.prepare fsdd_mnist --recordings fsdd/recordings \\
      --mnist_images t10k-images-idx3-ubyte --mnist_labels t10k-labels-idx1-ubyte --out data/avm
  python -m mmjax.data.prepare kinetics_tiny --root kinetics400_tiny --out data/k400tiny

Each writes train.jsonl, val.jsonl and test.jsonl (coco: one <split>.jsonl) into --out, with
paths relative to it, and prints how many rows each got. Splits are seeded and documented per
layout below; nothing is copied except MNIST's images, which exist only inside the idx file.
"""

import argparse
import collections
import csv
import gzip
import json
import os
import re
from typing import Optional, Sequence

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLITS = ("train", "val", "test")


def write_manifests(out: str, splits: dict) -> dict:
  """Writes {split: rows} as <out>/<split>.jsonl; rows' paths are made relative to `out`.
  Returns {split: number of rows}."""
  os.makedirs(out, exist_ok=True)
  counts = {}
  for split, rows in splits.items():
    with open(os.path.join(out, f"{split}.jsonl"), "w", encoding="utf-8") as f:
      for row in rows:
        row = {k: os.path.relpath(v, out) if k in ("image", "audio", "video") else v
               for k, v in row.items()}
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts[split] = len(rows)
  return counts


def split_sizes(n: int, fractions: Sequence[float]) -> list:
  """Sizes of consecutive parts of n items: val and test get round(fraction * n) each (at
  least 1 when the fraction is positive and n allows), train the rest."""
  sizes = [min(n, max(int(f > 0), round(f * n))) for f in fractions]
  if sum(sizes) >= n:
    raise ValueError(f"{n} items cannot be split into train + {sizes} (val, test): give more "
                     f"items or smaller fractions.")
  return [n - sum(sizes)] + sizes


def image_folder(root: str, out: str, val_fraction: float = 0.1, test_fraction: float = 0.1,
                 seed: int = 0) -> dict:
  """One subfolder per class (`root/<class>/*.jpg`, as torchvision's ImageFolder): rows
  {"image", "label": class name}. Each class is split on its own (seeded), so every split has
  every class in proportion."""
  classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
  if not classes:
    raise FileNotFoundError(f"{root} has no class subfolders; expected {root}/<class>/<image>.")
  splits = {s: [] for s in SPLITS}
  rng = np.random.default_rng(seed)
  for name in classes:
    folder = os.path.join(root, name)
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))
    if not files:
      raise FileNotFoundError(f"class folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)}).")
    order = rng.permutation(len(files))
    n_train, n_val, _ = split_sizes(len(files), (val_fraction, test_fraction))
    for i, j in enumerate(order):
      split = "train" if i < n_train else "val" if i < n_train + n_val else "test"
      splits[split].append({"image": os.path.join(folder, files[j]), "label": name})
  return write_manifests(out, splits)


def read_flickr8k_captions(path: str) -> dict:
  """captions.txt (`image,caption` rows under that header, as Kaggle's Flickr8k ships it, or
  the original Flickr8k.token.txt's `name.jpg#k<TAB>caption`) -> {image file: [captions]}."""
  captions = collections.defaultdict(list)
  with open(path, encoding="utf-8") as f:
    first = f.readline()
    f.seek(0)
    if "\t" in first:
      rows, start = (line.rstrip("\n").split("\t", 1) for line in f), 1
    else:
      reader = csv.reader(f)
      header = next(reader, None)
      if header is None or [h.strip().lower() for h in header[:2]] != ["image", "caption"]:
        raise ValueError(f"{path}: line 1 should be the header 'image,caption', got {header!r}.")
      # An unquoted comma inside a caption splits it: join the pieces back.
      rows, start = ([r[0], ",".join(r[1:])] if len(r) > 2 else r for r in reader), 2
    for line, row in enumerate(rows, start):
      if not any(x.strip() for x in row):
        continue
      if len(row) != 2 or not row[0].strip() or not row[1].strip():
        raise ValueError(f"{path}, line {line}: expected an image name and a caption, got "
                         f"{row!r}.")
      captions[re.sub(r"#\d+$", "", row[0].strip())].append(row[1].strip())
  return dict(captions)


def flickr8k(images: str, captions: str, out: str, sizes: Sequence[int] = (6000, 1000, 1000),
             seed: int = 0) -> dict:
  """Flickr8k: an images folder and its captions file. Images are split (seeded permutation of
  the sorted names) into `sizes` train / val / test images, each keeping all its captions: rows
  {"image", "text"}, one per caption. Images with captions but no file are an error."""
  by_image = read_flickr8k_captions(captions)
  missing = sorted(name for name in by_image if not os.path.isfile(os.path.join(images, name)))
  if missing:
    raise FileNotFoundError(f"{len(missing)} of the {len(by_image)} captioned images are not in "
                            f"{images}, e.g. {', '.join(missing[:3])}.")
  names = sorted(by_image)
  if sum(sizes) > len(names):
    raise ValueError(f"sizes {tuple(sizes)} need {sum(sizes)} images; {captions} captions "
                     f"{len(names)}.")
  order = np.random.default_rng(seed).permutation(len(names))
  splits, start = {}, 0
  for split, size in zip(SPLITS, sizes):
    chosen = sorted(names[i] for i in order[start:start + size])
    splits[split] = [{"image": os.path.join(images, n), "text": c}
                     for n in chosen for c in by_image[n]]
    start += size
  return write_manifests(out, splits)


def coco(annotations: str, images: str, out: str, split: Optional[str] = None) -> dict:
  """COCO captions (`captions_<split>.json`: "images" with id and file_name, "annotations"
  with image_id and caption) and its image folder: rows {"image", "text"}, one per caption,
  written to <split>.jsonl (split from the file name unless given)."""
  with open(annotations, encoding="utf-8") as f:
    data = json.load(f)
  for key in ("images", "annotations"):
    if key not in data:
      raise ValueError(f"{annotations} has no {key!r}; expected COCO's captions_<split>.json.")
  files = {im["id"]: im["file_name"] for im in data["images"]}
  rows = []
  for i, a in enumerate(data["annotations"]):
    if a["image_id"] not in files:
      raise ValueError(f"{annotations}: annotations[{i}] names image_id {a['image_id']}, which "
                       f"is not among its images.")
    rows.append({"image": os.path.join(images, files[a["image_id"]]),
                 "text": a["caption"].strip()})
  missing = sorted({r["image"] for r in rows if not os.path.isfile(r["image"])})
  if missing:
    raise FileNotFoundError(f"{len(missing)} captioned images are not in {images}, e.g. "
                            f"{', '.join(os.path.basename(m) for m in missing[:3])}.")
  rows.sort(key=lambda r: r["image"])
  if split is None:
    match = re.match(r"captions_(\w+?)(\d{4})?\.json$", os.path.basename(annotations))
    split = {"train": "train", "val": "val", "test": "test"}.get(match.group(1)) if match else None
    if split is None:
      raise ValueError(f"cannot tell the split from {annotations}'s name; pass --split.")
  return write_manifests(out, {split: rows})


def read_idx(path: str) -> np.ndarray:
  """An MNIST idx file (idx3 images [n, rows, cols] or idx1 labels [n], uint8; .gz or not)."""
  with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
    data = f.read()
  magic = int.from_bytes(data[:4], "big")
  if magic >> 8 != 0x08 or magic & 0xFF not in (1, 3):
    raise ValueError(f"{path} is not an MNIST idx file of uint8 (magic {magic:#x}).")
  ndim = magic & 0xFF
  shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
  body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
  if body.size != np.prod(shape):
    raise ValueError(f"{path}: header says {shape}, the file holds {body.size} values "
                     f"(truncated?).")
  return body.reshape(shape)


def degrade(images: np.ndarray, train: np.ndarray, energy: float) -> np.ndarray:
  """uint8 images [n, h, w] projected onto the principal directions that keep `energy` of the
  variance of images[train] (mmjax.data.tfds.av_mnist.fit_pca, as the tfds AV-MNIST does)."""
  from mmjax.data.tfds.av_mnist import fit_pca  # pylint: disable=g-import-not-at-top
  flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
  mean, comps = fit_pca(flat[train], energy)
  kept = np.clip((flat - mean) @ comps @ comps.T + mean, 0.0, 1.0)
  return np.round(kept * 255.0).astype(np.uint8).reshape(images.shape)


def fsdd_mnist(recordings: str, mnist_images: str, mnist_labels: str, out: str,
               val_speakers: Sequence[str] = ("theo",),
               test_speakers: Sequence[str] = ("yweweler",),
               fractions: Sequence[float] = (0.1, 0.1), seed: int = 0,
               image_energy: float = 1.0) -> dict:
  """AV-MNIST-style pairs from real recordings: an MNIST digit (written as a PNG under
  <out>/mnist/) with a Free Spoken Digit Dataset recording (`<digit>_<speaker>_<k>.wav`) of the
  same digit. The recordings are split by speaker (val_speakers, test_speakers; the rest
  train), so no voice is heard in two splits; the MNIST images by a seeded permutation
  (fractions: val, test). Each image is paired with its split's recordings of its digit in a
  seeded order that uses every recording before repeating one: rows {"image", "audio", "label"}.

  image_energy < 1 degrades the digits as AV-MNIST does (MultiBench keeps 0.25): each image
  keeps that fraction of its PCA energy, PCA fitted on the train split's images, so that the
  image alone no longer decides the digit and fusion has something to add. The written PNGs are
  the degraded images, as AV-MNIST ships them."""
  pattern = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
  clips = collections.defaultdict(list)  # (split, digit) -> paths
  speakers = set()
  for name in sorted(os.listdir(recordings)):
    match = pattern.match(name)
    if not match:
      continue
    digit, speaker = int(match.group(1)), match.group(2)
    speakers.add(speaker)
    split = ("val" if speaker in val_speakers else "test" if speaker in test_speakers
             else "train")
    clips[split, digit].append(os.path.join(recordings, name))
  for s in (*val_speakers, *test_speakers):
    if s not in speakers:
      found = ", ".join(sorted(speakers)) or "none (expected <digit>_<speaker>_<k>.wav)"
      raise ValueError(f"speaker {s!r} has no recordings in {recordings}; its speakers: {found}.")
  images, labels = read_idx(mnist_images), read_idx(mnist_labels)
  if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
    raise ValueError(f"{mnist_images} and {mnist_labels} should hold images [n, h, w] and "
                     f"labels [n]; got {images.shape} and {labels.shape}.")
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(images))
  n_train, n_val, _ = split_sizes(len(images), fractions)
  parts = dict(zip(SPLITS, np.split(order, [n_train, n_train + n_val])))
  if image_energy < 1.0:
    images = degrade(images, parts["train"], image_energy)
  folder = os.path.join(out, "mnist")
  os.makedirs(folder, exist_ok=True)
  splits = {}
  for split, idx in parts.items():
    cycle = {}  # digit -> (seeded order of its clips, next position)
    rows = []
    for i in sorted(idx):
      digit = int(labels[i])
      pool = clips.get((split, digit))
      if not pool:
        raise ValueError(f"the {split} speakers have no recording of digit {digit} in "
                         f"{recordings}.")
      perm, k = cycle.get(digit) or (rng.permutation(len(pool)), 0)
      cycle[digit] = (perm, k + 1)
      path = os.path.join(folder, f"{i:05d}.png")
      Image.fromarray(images[i]).save(path)
      rows.append({"image": path, "audio": pool[perm[k % len(pool)]], "label": digit})
    splits[split] = rows
  return write_manifests(out, splits)


def read_video_list(path: str) -> list:
  """An mmaction2 video list (`<file> <class id>` per line) -> [(file, class id)]."""
  items = []
  with open(path, encoding="utf-8") as f:
    for line, text in enumerate(f, 1):
      if not text.strip():
        continue
      parts = text.rsplit(maxsplit=1)
      if len(parts) != 2 or not parts[1].isdigit():
        raise ValueError(f"{path}, line {line}: expected '<video file> <class id>', got "
                         f"{text.strip()!r}.")
      items.append((parts[0], int(parts[1])))
  return items


def kinetics_tiny(root: str, out: str, val_fraction: float = 0.1, seed: int = 0) -> dict:
  """mmaction2's Kinetics-400 tiny set (`kinetics400_tiny/`: kinetics_tiny_train_video.txt and
  kinetics_tiny_val_video.txt listing `<file> <class id>`, the clips in train/ and val/, class
  names one a line in label_map_k2.txt when present): rows {"video", "label": class name, or id
  without a label map}. Its val list is the test split; val is a seeded `val_fraction` of each
  class's train clips. Files are listed as they are: decoding is checked when the manifests
  load (an empty or damaged clip is a bad row, named and skipped with on_bad_example="skip")."""
  label_map = os.path.join(root, "label_map_k2.txt")
  names = None
  if os.path.isfile(label_map):
    with open(label_map, encoding="utf-8") as f:
      names = [line.strip() for line in f if line.strip()]
  lists = {}
  for part in ("train", "val"):
    listed = read_video_list(os.path.join(root, f"kinetics_tiny_{part}_video.txt"))
    missing = [n for n, _ in listed if not os.path.isfile(os.path.join(root, part, n))]
    if missing:
      raise FileNotFoundError(f"{len(missing)} listed clips are not in {os.path.join(root, part)}"
                              f", e.g. {', '.join(missing[:3])}.")
    if names is not None and any(c >= len(names) for _, c in listed):
      raise ValueError(f"{part} list has class ids >= {len(names)}, the classes in {label_map}.")
    lists[part] = [{"video": os.path.join(root, part, n),
                    "label": names[c] if names is not None else c} for n, c in listed]
  splits = {"train": [], "val": [], "test": lists["val"]}
  rng = np.random.default_rng(seed)
  by_class = collections.defaultdict(list)
  for row in lists["train"]:
    by_class[row["label"]].append(row)
  for label in sorted(by_class, key=str):
    rows = by_class[label]
    n_val = min(len(rows) - 1, max(int(val_fraction > 0), round(val_fraction * len(rows))))
    chosen = set(rng.permutation(len(rows))[:n_val].tolist())
    for i, row in enumerate(rows):
      splits["val" if i in chosen else "train"].append(row)
  return write_manifests(out, splits)


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m mmjax.data.prepare", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="layout", required=True)
  p = sub.add_parser("image_folder", help="root/<class>/<image> -> image, label")
  p.add_argument("--root", required=True)
  p.add_argument("--val_fraction", type=float, default=0.1)
  p.add_argument("--test_fraction", type=float, default=0.1)
  p = sub.add_parser("flickr8k", help="Images/ + captions.txt -> image, text")
  p.add_argument("--images", required=True)
  p.add_argument("--captions", required=True)
  p.add_argument("--sizes", default="6000,1000,1000", help="train,val,test images")
  p = sub.add_parser("coco", help="captions_<split>.json + images -> image, text")
  p.add_argument("--annotations", required=True)
  p.add_argument("--images", required=True)
  p.add_argument("--split", default=None)
  p = sub.add_parser("fsdd_mnist", help="FSDD recordings + MNIST idx -> image, audio, label")
  p.add_argument("--recordings", required=True)
  p.add_argument("--mnist_images", required=True)
  p.add_argument("--mnist_labels", required=True)
  p.add_argument("--val_speakers", default="theo")
  p.add_argument("--test_speakers", default="yweweler")
  p.add_argument("--fractions", default="0.1,0.1", help="val,test fractions of the images")
  p.add_argument("--image_energy", type=float, default=1.0,
                 help="keep this fraction of the digits' PCA energy (AV-MNIST: 0.25)")
  p = sub.add_parser("kinetics_tiny", help="kinetics400_tiny/ (mmaction2) -> video, label")
  p.add_argument("--root", required=True, help="the kinetics400_tiny folder")
  p.add_argument("--val_fraction", type=float, default=0.1,
                 help="of each class's train clips (the val list is the test split)")
  for p in sub.choices.values():
    p.add_argument("--out", required=True, help="folder for the manifests")
    if p.prog.split()[-1] != "coco":
      p.add_argument("--seed", type=int, default=0)
  a = parser.parse_args(argv)
  split_list = lambda s: tuple(x for x in s.split(",") if x)
  if a.layout == "image_folder":
    counts = image_folder(a.root, a.out, a.val_fraction, a.test_fraction, a.seed)
  elif a.layout == "flickr8k":
    counts = flickr8k(a.images, a.captions, a.out, tuple(map(int, split_list(a.sizes))), a.seed)
  elif a.layout == "kinetics_tiny":
    counts = kinetics_tiny(a.root, a.out, a.val_fraction, a.seed)
  elif a.layout == "coco":
    counts = coco(a.annotations, a.images, a.out, a.split)
  else:
    counts = fsdd_mnist(a.recordings, a.mnist_images, a.mnist_labels, a.out,
                        split_list(a.val_speakers), split_list(a.test_speakers),
                        tuple(map(float, split_list(a.fractions))), a.seed, a.image_energy)
  for split, n in counts.items():
    print(f"{os.path.join(a.out, split + '.jsonl')}: {n} rows")


if __name__ == "__main__":
  main()
