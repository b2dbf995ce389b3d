"""Device placement for the two ways mmjax compiles a train step.

jit:  one `Mesh` over every device with a single `data` axis (AxisType.Auto, so GSPMD propagates
      shardings). The batch is sharded on `data`; the state is replicated, or, with fsdp, each
      large array is split along one dimension over `data` (ZeRO-3 style).
pmap: the state is stacked once per local device; each batch gets a leading device axis.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"
PMAP_AXIS = "batch"
FSDP_MIN_SIZE = 2 ** 14  # smaller arrays stay replicated: sharding them costs more than it saves.


def compiler_options() -> dict:
  """XLA options for compiling train steps on this backend.

  On CPU, routing dots through XLA's default (Eigen) kernels instead of the experimental YNNPACK
  fusions made the clip_tiny step ~15% faster in float32 and bfloat16 (jax 0.10.2, 2-core AVX2;
  see benchmarks/train_throughput.py). Per-executable, so nothing global changes.
  """
  if jax.default_backend() == "cpu":
    return {"xla_cpu_experimental_ynn_fusion_type": ""}
  return {}


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


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def global_batch(local_batch, mesh: Mesh):
  """This process's numpy batch [local_batch, ...] -> global jax.Arrays sharded on `data`."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)


def _pmap_sharding():
  mesh = Mesh(np.array(jax.local_devices()), (PMAP_AXIS,))
  return NamedSharding(mesh, P(PMAP_AXIS))


def replicate(tree):
  """Stack a copy of every leaf per local device, as jax.pmap expects."""
  n, sharding = jax.local_device_count(), _pmap_sharding()
  return jax.tree.map(lambda x: jax.device_put(jnp.stack([jnp.asarray(x)] * n), sharding), tree)


def unreplicate(tree):
  return jax.tree.map(lambda x: x[0], tree)


def split_for_pmap(local_batch):
  """[local_batch, ...] numpy -> [local_devices, local_batch / local_devices, ...] on devices."""
  n, sharding = jax.local_device_count(), _pmap_sharding()
  return jax.tree.map(
      lambda x: jax.device_put(x.reshape((n, x.shape[0] // n) + x.shape[1:]), sharding),
      local_batch)


def initialize_distributed(config) -> None:
  """Joins the multi-host runtime when `config.distributed.enabled`; a no-op otherwise.

  Must run before anything touches a device. With no address given, JAX reads the cluster
  environment (SLURM, Open MPI, TPU pods, Kubernetes)."""
  d = config.distributed
  if not d.enabled:
    return
  kwargs = {}
  if d.coordinator_address:
    kwargs = dict(coordinator_address=d.coordinator_address, num_processes=d.num_processes,
                  process_id=d.process_id)
  jax.distributed.initialize(**kwargs)
