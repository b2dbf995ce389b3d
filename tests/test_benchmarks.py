"""benchmarks/train_throughput.py's argument handling and table, without timing anything: which
rows a command runs, in which environment each subprocess starts, and what the table shows."""

import pytest

from benchmarks import train_throughput as tt


def test_rows_are_the_product_minus_pmap_on_one_device():
  args = tt.parse(["--workloads", "clip_tiny,fusion", "--devices", "1,8", "--parallelism",
                   "jit,pmap"])
  assert tt.rows_to_run(args) == [("clip_tiny", 1, "jit"), ("clip_tiny", 8, "jit"),
                                  ("clip_tiny", 8, "pmap"), ("fusion", 1, "jit"),
                                  ("fusion", 8, "jit"), ("fusion", 8, "pmap")]
  # pmap on one device runs when it is the only parallelism asked for.
  assert tt.rows_to_run(tt.parse(["--workloads", "fusion", "--parallelism", "pmap"])) == [
      ("fusion", 1, "pmap")]


def test_defaults_and_the_older_flags_still_work():
  args = tt.parse([])
  assert tt.rows_to_run(args) == [("clip_tiny", 1, "jit"), ("clip_tiny_bf16", 1, "jit")]
  args = tt.parse(["--workloads", "clip_tiny", "--host_devices", "8", "--parallelism", "pmap",
                   "--trainer", "--no_breakdown", "--steps", "5"])
  assert tt.rows_to_run(args) == [("clip_tiny", 8, "pmap")]
  cmd = tt.child_command(args, "clip_tiny", 8, "pmap")
  assert cmd[cmd.index("--devices") + 1] == "8" and cmd[cmd.index("--steps") + 1] == "5"
  assert "--trainer" in cmd and "--no_breakdown" in cmd and "--child" in cmd


@pytest.mark.parametrize("argv,message", [
    (["--workloads", "clip_tiny,clip_huge"], "valid: a comma-separated list of clip_tiny"),
    (["--parallelism", "jit,shard_map"], "valid: a comma-separated list of jit, pmap"),
    (["--devices", "1,0"], "valid: integers >= 1"),
    (["--steps", "0"], "valid: steps >= 1"),
])
def test_bad_arguments_name_the_valid_choices(argv, message, capsys):
  with pytest.raises(SystemExit):
    tt.parse(argv)
  assert message in capsys.readouterr().err


def test_child_env_replaces_the_device_count():
  env = {"XLA_FLAGS": "--xla_cpu_foo=1 --xla_force_host_platform_device_count=8", "HOME": "/h"}
  out = tt.child_env(env, 1)
  assert out["XLA_FLAGS"].split() == ["--xla_cpu_foo=1",
                                      "--xla_force_host_platform_device_count=1"]
  assert out["HOME"] == "/h" and env["XLA_FLAGS"].endswith("=8")  # the parent's env untouched
  assert tt.child_env({}, 8)["XLA_FLAGS"] == "--xla_force_host_platform_device_count=8"


def test_table_has_a_line_per_row_and_marks_failures():
  ok = {"workload": "fusion", "compute_dtype": "float32", "devices": 8, "parallelism": "jit",
        "batch": 64, "examples_per_s": 123.456, "median_step_s": 0.5184, "compile_s": 3.21,
        "achieved_gflop_s": None, "peak_rss_mb": 812.4, "load_avg_1min": 2.04}
  failed = {"workload": "clip_tiny", "devices": 8, "parallelism": "pmap",
            "error": "exit code 1"}
  lines = tt.table([ok, failed]).splitlines()
  assert len(lines) == 4 and "trainer" not in lines[0]
  assert lines[2] == "| fusion | float32 | 8 | jit | 64 | 123.5 | 518 | 3.2 | - | 812 | 2.0 |"
  assert lines[3].startswith("| clip_tiny | - | 8 | pmap | -") and "failed: exit code 1" in lines[3]
  with_trainer = tt.table([dict(ok, trainer_examples_per_s=120.0, trainer_overhead=0.029)])
  assert "trainer overhead" in with_trainer and "| 120.0 | +2.9% | 2.0 |" in with_trainer


def test_workload_names_match_the_workloads_module():
  from benchmarks import train_workloads  # imports jax: the parent process never does.
  assert tuple(train_workloads.WORKLOADS) == tt.WORKLOADS
