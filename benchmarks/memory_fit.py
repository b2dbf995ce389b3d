r"""Will it fit? Compiles (never runs) a workload's train step on N simulated devices and prints
XLA's per-device memory analysis and FLOPs: one JSON line per row as it finishes, then a table.

  python benchmarks/memory_fit.py                                   # the README's grid
  python benchmarks/memory_fit.py --workloads clip_B32 --devices 64 \
      --settings fsdp/full/bfloat16 --markdown runs/fit.md

Workloads (benchmarks/fit_workloads.py): lit_coco_B16B (configs/lit_coco.py's paper preset:
locked ViT-B/16, BERT-base, batch 4096), clip_B32 (CLIP ViT-B/32, batch 32768) and tiny (the
tests' stand-in). Rows are every workload x --devices x --settings, each setting
SHARDING/REMAT/DTYPE: dp (the state replicated on every device) or fsdp (`config.fsdp`: large
arrays split over the devices, the scanned layers gathered one at a time), remat none or full
(both towers' `remat`), compute dtype float32 or bfloat16 (`config.compute_dtype`).

A row builds the step exactly as `mmjax.train.fit` does (`mmjax.train.lower_step`: the same
optimizer, shardings, donation), on abstract inputs (`jax.eval_shape` of the init, sharded
`ShapeDtypeStruct`s), so no parameter is ever allocated, and reads `memory_analysis()` of the
compiled program: per device, the state (params + optimizer + step: the arguments minus the
batch shard), the temporaries, and the peak (arguments + outputs - donated outputs + temporaries +
code). The towers' layers run under nn.scan, where remat's saving survives XLA:CPU's scheduler
(fit_workloads.measure says why). A peak at or under 16, 32 or 80 GiB fits a TPU v3 core, a
TPU v4 chip, an 80 GB A100 / H100. TFLOPs are one device's for one step. Each (workload, device
count) runs in its own subprocess with `--xla_force_host_platform_device_count`, since XLA reads
the device count once, when jax starts; it compiles that pair's settings one after another.

--markdown FILE writes the table under a line naming the command (without its output flags)
and the machine; --update_readme writes exactly that between README.md's markers
<!-- benchmark:memory_fit:begin --> / <!-- benchmark:memory_fit:end --> (--block, --readme).
"""

import argparse
import itertools
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from benchmarks.train_throughput import child_env, csv, device_count  # noqa: E402  (no jax)
from mmjax.reproduce import tables  # noqa: E402  (imports no jax)

# Global batch of each workload (fit_workloads.WORKLOADS builds them; a test checks these match),
# here so that a device count that does not divide it fails before anything starts.
BATCH = {"lit_coco_B16B": 4096, "clip_B32": 32768, "tiny": 64}
SHARDING, REMAT, DTYPE = ("dp", "fsdp"), ("none", "full"), ("float32", "bfloat16")
# One change at a time: remat, then bfloat16, then FSDP.
SETTINGS = "dp/none/float32,dp/full/float32,dp/full/bfloat16,fsdp/full/bfloat16"
GIB = 2 ** 30
CAPACITIES = (16, 32, 80)  # GiB: TPU v3 core, TPU v4 chip, A100 / H100 80 GB.
# (header, row key, format[, scale]) of the printed table.
COLUMNS = (("workload", "workload", "{}"), ("devices", "devices", "{}"),
           ("batch / device", "batch_per_device", "{}"), ("sharding", "sharding", "{}"),
           ("remat", "remat", "{}"), ("dtype", "compute_dtype", "{}"),
           ("params+optimizer GiB / device", "state_bytes", "{:.2f}", 1 / GIB),
           ("temp GiB / device", "temp_bytes", "{:.2f}", 1 / GIB),
           ("peak GiB / device", "peak_bytes", "{:.2f}", 1 / GIB))
FIT_COLUMNS = tuple((f"fits {g} GiB", f"fits_{g}", "{}") for g in CAPACITIES)  # yes / no
LAST_COLUMNS = (("TFLOPs / device / step", "flops_per_device", "{:.2f}", 1e-12),
                ("compile s", "compile_s", "{:.0f}"))
OUTPUT_FLAGS = ("--json", "--markdown", "--update_readme", "--readme", "--block")


def setting(text):
  """An argparse type: SHARDING/REMAT/DTYPE triples, comma-separated -> [(s, r, d)]."""
  out = []
  for item in (s.strip() for s in text.split(",") if s.strip()):
    parts = tuple(item.split("/"))
    if len(parts) != 3 or parts[0] not in SHARDING or parts[1] not in REMAT \
        or parts[2] not in DTYPE:
      raise argparse.ArgumentTypeError(
          f"setting {item!r}; valid: SHARDING/REMAT/DTYPE with SHARDING in "
          f"{', '.join(SHARDING)}, REMAT in {', '.join(REMAT)}, DTYPE in {', '.join(DTYPE)}, "
          f"e.g. fsdp/full/bfloat16")
    out.append(parts)
  if not out:
    raise argparse.ArgumentTypeError(f"settings {text!r}; valid: e.g. dp/none/float32")
  return out


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--workloads", type=csv("workloads", tuple(BATCH)),
                 default="lit_coco_B16B,clip_B32")
  p.add_argument("--devices", type=csv("devices", cast=device_count), default="8,64",
                 help="simulated device counts, each dividing every workload's batch")
  p.add_argument("--settings", type=setting, default=SETTINGS,
                 help="comma-separated SHARDING/REMAT/DTYPE, e.g. dp/none/float32,fsdp/full/"
                      "bfloat16")
  p.add_argument("--json", default=None, help="also write the rows to this JSON file")
  tables.add_readme_flags(p, "memory_fit", os.path.join(ROOT, "README.md"))
  p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # compiles rows.
  args = p.parse_args(argv)
  bad = [f"{w} (batch {BATCH[w]}) on {d}" for w in args.workloads for d in args.devices
         if BATCH[w] % d]
  if bad:
    p.error(f"the batch must split evenly over the devices: {'; '.join(bad)} does not; valid "
            f"device counts divide {', '.join(f'{w}: {BATCH[w]}' for w in args.workloads)}")
  return args


def rows_to_run(args):
  """[(workload, devices, (sharding, remat, dtype))]: workloads x devices x settings."""
  return list(itertools.product(args.workloads, args.devices, args.settings))


def child_command(workload, devices, settings):
  return [sys.executable, os.path.abspath(__file__), "--child", "--workloads", workload,
          "--devices", str(devices), "--settings", ",".join("/".join(s) for s in settings)]


def table(rows):
  """A Markdown table of the rows (a failed row shows its error)."""
  fits = lambda r: {f"fits_{g}": "yes" if r["peak_bytes"] <= g * GIB else "no"
                    for g in CAPACITIES} if r.get("peak_bytes") is not None else {}
  return tables.markdown_table([{**r, **fits(r)} for r in rows],
                               COLUMNS + FIT_COLUMNS + LAST_COLUMNS)


def markdown(rows, command, machine):
  """--markdown's text and README's block: the command, the machine, the table."""
  return f"`{command}` on {machine}:\n\n{table(rows)}\n"


def run_rows(workload, devices, settings):
  """The rows of one workload on one device count, compiled in one subprocess; a setting that
  did not finish is a row with its error."""
  env = dict(child_env(os.environ, devices), JAX_PLATFORMS="cpu")  # simulated devices are CPU's
  p = subprocess.run(child_command(workload, devices, settings), cwd=ROOT, env=env,
                     stdout=subprocess.PIPE, text=True)
  found = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
  rows = []
  for i, (sharding, remat, dtype) in enumerate(settings):
    if i < len(found):
      rows.append(found[i])
    else:  # its traceback went to stderr, above.
      rows.append({"workload": workload, "devices": devices, "sharding": sharding,
                   "remat": remat, "compute_dtype": dtype, "error": f"exit code {p.returncode}"})
  return rows


def run_child(args):
  """Compiles this process's rows, one JSON line each (XLA_FLAGS already set by the parent)."""
  from benchmarks import fit_workloads  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  (workload,), (devices,) = args.workloads, args.devices
  if jax.device_count() != devices:
    raise SystemExit(f"asked for {devices} devices, jax has {jax.device_count()} "
                     f"({jax.default_backend()}); host devices need the CPU backend.")
  for s in args.settings:
    print(json.dumps(fit_workloads.measure(workload, *s)), flush=True)


def main(argv=None):
  args = parse(argv)
  if args.child:
    return run_child(args)
  tables.check_readme_block(args)
  rows = []
  for (workload, devices), group in itertools.groupby(rows_to_run(args), lambda r: r[:2]):
    for row in run_rows(workload, devices, [s for _, _, s in group]):
      rows.append(row)
      print(json.dumps(row), flush=True)
  print(table(rows))
  argv = sys.argv[1:] if argv is None else argv
  text = markdown(rows, tables.shown_command("python benchmarks/memory_fit.py", argv,
                                             OUTPUT_FLAGS), tables.machine())
  tables.write_benchmark(args, text, rows)


if __name__ == "__main__":
  main()
