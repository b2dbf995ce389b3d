"""Every test runs with 8 host CPU devices, so jit-over-a-mesh and pmap code is exercised for
real. XLA reads the flags once, when jax first initialises, hence they are set at import; the
experiments' smoke tests inherit them in their subprocesses.

The tests' tiny programs spend far more time compiling than running, so LLVM's optimisation
passes are turned off (about half the compile time; the numerics tests pass either way), XLA:CPU
emits its fusions with the older elemental emitter rather than the fusion emitters (each random
initialiser is a fusion: a ResNet's init compiles 15 % faster, the fusion, VQA and parallel
equivalence tests took 33 % less CPU time), and
JAX's persistent compilation cache is on, in a directory private to this test session: the
same programs recur across tests and their subprocesses (a run, its resumed rerun, its
eval-only rerun, a sweep's trials), and each is then compiled once (about 40 % less CPU time).
pytest-xdist's workers inherit the directory, because this file is imported by the controlling
process before it starts them."""

import atexit
import os
import shutil
import tempfile

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8"
                           " --xla_backend_optimization_level=0"
                           " --xla_cpu_use_fusion_emitters=false").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache = tempfile.mkdtemp(prefix="mmjax-tests-xla-cache-")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)
# Cache every program, however small or quick to compile (the defaults skip those).
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
