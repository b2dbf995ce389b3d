"""Keep freed host memory in the process, so XLA:CPU's per-step buffers do not page-fault.

XLA:CPU allocates each execution's temporaries as one block (2.2 GB for the clip_tiny step) with
malloc, on one of its worker threads. glibc serves a block that large from a fresh mmap, also when
asked not to (a thread's own arena falls back to mmap above 64 MB), and unmaps it when it is freed,
so every step faults in every page it touches again: 670,000 faults per clip_tiny step, a sixth of
its time in bfloat16. With one arena, no mmap and no trimming, a freed block stays in the heap for
the next step (a 12-step clip_tiny bf16 run's page faults: 8 M -> 1.4 M, including start-up).
Measured on clip_tiny (benchmarks/train_throughput.py, 2026-12-05): bfloat16 +15-20 % examples/s,
float32 +2-6 %. The cost is resident memory: the heap never shrinks, and blocks freed between steps
fragment it, so the clip_tiny step's peak RSS grows over its first ~30 steps and levels off at 5.4
GB in bfloat16 and 6-7.7 GB in float32, against ~3 GB with the default allocator. Hence the trainer
key keep_freed_host_memory: "auto" (the default) keeps freed memory for a low-precision compute
dtype only, "on" and "off" always and never.

glibc reads these settings when a thread first allocates, so `keep_freed_memory` must run before
jax starts its backend (experiment.main calls it first). It changes nothing for a GPU/TPU step,
whose buffers live on the device.
"""

import ctypes
import ctypes.util
import sys

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
SETTINGS = ("auto", "on", "off")  # the trainer key keep_freed_host_memory


def wanted(setting: str, compute_dtype: str) -> bool:
  """Whether keep_freed_host_memory=`setting` keeps freed memory for a run in `compute_dtype`."""
  if setting not in SETTINGS:
    raise ValueError(f"keep_freed_host_memory={setting!r}; valid: {', '.join(SETTINGS)}.")
  return setting == "on" or (setting == "auto" and compute_dtype != "float32")


def _backend_started() -> bool:
  if "jax" not in sys.modules:
    return False
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  return xla_bridge.backends_are_initialized()


def keep_freed_memory(enabled: bool = True) -> str:
  """Sets glibc's malloc to keep freed memory (one arena, no mmap, no trim) if `enabled`.
  Returns what was done: "applied", or why not ("off", "not glibc", "too late: jax's backend
  has started" -- it would then miss XLA's threads, so it does nothing)."""
  if not enabled:
    return "off"
  if not sys.platform.startswith("linux"):
    return "not glibc"
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    getattr(libc, "gnu_get_libc_version")  # noqa: B009  (glibc only; musl has no such symbol)
  except (OSError, AttributeError):
    return "not glibc"
  if _backend_started():
    return "too late: jax's backend has started"
  # -1 as M_TRIM_THRESHOLD means never trim (an int cannot hold a threshold above the 2.2 GB
  # block, and a smaller one would hand that block back after every step).
  ok = all(libc.mallopt(p, v) == 1 for p, v in ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0),
                                                  (M_TRIM_THRESHOLD, -1)))
  return "applied" if ok else "mallopt refused"
