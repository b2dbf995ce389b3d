"""mmjax.train.host_memory: the allocator setting applies before jax starts, refuses after,
and the trainer key turns it off. Each case runs in a fresh interpreter, since glibc's
settings and jax's backend are per process."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(code):
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
  assert out.returncode == 0, out.stderr
  return out.stdout.strip().splitlines()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_applies_before_jax_starts_and_training_still_works():
  code = ("from mmjax.train import host_memory; print(host_memory.keep_freed_memory()); "
          "import jax, jax.numpy as jnp; "
          "print(float(jax.jit(lambda x: (x @ x).sum())(jnp.ones((300, 300)))))")
  assert _run(code) == ["applied", "27000000.0"]


def test_refuses_once_jax_has_started():
  code = ("import jax; jax.numpy.ones(1).block_until_ready(); "
          "from mmjax.train import host_memory; print(host_memory.keep_freed_memory())")
  assert _run(code) in (["too late: jax's backend has started"], ["not glibc"])


def test_the_trainer_key_chooses_by_compute_dtype():
  from mmjax import train
  from mmjax.registry import ConfigError
  from mmjax.train import host_memory
  assert train.defaults().keep_freed_host_memory == "auto"
  assert host_memory.wanted("auto", "bfloat16") and not host_memory.wanted("auto", "float32")
  assert host_memory.wanted("on", "float32") and not host_memory.wanted("off", "bfloat16")
  assert host_memory.keep_freed_memory(False) == "off"
  with pytest.raises(ConfigError, match="keep_freed_host_memory='yes'.*auto, on, off"):
    train.validate(train.defaults(keep_freed_host_memory="yes"))
