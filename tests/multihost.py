"""Several JAX processes on this machine joined into one runtime, as on a multi-host cluster.

`launch` starts a command (an experiment's command line) once per process with the
`--config.distributed.*` flags a multi-host launch passes (README, "Several hosts"), each process
with its own host CPU devices; the processes meet at a coordinator on a free localhost port.

Run as a module, this is an experiment's command line that trains in stages:

  python -m tests.multihost --config configs/fusion.py:tiny --workdir W --stages 2 \\
      --parallelism jit,pmap [--config.KEY=VALUE ...]

trains the fusion experiment into W/<parallelism> for each parallelism: with 2 stages, to half of
total_steps, then again to total_steps, which restores the first run's checkpoint as a rerun of a
stopped command does. One process does all of it, so the imports and the runtime's start-up
are paid once.
"""

import os
import re
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def env_with_devices(devices: int) -> dict:
  """This environment with `devices` host CPU devices per process (XLA reads the flag at start)."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", env.get("XLA_FLAGS", ""))
  env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
  return env


def start(argv, devices: int) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env_with_devices(devices),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def launch(argv, num_processes: int, devices: int) -> list:
  """Popen handles of `argv` run by `num_processes` processes of `devices` devices each, joined
  through the distributed flags."""
  port = free_port()
  return [start([*argv, "--config.distributed.enabled=True",
                 f"--config.distributed.coordinator_address=localhost:{port}",
                 f"--config.distributed.num_processes={num_processes}",
                 f"--config.distributed.process_id={i}"], devices)
          for i in range(num_processes)]


def wait(procs, timeout: float) -> list:
  """Every process's output once all exit with 0. When one fails or time runs out the others
  are killed (they would wait for it in their next collective) and all outputs are raised."""
  deadline = time.monotonic() + timeout
  while any(p.poll() is None for p in procs):
    failed = any(p.returncode not in (None, 0) for p in procs)
    if failed or time.monotonic() > deadline:
      for p in procs:
        if p.poll() is None:
          p.kill()
      break
    time.sleep(0.2)
  outs = [p.communicate()[0] for p in procs]
  if any(p.returncode != 0 for p in procs):
    raise RuntimeError("\n".join(f"--- process {i} (exit code {p.returncode}):\n{out[-3000:]}"
                                 for i, (p, out) in enumerate(zip(procs, outs))))
  return outs


def _staged_run(config, workdir):
  from absl import flags

  from experiments import fusion_classification
  f = flags.FLAGS
  for parallelism in f.parallelism:
    config.parallelism = parallelism
    total = config.total_steps
    for stage in range(1, f.stages + 1):
      config.total_steps = total * stage // f.stages
      fusion_classification.run(config, os.path.join(workdir, parallelism))
    config.total_steps = total


if __name__ == "__main__":
  from absl import flags

  from mmjax import experiment
  flags.DEFINE_integer("stages", 1, "Runs to total_steps in this many equal stages, each "
                       "restoring the previous one's checkpoint.")
  flags.DEFINE_list("parallelism", ["jit"], "config.parallelism of each run, in order.")
  experiment.main(_staged_run)
