r"""Input-pipeline throughput: examples/s each data source delivers through `Batches` (grain,
reading ahead with --workers threads), one JSON line per source and worker count, against what
the clip_tiny train step consumes.

  python benchmarks/data_throughput.py                                   # all, offline mock data
  python benchmarks/data_throughput.py --sources coco_captions --data_dir ~/tensorflow_datasets
  python benchmarks/data_throughput.py --manifest_dir DIR --workers 1,2  # your JPEGs, 64 px

Sources: shapes (the synthetic world's batches exactly as experiments/contrastive.py reads them
for configs/contrastive.py:clip_tiny), coco_captions (64x64 crops of JPEGs), av_mnist (PCA
degradation and noise on), image_classification (cifar10 with random crops and flips), manifest
(PNG images + text + WAV clips written to a temporary folder), manifest_dir (the default with
--manifest_dir: DIR/train.jsonl through the `manifest` source and caption batches exactly as
experiments/contrastive.py reads them with configs/contrastive.py:manifest, 64 px; --cache
keeps decoded images, which pays from the second epoch). Without --data_dir the tfds sources
read mock data (tfds.testing.mock_data; COCO-sized random JPEGs for coco_captions), so the
figures are the pipeline's own cost (decode, resize, ops, batching), not disk reads.

Each line: examples_per_s over --batches batches of --batch after one warm-up batch, setup_s
(materialising, fitting PCA, opening streams, validating a manifest), cores_busy (this
process's CPU seconds per second while timed: up to one per worker; below that the GIL or other
processes held the workers back) and examples_per_cpu_s (the cost, which a shared CPU changes
little), and x_clip_tiny_step =
examples_per_s / the train step's consumption (--step_examples_per_s: by default 110/s, the
bf16 clip_tiny step at batch 128 on a 2-core AMX CPU, README's throughput table of 2026-12-05;
benchmarks/train_throughput.py measures it on yours). Above 1, data is not the bottleneck.

After the JSON lines, a table of them; --markdown FILE writes it under a line naming the command
(without its output flags) and the machine, and --update_readme writes exactly that between
README.md's <!-- benchmark:BLOCK:begin --> / <!-- benchmark:BLOCK:end --> markers (--block,
default data_throughput; --readme another file).
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmjax import experiment  # noqa: E402
from mmjax.data import sources  # noqa: E402
from mmjax.data.pipeline import DEFAULT_WORKERS, Batches  # noqa: E402
from mmjax.data.tokenizer import WordTokenizer  # noqa: E402
from mmjax.reproduce import tables  # noqa: E402
from mmjax.tasks import image_text  # noqa: E402

SOURCES = ("shapes", "coco_captions", "av_mnist", "image_classification", "manifest")
EXTRA_SOURCES = ("manifest_dir",)
IMAGE_SIZE = 64  # clip_tiny's
# (header, key, format[, scale]) of the table.
COLUMNS = (("source", "source", "{}"), ("mock data", "mock_data", "{}"),
           ("workers", "workers", "{}"), ("examples/s", "examples_per_s", "{:.0f}"),
           ("x clip_tiny step", "x_clip_tiny_step", "{:.1f}"),
           ("CPU ms per example", "examples_per_cpu_s", "{:.1f}"),
           ("cores busy", "cores_busy", "{:.2f}"), ("setup s", "setup_s", "{:.1f}"),
           ("load", "load_avg_1min", "{:.1f}"))
OUTPUT_FLAGS = ("--markdown", "--update_readme", "--readme", "--block")


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--sources", default=None,
                 help=f"default: {','.join(SOURCES)}; manifest_dir with --manifest_dir")
  p.add_argument("--workers", default=str(DEFAULT_WORKERS),
                 help="comma-separated Batches worker threads; 0 builds batches synchronously")
  p.add_argument("--manifest_dir", default=None, help="a folder with train.jsonl (image, text)")
  p.add_argument("--cache", action="store_true", help="manifest_dir: data.source.manifest.cache")
  p.add_argument("--batch", type=int, default=128)
  p.add_argument("--batches", type=int, default=5, help="timed batches per source")
  p.add_argument("--data_dir", default=None, help="prepared tfds data; default: mock data")
  p.add_argument("--step_examples_per_s", type=float, default=110.0,
                 help="the train step's examples/s (benchmarks/train_throughput.py)")
  tables.add_readme_flags(p, "data_throughput", os.path.join(ROOT, "README.md"))
  args = p.parse_args(argv)
  if args.sources is None:
    args.sources = "manifest_dir" if args.manifest_dir else ",".join(SOURCES)
  try:
    args.workers = [int(w) for w in args.workers.split(",") if w]
    assert args.workers and min(args.workers) >= 0
  except (ValueError, AssertionError):
    p.error(f"--workers {args.workers!r}; valid: comma-separated integers >= 0.")
  names = [s for s in args.sources.split(",") if s]
  unknown = [s for s in names if s not in SOURCES + EXTRA_SOURCES]
  if unknown:
    p.error(f"--sources {unknown}; valid: {', '.join(SOURCES + EXTRA_SOURCES)}.")
  if "manifest_dir" in names and not args.manifest_dir:
    p.error("--sources manifest_dir needs --manifest_dir DIR (a folder with train.jsonl).")
  args.sources = names
  return args


def shapes(args, workdir):
  """The train batches experiments/contrastive.py reads with configs/contrastive.py:clip_tiny."""
  config = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py:clip_tiny"))
  world = sources.build(config.data)
  tokenizer = image_text.word_tokenizer(world, workdir)
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  return image_text.caption_batches(world, tokens, args.batch, config.data.seed)


def manifest_dir(args, workdir):
  """DIR/train.jsonl's image-caption batches as experiments/contrastive.py reads them with
  configs/contrastive.py:manifest (64 px, the shorter side resized, centre crop)."""
  config = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py:manifest"))
  config.data.source.manifest.update(dir=args.manifest_dir, cache=args.cache)
  files = sources.build(config.data)
  tokenizer = image_text.word_tokenizer(files, workdir)
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  return image_text.caption_batches(files, tokens, args.batch, config.data.seed)


def mock(args, **kwargs):
  if args.data_dir:
    return contextlib.nullcontext()
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE, **kwargs)


def coco_captions(args, workdir, stack):
  from mmjax.data.tfds import CocoCaptions  # pylint: disable=g-import-not-at-top
  from mmjax.data.tfds.mock import mock_coco_captions  # pylint: disable=g-import-not-at-top
  if not args.data_dir:  # COCO-like 300-640 px JPEGs; 64 distinct, cycled.
    stack.enter_context(mock_coco_captions(num_examples=20 * args.batch, sides=(300, 640),
                                           num_distinct=64))
  coco = CocoCaptions(split="train", data_dir=args.data_dir, image_size=IMAGE_SIZE,
                      image_ops=[{"op": "random_resized_crop", "size": IMAGE_SIZE,
                                  "scale": [0.5, 1.0]}, "random_flip"],
                      tokenizer=WordTokenizer.build(["caption of image"]),
                      process_index=0, process_count=1)
  stack.callback(coco.close)
  return coco.batches(args.batch)


def av_mnist(args, workdir, stack):
  from mmjax.data.tfds import AVMnist  # pylint: disable=g-import-not-at-top
  with mock(args, num_examples=12 * args.batch):
    data = AVMnist(split="train", data_dir=args.data_dir, image_energy=0.25, audio_snr_db=0.0,
                   sample_rate=16000, audio_length=16000)
  return Batches(data.make_batch, args.batch, num_examples=len(data), with_positions=True)


def image_classification(args, workdir, stack):
  from mmjax.data.tfds import ImageClassification  # pylint: disable=g-import-not-at-top
  with mock(args, num_examples=8 * args.batch):
    data = ImageClassification("cifar10", split="train", data_dir=args.data_dir, image_ops=[
        {"op": "random_crop", "size": 32, "padding": 4}, "random_flip",
        {"op": "resize", "size": IMAGE_SIZE}])
  return Batches(data.make_batch, args.batch, num_examples=len(data), with_positions=True)


def manifest(args, workdir, stack):
  """256 PNG images (96x128), captions and 1 s WAV clips at 22.05 kHz, in a JSONL manifest."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from mmjax.data.manifest import ManifestDataset  # pylint: disable=g-import-not-at-top
  import scipy.io.wavfile  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  with open(os.path.join(workdir, "train.jsonl"), "w") as f:
    for i in range(256):
      image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
      tf.io.write_file(os.path.join(workdir, f"{i}.png"), tf.io.encode_png(image))
      scipy.io.wavfile.write(os.path.join(workdir, f"{i}.wav"), 22050,
                             rng.integers(-3000, 3000, 22050).astype(np.int16))
      f.write(json.dumps({"image": f"{i}.png", "text": f"picture number {i}",
                          "audio": f"{i}.wav", "label": i % 10}) + "\n")
  data = ManifestDataset(os.path.join(workdir, "train.jsonl"),
                         image_ops=[{"op": "resize_shorter", "size": IMAGE_SIZE},
                                    {"op": "center_crop", "size": IMAGE_SIZE}],
                         sample_rate=16000, audio_ops=[{"op": "pad_or_crop", "length": 16000}])
  return Batches(data.make_batch, args.batch, num_examples=len(data), with_positions=True)


def measure(name, build, args, workers):
  with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
    t0 = time.perf_counter()
    if name in ("shapes", "manifest_dir"):
      batches = build(args, workdir)
    else:
      batches = build(args, workdir, stack)
    batches.workers = workers if batches.prefetch else 0  # before the first batch is read
    stack.callback(batches.close)
    first = next(batches)  # warm-up: starts the prefetch thread and any stream.
    setup = time.perf_counter() - t0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(args.batches):
      next(batches)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
  rate = args.batches * args.batch / seconds
  mock_data = name in ("coco_captions", "av_mnist", "image_classification") and not args.data_dir
  return {"source": name, "mock_data": mock_data, "workers": workers,
          **({"cache": args.cache} if name == "manifest_dir" else {}),
          "batch": args.batch, "batches": args.batches, "examples_per_s": round(rate, 1),
          "seconds": round(seconds, 2), "cores_busy": round(cpu / seconds, 2),
          "examples_per_cpu_s": round(args.batches * args.batch / cpu, 1),
          "setup_s": round(setup, 2),
          "x_clip_tiny_step": round(rate / args.step_examples_per_s, 2),
          "shapes": {k: list(np.shape(v)) for k, v in first.items()},
          "load_avg_1min": round(os.getloadavg()[0], 2)}


BUILDERS = {"shapes": shapes, "coco_captions": coco_captions, "av_mnist": av_mnist,
            "image_classification": image_classification, "manifest": manifest,
            "manifest_dir": manifest_dir}


def table(rows):
  """A Markdown table of the rows; CPU ms per example is 1000 / examples_per_cpu_s."""
  columns = COLUMNS[:1] + ((("cache", "cache", "{}"),) if any("cache" in r for r in rows)
                           else ()) + COLUMNS[1:]
  lines = ["| " + " | ".join(c[0] for c in columns) + " |", "|" + "---|" * len(columns)]
  for r in rows:
    cells = []
    for _, key, fmt in columns:
      value = r.get(key)
      if key == "examples_per_cpu_s" and value:
        value = 1000.0 / value
      if isinstance(value, bool):
        value = "yes" if value else "no"
      cells.append("-" if value is None else fmt.format(value))
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def markdown(rows, command, machine):
  """--markdown's text and README's block: the command, the machine, the table."""
  return f"`{command}` on {machine}:\n\n{table(rows)}\n"


def main(argv=None):
  args = parse(argv)
  tables.check_readme_block(args)
  rows = []
  for name in args.sources:
    for workers in args.workers:
      rows.append(measure(name, BUILDERS[name], args, workers))
      print(json.dumps(rows[-1]), flush=True)
  print(table(rows))
  argv = sys.argv[1:] if argv is None else argv
  text = markdown(rows, tables.shown_command("python benchmarks/data_throughput.py", argv,
                                             OUTPUT_FLAGS, placeholders={"--manifest_dir": "DIR"}),
                  tables.machine())
  tables.write_benchmark(args, text, rows)


if __name__ == "__main__":
  main()
