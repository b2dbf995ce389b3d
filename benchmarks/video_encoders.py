r"""What video costs: the train step of a video classifier with each video encoder, over the
number of frames and the resolution. One JSON line per row as it finishes, then a table.

  python benchmarks/video_encoders.py                       # the README's grid (a few minutes)
  python benchmarks/video_encoders.py --encoders vivit_joint --frames 8,16,32 --sizes 64,128

Encoders (configs/video.py's default model, with its video encoder switched by config):
  frames_mean         a CNN on each frame, then the mean over frames (blind to order)
  frames_transformer  the same CNN, then a temporal Transformer over the frame tokens
  vivit_joint         ViViT, one Transformer over every tubelet token (2 frames x 8 x 8 pixels)
  vivit_factorised    ViViT's factorised encoder: spatial Transformer per time step, then
                      temporal
Each row compiles the bare jitted train step (AdamW, donated state, batch already on the device:
benchmarks/train_workloads.bare_step) on jax's devices (one CPU unless XLA_FLAGS asks for more;
the JSON rows say how many) and reports examples/s and the median step
time over --steps steps after --warmup, the compile time, the step's peak memory as XLA's memory
analysis of the compiled program counts it (arguments + outputs - donated + temporaries + code;
a GPU's or TPU's compiler lays buffers out otherwise, so read it as a scale), and XLA's FLOPs of
one step. Rows run in this process, one after another; the load column is the 1-minute load
average at each row's end (others' share of the cores).

--markdown FILE writes the table under a line naming the command and the machine;
--update_readme writes exactly that between README.md's markers
<!-- benchmark:video_encoders:begin --> / <!-- benchmark:video_encoders:end -->.
"""

import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from benchmarks.train_throughput import csv  # noqa: E402  (no jax)
from mmjax.reproduce import tables  # noqa: E402  (imports no jax)

# encoder -> overrides of configs/video.py's model.encoders.video
ENCODERS = {"frames_mean": {"name": "frames", "frames.temporal": "mean"},
            "frames_transformer": {"name": "frames", "frames.temporal": "transformer"},
            "vivit_joint": {"name": "vivit", "vivit.variant": "joint"},
            "vivit_factorised": {"name": "vivit", "vivit.variant": "factorised"}}
TUBELET = (2, 8)  # configs/video.py's: frames and sizes must divide into it
MIB = 2 ** 20
COLUMNS = (("encoder", "encoder", "{}"), ("frames", "frames", "{}"), ("size", "size", "{}"),
           ("batch", "batch", "{}"), ("params", "params", "{:,}"),
           ("examples/s", "examples_per_s", "{:.1f}"),
           ("step ms (median)", "median_step_s", "{:.0f}", 1e3),
           ("compile s", "compile_s", "{:.1f}"), ("peak MiB", "peak_bytes", "{:.0f}", 1 / MIB),
           ("GFLOPs / step", "xla_flops", "{:.1f}", 1e-9), ("load", "load_avg_1min", "{:.1f}"))
OUTPUT_FLAGS = ("--json", "--markdown", "--update_readme", "--readme", "--block")


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--encoders", type=csv("encoders", tuple(ENCODERS)), default=",".join(ENCODERS))
  p.add_argument("--frames", type=csv("frames", cast=int), default="8,16")
  p.add_argument("--sizes", type=csv("sizes", cast=int), default="32,64",
                 help="frame sides in pixels")
  p.add_argument("--batch", type=int, default=8)
  p.add_argument("--steps", type=int, default=3)
  p.add_argument("--warmup", type=int, default=1)
  p.add_argument("--json", default=None, help="also write the rows to this JSON file")
  tables.add_readme_flags(p, "video_encoders", os.path.join(ROOT, "README.md"))
  args = p.parse_args(argv)
  bad = [f"frames {f}" for f in args.frames if f < TUBELET[0] or f % TUBELET[0]] + [
      f"size {s}" for s in args.sizes if s < TUBELET[1] or s % TUBELET[1]]
  if bad:
    p.error(f"{', '.join(bad)}: ViViT's tubelets are {TUBELET[0]} frames x {TUBELET[1]} x "
            f"{TUBELET[1]} pixels; give frames divisible by {TUBELET[0]} and sizes by "
            f"{TUBELET[1]}")
  if min(args.batch, args.steps, args.warmup + 1) < 1:
    p.error("valid: --batch >= 1, --steps >= 1, --warmup >= 0")
  return args


def config_of(encoder: str, frames: int, size: int, batch: int):
  """configs/video.py's default config with `encoder` at frames x size x size."""
  from mmjax import experiment  # pylint: disable=g-import-not-at-top
  overrides = {f"model.encoders.video.{k}": v for k, v in ENCODERS[encoder].items()}
  overrides.update({"model.encoders.video.frames.max_frames": frames, "data.image_size": size,
                    "batch_size": batch})
  c = experiment.get_config(os.path.join(ROOT, "configs/video.py"), overrides)
  c.progress_bar = False
  return c


def measure(encoder: str, frames: int, size: int, batch: int, steps: int, warmup: int) -> dict:
  """One row: the encoder's classifier trained on random clips [batch, frames, size, size, 3]."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from benchmarks.train_workloads import bare_step  # pylint: disable=g-import-not-at-top
  from mmjax import train  # pylint: disable=g-import-not-at-top
  from mmjax.tasks import classification  # pylint: disable=g-import-not-at-top
  c = config_of(encoder, frames, size, batch)
  train.validate(c)
  model = classification.classifier(c, ("video",), 4)
  rng = np.random.default_rng(0)
  batches = [{"video": rng.normal(size=(batch, frames, size, size, 3)).astype(np.float32),
              "label": rng.integers(0, 4, batch).astype(np.int32)} for _ in range(4)]
  init_fn = classification.init_fn(model, {"video": batches[0]["video"]})
  params = jax.eval_shape(lambda: init_fn(jax.random.key(0))[0])
  loss_fn = classification.loss_fn(model, ("video",), c.model)
  bare = bare_step(c, init_fn, loss_fn, batches, steps, warmup, breakdown=False)
  med = statistics.median(bare["step_times"])
  return {"encoder": encoder, "frames": frames, "size": size, "batch": batch,
          "devices": jax.device_count(),
          "params": int(sum(x.size for x in jax.tree.leaves(params))),
          "examples_per_s": round(batch / med, 2), "median_step_s": round(med, 4),
          "compile_s": round(bare["compile_s"], 2), "peak_bytes": bare.get("peak_bytes"),
          "xla_flops": bare["xla_flops"], "load_avg_1min": round(os.getloadavg()[0], 1)}


def table(rows):
  """A Markdown table of the rows (a failed row shows its error)."""
  return tables.markdown_table(rows, COLUMNS)


def main(argv=None):
  args = parse(argv)
  tables.check_readme_block(args)
  rows = []
  for encoder in args.encoders:
    for frames in args.frames:
      for size in args.sizes:
        try:
          rows.append(measure(encoder, frames, size, args.batch, args.steps, args.warmup))
        except Exception as e:  # e.g. out of memory: the row says so, the others still run
          rows.append({"encoder": encoder, "frames": frames, "size": size,
                       "batch": args.batch, "error": f"{type(e).__name__}: {e}"[:200]})
        print(json.dumps(rows[-1]), flush=True)
  print(table(rows))
  argv = sys.argv[1:] if argv is None else argv
  command = tables.shown_command("python benchmarks/video_encoders.py", argv, OUTPUT_FLAGS)
  tables.write_benchmark(args, f"`{command}` on {tables.machine()}:\n\n{table(rows)}\n", rows)


if __name__ == "__main__":
  main()
