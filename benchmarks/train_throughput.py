r"""Train-step throughput of mmjax workloads over device settings: one JSON line per row as it
finishes, then a table of every row.

  python benchmarks/train_throughput.py                                # clip_tiny, f32 and bf16
  python benchmarks/train_throughput.py --workloads clip_tiny,fusion --devices 1,8 \
      --parallelism jit,pmap --markdown runs/bench.md --json runs/bench.json
  python benchmarks/train_throughput.py --workloads clip_tiny --host_devices 8 --parallelism pmap

Workloads (benchmarks/train_workloads.py): clip_tiny (open_clip's workload of that name: ViT
64px/8 and a text transformer, width 256, 6 layers each; batch 128) and fusion (configs/fusion.py's
default model: image CNN + audio AST + concat_late; batch 64), each also in bfloat16 compute
(`_bf16`). Rows are every workload x --devices x --parallelism, except pmap on one device, which
is jit's computation plus pmap's overhead (it runs when pmap is the only parallelism asked for).
Devices beyond one are simulated CPU devices (`--xla_force_host_platform_device_count`) sharing
the machine's cores: a difference from one device is the parallel path's overhead, or its use of
more threads (each device runs its program on its own thread), not scaling to more hardware.

Each row runs in its own subprocess, since XLA reads the device count once, when jax starts, and so
that peak RSS (`ru_maxrss`) is that row's alone; the subprocess sets the host allocator as a run
with the trainer's default keep_freed_host_memory="auto" would (mmjax.train.host_memory: on for the
bf16 workloads; its JSON line's "host_memory" says what was done). A row reports examples/s and the
median step time of a bare jitted (or pmapped) train step (`make_train_step`, donated state,
batches already on device), the compile time, peak RSS, FLOPs (clip_tiny: the analytic matmul count
per step as ../shared/reference/openclip_bench.py counts it, and achieved GFLOP/s against the
machine's dot ceiling in the row's dtype, the best of a few lone products measured in the same
process with the step's compiler options, train_workloads.dot_ceiling; every workload: XLA's cost
analysis of one device's program), where a jit step's time goes (matmuls, attention,
elementwise/norms, optimizer; from a jax.profiler trace; off with --no_breakdown), and, with
--trainer, the overhead of the full trainer (`mmjax.train.fit`: data feeding, logging, metrics, NaN
checks) over the bare step. Times on a shared machine vary by 15 % or more between runs: compare
rows measured in one sitting; each row gives the 1-minute load average at its end.

--markdown FILE writes the table under a line naming the command (without its output flags)
and the machine; --update_readme writes exactly that between README.md's markers
<!-- benchmark:BLOCK:begin --> / <!-- benchmark:BLOCK:end --> (--block, default
train_throughput; --readme another file). --peer FILE adds open_clip's figures: the JSON lines
../shared/reference/openclip_bench.py prints (`--workload tiny`, `--precision fp32` / `bf16`),
matched to clip_tiny / clip_tiny_bf16, with the ratio mmjax / open_clip.
"""

import argparse
import itertools
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmjax.reproduce import tables  # noqa: E402  (imports no jax)

WORKLOADS = ("clip_tiny", "clip_tiny_bf16", "fusion", "fusion_bf16")  # train_workloads.WORKLOADS
PARALLELISM = ("jit", "pmap")
_DEVICE_FLAG = re.compile(r"--xla_force_host_platform_device_count=\S*")
# (header, row key, format[, scale]) of the printed table.
COLUMNS = (("workload", "workload", "{}"), ("dtype", "compute_dtype", "{}"),
           ("devices", "devices", "{}"), ("parallelism", "parallelism", "{}"),
           ("batch", "batch", "{}"), ("examples/s", "examples_per_s", "{:.1f}"),
           ("step ms (median)", "median_step_s", "{:.0f}", 1e3),
           ("compile s", "compile_s", "{:.1f}"), ("GFLOP/s", "achieved_gflop_s", "{:.1f}"),
           ("dot ceiling GFLOP/s", "dot_ceiling_gflop_s", "{:.0f}"),
           ("of ceiling", "ceiling_fraction", "{:.0%}"),
           ("peak RSS MB", "peak_rss_mb", "{:.0f}"))
TRAINER_COLUMNS = (("trainer examples/s", "trainer_examples_per_s", "{:.1f}"),
                   ("trainer overhead", "trainer_overhead", "{:+.1%}"))
LOAD_COLUMN = (("load", "load_avg_1min", "{:.1f}"),)  # the 1-minute load average at the row's end
PEER_COLUMNS = (("open_clip examples/s", "peer_examples_per_s", "{:.1f}"),
                ("open_clip peak RSS MB", "peer_peak_rss_mb", "{:.0f}"),
                ("mmjax / open_clip", "peer_ratio", "{:.2f}"))
# openclip_bench.py's (workload, precision) of each of our workloads.
PEERS = {"clip_tiny": ("tiny", "fp32"), "clip_tiny_bf16": ("tiny", "bf16")}
# Flags that say where results go, not what is measured: left out of the command README shows.
OUTPUT_FLAGS = ("--json", "--markdown", "--update_readme", "--readme", "--block")


def csv(kind, choices=None, cast=str):
  """An argparse type: a comma-separated list, each item cast and checked against `choices`."""
  def parse(text):
    items = [cast(s.strip()) for s in text.split(",") if s.strip()]
    bad = [s for s in items if choices is not None and s not in choices]
    if not items or bad:
      raise argparse.ArgumentTypeError(
          f"{kind} {bad or text!r}; valid: a comma-separated list of {', '.join(choices)}"
          if choices else f"{kind} {text!r}; valid: a comma-separated list")
    return items
  return parse


def device_count(text):
  n = int(text)
  if n < 1:
    raise argparse.ArgumentTypeError(f"device count {n}; valid: integers >= 1")
  return n


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--workloads", type=csv("workloads", WORKLOADS),
                 default="clip_tiny,clip_tiny_bf16")
  p.add_argument("--devices", type=csv("devices", cast=device_count), default="1",
                 help="device counts, e.g. 1,8 (above 1: simulated CPU devices)")
  p.add_argument("--host_devices", type=device_count, default=None,
                 help="one device count (the older spelling of --devices N)")
  p.add_argument("--parallelism", type=csv("parallelism", PARALLELISM), default="jit",
                 help="jit, pmap or jit,pmap")
  p.add_argument("--steps", type=int, default=20, help="timed steps")
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--trainer", action="store_true", help="also time mmjax.train.fit")
  p.add_argument("--no_breakdown", action="store_true")
  p.add_argument("--json", default=None, help="also write the rows to this JSON file")
  tables.add_readme_flags(p, "train_throughput", os.path.join(ROOT, "README.md"))
  p.add_argument("--peer", default=None,
                 help="JSON lines of ../shared/reference/openclip_bench.py: adds its columns")
  p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # runs one row.
  args = p.parse_args(argv)
  if args.host_devices is not None:
    args.devices = [args.host_devices]
  if args.steps < 1 or args.warmup < 0:
    p.error(f"--steps={args.steps} --warmup={args.warmup}; valid: steps >= 1, warmup >= 0")
  return args


def rows_to_run(args):
  """[(workload, devices, parallelism)], skipping pmap on one device when jit is also asked."""
  return [(w, d, p) for w, d, p in itertools.product(args.workloads, args.devices,
                                                       args.parallelism)
          if not (p == "pmap" and d == 1 and "jit" in args.parallelism)]


def child_env(env, devices):
  """`env` with XLA_FLAGS forcing `devices` host devices (replacing any count already set)."""
  flags = _DEVICE_FLAG.sub("", env.get("XLA_FLAGS", "")).split()
  flags.append(f"--xla_force_host_platform_device_count={devices}")
  return dict(env, XLA_FLAGS=" ".join(flags))


def child_command(args, workload, devices, parallelism):
  cmd = [sys.executable, os.path.abspath(__file__), "--child", "--workloads", workload,
         "--devices", str(devices), "--parallelism", parallelism,
         "--steps", str(args.steps), "--warmup", str(args.warmup)]
  return cmd + ["--trainer"] * args.trainer + ["--no_breakdown"] * args.no_breakdown


def table(rows):
  """A Markdown table of the rows (a failed row shows its error)."""
  trainer = any("trainer_examples_per_s" in r for r in rows)
  peer = any("peer_examples_per_s" in r for r in rows)
  columns = (COLUMNS + (TRAINER_COLUMNS if trainer else ()) + (PEER_COLUMNS if peer else ())
             + LOAD_COLUMN)
  return tables.markdown_table(rows, columns)


def with_peer(rows, peer_lines):
  """The rows with open_clip's examples/s, peak RSS and the ratio where a peer line matches."""
  peers = {}
  for line in peer_lines:
    if line.strip().startswith("{"):
      p = json.loads(line)
      peers[(p.get("workload"), p.get("precision"))] = p
  out = []
  for r in rows:
    p = peers.get(PEERS.get(r.get("workload")))
    if p and r.get("examples_per_s") and r.get("devices") == 1:
      r = dict(r, peer_examples_per_s=p["examples_per_s"], peer_peak_rss_mb=p.get("peak_rss_mb"),
               peer_ratio=r["examples_per_s"] / p["examples_per_s"])
    out.append(r)
  return out


def markdown(rows, command, machine):
  """--markdown's text and README's block: the command, the machine, the table."""
  return f"`{command}` on {machine}:\n\n{table(rows)}\n"


def run_row(args, workload, devices, parallelism):
  """One row's dict, measured in its own process (or its failure)."""
  p = subprocess.run(child_command(args, workload, devices, parallelism), cwd=ROOT,
                     env=child_env(os.environ, devices), stdout=subprocess.PIPE, text=True)
  found = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
  if p.returncode or not found:  # its traceback went to stderr, above.
    return {"workload": workload, "devices": devices, "parallelism": parallelism,
            "error": f"exit code {p.returncode}"}
  return found[-1]


def run_child(args):
  """Measures the one row this process was started for (XLA_FLAGS already set by the parent)."""
  sys.path.insert(0, ROOT)
  (workload,), (devices,), (parallelism,) = args.workloads, args.devices, args.parallelism
  from benchmarks import train_workloads  # pylint: disable=g-import-not-at-top
  from mmjax.train import host_memory  # pylint: disable=g-import-not-at-top
  # As experiment.main does with the trainer's default, before jax starts its backend.
  _, dtype = train_workloads.WORKLOADS[workload]  # the names parse() accepted
  allocator = host_memory.keep_freed_memory(host_memory.wanted("auto", dtype))
  import jax  # pylint: disable=g-import-not-at-top
  if jax.device_count() != devices:
    raise SystemExit(f"asked for {devices} devices, jax has {jax.device_count()} "
                     f"({jax.default_backend()}); host devices need the CPU backend.")
  row = train_workloads.measure(workload, parallelism, steps=args.steps, warmup=args.warmup,
                                breakdown=not args.no_breakdown, trainer=args.trainer)
  row["host_memory"] = allocator
  print(json.dumps(row), flush=True)


def main(argv=None):
  args = parse(argv)
  if args.child:
    return run_child(args)
  tables.check_readme_block(args)
  rows = []
  for workload, devices, parallelism in rows_to_run(args):
    rows.append(run_row(args, workload, devices, parallelism))
    print(json.dumps(rows[-1]), flush=True)
  if args.peer:
    with open(args.peer) as f:
      rows = with_peer(rows, f.readlines())
  print(table(rows))
  argv = sys.argv[1:] if argv is None else argv
  text = markdown(rows, tables.shown_command("python benchmarks/train_throughput.py", argv,
                                             OUTPUT_FLAGS, placeholders={"--peer": "FILE"}),
                  tables.machine())
  tables.write_benchmark(args, text, rows)


if __name__ == "__main__":
  main()
