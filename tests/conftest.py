"""Every test runs with 8 host CPU devices, so jit-over-a-mesh and pmap code is exercised for
real. XLA reads the flags once, when jax first initialises, hence they are set at import; the
experiments' smoke tests inherit them in their subprocesses.

The tests' tiny programs spend far more time compiling than running, so LLVM's optimisation
passes are turned off (about half the compile time; the numerics tests pass either way)."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8"
                           " --xla_backend_optimization_level=0").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
