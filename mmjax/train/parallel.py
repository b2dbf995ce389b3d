"""Device placement for the two ways mmjax compiles a train step.

jit:  one `Mesh` over every device with a single `data` axis (AxisType.Auto, so GSPMD propagates
      shardings). The batch is sharded on `data`; the state is replicated, or, with fsdp, each
      large array is split along one dimension over `data` (ZeRO-3 style) and the step gathers
      the params for use (step.make_train_step's gather_params): all before the forward pass,
      or, for layers under nn.scan, one layer at a time (`gather_shardings`).
pmap: the step takes the state stacked once per device and each batch with a leading device
      axis, as global arrays over `pmap_mesh` (jax.pmap's own call builds those from each
      process's part; the compiled step the trainer calls does not). For checkpoints, evaluation
      and the returned state it is replicated over every device, as under jit, so that every
      process can save and evaluate it.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from mmjax.models.transformer import SCANNED
from mmjax.train.config import check_distributed

DATA_AXIS = "data"
PMAP_AXIS = "batch"
FSDP_MIN_SIZE = 2 ** 14  # smaller arrays stay replicated: sharding them costs more than it saves.


def compiler_options(compute_dtype="float32") -> dict:
  """XLA options for compiling train steps in `compute_dtype` on this backend.

  On CPU, XLA's default (Eigen) dot kernels beat the experimental YNNPACK fusions for float32:
  the clip_tiny step ~15 % faster (jax 0.10.2; 2-core AVX2, and 59.2 against 51.7 examples/s on
  a 2-core AMX machine). For bfloat16 on a CPU with bf16 instructions YNNPACK is the faster
  (59.5 against 52.7 examples/s there, 2026-12-04), for its products alone: its reduction and
  elementwise fusions (XLA's default set) made LayerNorm's backward slower, and products only
  gave 98.5 against 88.3 examples/s (2026-12-05). Without bf16 instructions Eigen was faster for
  bfloat16 too. Measured with `benchmarks/train_throughput.py`. Per-executable, so nothing
  global changes.
  """
  if jax.default_backend() != "cpu":
    return {}
  if jnp.dtype(compute_dtype) != jnp.float32 and cpu_has_bf16():
    return {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}
  return {"xla_cpu_experimental_ynn_fusion_type": ""}


def cpu_has_bf16() -> bool:
  """Whether this CPU has bfloat16 instructions (avx512_bf16 or amx_bf16 in /proc/cpuinfo)."""
  try:
    with open("/proc/cpuinfo") as f:
      flags = next((line.split(":", 1)[1].split() for line in f
                    if line.startswith("flags")), [])
  except OSError:
    return False
  return "avx512_bf16" in flags or "amx_bf16" in flags


def make_mesh() -> Mesh:
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def fsdp_spec(shape, num_shards: int) -> P:
  """Shard the largest dimension divisible by `num_shards`; replicate small arrays."""
  if int(np.prod(shape, dtype=np.int64)) < FSDP_MIN_SIZE:
    return P()
  for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
    if shape[dim] % num_shards == 0:
      spec = [None] * len(shape)
      spec[dim] = DATA_AXIS
      return P(*spec)
  return P()


def state_shardings(abstract_state, mesh: Mesh, fsdp: bool):
  n = mesh.shape[DATA_AXIS]
  return jax.tree.map(
      lambda x: NamedSharding(mesh, fsdp_spec(x.shape, n) if fsdp else P()), abstract_state)


def gather_shardings(param_shardings, mesh: Mesh):
  """Where an FSDP step uses each param (step.make_train_step's gather_params): replicated,
  gathered once before the forward pass, except the layers an nn.scan stacks
  (transformer.Encoder with scan=True), which stay sharded here and are gathered one layer at a
  time inside the scan (transformer.gather_layer; ZeRO-3)."""
  whole = NamedSharding(mesh, P())
  return jax.tree_util.tree_map_with_path(
      lambda path, s: s if any(getattr(k, "key", None) == SCANNED for k in path) else whole,
      param_shardings)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def global_batch(local_batch, mesh: Mesh):
  """This process's numpy batch [local_batch, ...] -> global jax.Arrays sharded on `data`."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)


def pmap_mesh() -> Mesh:
  """Every device, process by process, as jax.pmap lays out its axis over several processes:
  each process's devices, and so its slice of the global batch, form one contiguous block."""
  devices = [d for p in range(jax.process_count()) for d in jax.local_devices(process_index=p)]
  return Mesh(np.array(devices), (PMAP_AXIS,))


def _build(shape, sharding, per_device):
  """A global array from per_device(device) -> this process's single-device piece."""
  devices = sharding.addressable_devices_indices_map(shape)
  return jax.make_array_from_single_device_arrays(shape, sharding, [per_device(d) for d in devices])


def replicate(tree):
  """A copy of every leaf per device, stacked on a leading device axis, as the pmap step takes
  the state. Leaves: host values, or arrays replicated over the devices (`unreplicate`'s)."""
  sharding = NamedSharding(pmap_mesh(), P(PMAP_AXIS))

  def stack(x):
    own = {s.device: s.data for s in x.addressable_shards} \
        if isinstance(x, jax.Array) and x.is_fully_replicated else {}
    return _build((jax.device_count(),) + np.shape(x), sharding,
                  lambda d: jax.device_put(own.get(d, x), d)[None])
  return jax.tree.map(stack, tree)


def unreplicate(tree):
  """[devices, ...] pmap outputs -> arrays replicated over every device (the jit layout), each
  device keeping its own copy: no transfer, and every process can save or evaluate them."""
  sharding = NamedSharding(pmap_mesh(), P())

  def first(x):
    rows = {s.device: s.data for s in x.addressable_shards}
    return _build(x.shape[1:], sharding, lambda d: rows[d][0])
  return jax.tree.map(first, tree)


def split_for_pmap(local_batch):
  """This process's numpy batch [local_batch, ...] -> global arrays [devices, local_batch /
  local_devices, ...], this process's rows on its own devices."""
  n, sharding = jax.local_device_count(), NamedSharding(pmap_mesh(), P(PMAP_AXIS))
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(
          sharding, x.reshape((n, x.shape[0] // n) + x.shape[1:]),
          (jax.device_count(), x.shape[0] // n) + x.shape[1:]),
      local_batch)


def host_local(tree):
  """This process's part of [devices, ...] pmap arrays, [local_devices, ...]: what jax.pmap's
  `lower` takes (it derives the global shapes itself)."""
  from jax.experimental import multihost_utils
  return multihost_utils.global_array_to_host_local_array(tree, pmap_mesh(), P(PMAP_AXIS))


def initialize_distributed(config) -> None:
  """Joins the multi-host runtime when `config.distributed.enabled`; a no-op otherwise.

  Must run before anything touches a device (experiment.main calls it first). With no address
  given, JAX reads the cluster environment (SLURM, Open MPI, TPU pods, Kubernetes). On CPU,
  cross-process collectives go through gloo: jax's default in the versions pyproject allows
  (>= 0.10.2), so nothing is set here."""
  d = config.distributed
  check_distributed(d)
  if not d.enabled:
    return
  kwargs = {k: d[k] for k in ("num_processes", "process_id") if d[k] != -1}
  jax.distributed.initialize(coordinator_address=d.coordinator_address or None, **kwargs)
