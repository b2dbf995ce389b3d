"""Every test runs with 8 host CPU devices, so jit-over-a-mesh and pmap code is exercised for
real. XLA reads the flag once, when jax first initialises, hence this is set at import."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
