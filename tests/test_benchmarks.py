"""benchmarks/train_throughput.py's argument handling and table, without timing anything: which
rows a command runs, in which environment each subprocess starts, and what the table shows; the
block each benchmark writes into README (from fake measurements) and README's markers."""

import os
import re

import pytest

from benchmarks import train_throughput as tt
from mmjax.reproduce import tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every block of README that a command writes: its markers must be there once each.
README_BLOCKS = ("reproduce:results", "reproduce:real_data", "benchmark:train_throughput",
                 "benchmark:train_throughput_devices", "benchmark:data_throughput",
                 "benchmark:data_throughput_f8k", "benchmark:memory_fit",
                 "benchmark:memory_fit_256", "evaluation:fusion_classification",
                 "benchmark:video_encoders", "benchmark:elementwise_codegen", "profile")


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
  assert lines[2] == ("| fusion | float32 | 8 | jit | 64 | 123.5 | 518 | 3.2 | - | - | - | 812 "
                      "| 2.0 |")
  with_ceiling = tt.table([dict(ok, achieved_gflop_s=110.0, dot_ceiling_gflop_s=1518.8,
                                ceiling_fraction=0.0724)])
  assert "| 110.0 | 1519 | 7% | 812 |" in with_ceiling
  assert lines[3].startswith("| clip_tiny | - | 8 | pmap | -") and "failed: exit code 1" in lines[3]
  with_trainer = tt.table([dict(ok, trainer_examples_per_s=120.0, trainer_overhead=0.029)])
  assert "trainer overhead" in with_trainer and "| 120.0 | +2.9% | 2.0 |" in with_trainer


def test_workload_names_match_the_workloads_module():
  from benchmarks import train_workloads  # imports jax: the parent process never does.
  assert tuple(train_workloads.WORKLOADS) == tt.WORKLOADS


FAKE_ROW = {"workload": "clip_tiny", "compute_dtype": "float32", "batch": 128,
            "examples_per_s": 30.0, "median_step_s": 4.2667, "compile_s": 10.5,
            "achieved_gflop_s": 110.0, "peak_rss_mb": 2700.0, "load_avg_1min": 3.0}


def fake_readme(tmp_path, name):
  path = tmp_path / "README.md"
  begin, end = tables.markers(name)
  path.write_text(f"# t\n\nrun this:\n\n{begin}\nold\n{end}\n\nafter\n")
  return str(path)


def test_train_throughput_writes_into_readme_exactly_its_markdown(tmp_path, monkeypatch):
  monkeypatch.setattr(tt, "run_row", lambda args, w, d, p: dict(
      FAKE_ROW, workload=w, devices=d, parallelism=p))
  readme, md = fake_readme(tmp_path, "benchmark:bench"), str(tmp_path / "bench.md")
  tt.main(["--workloads", "clip_tiny,fusion", "--devices", "1,8", "--steps", "2",
           "--markdown", md, "--update_readme", "--readme", readme, "--block", "bench"])
  text = open(md).read()
  assert tables.current_block(open(readme).read(), *tables.markers("benchmark:bench")) == \
      text.strip()
  # What was measured, without where it was written; then the machine; then the table.
  first = text.splitlines()[0]
  assert first.startswith("`python benchmarks/train_throughput.py --workloads clip_tiny,fusion "
                          "--devices 1,8 --steps 2` on ") and " cores, " in first
  assert text.count("\n| clip_tiny |") == 2 and "| fusion | float32 | 8 | jit |" in text
  assert open(readme).read().endswith("\n\nafter\n")  # the rest of README untouched


def test_train_throughput_peer_columns_and_missing_markers(tmp_path, monkeypatch):
  monkeypatch.setattr(tt, "run_row", lambda args, w, d, p: dict(
      FAKE_ROW, workload=w, devices=d, parallelism=p))
  peer = tmp_path / "peer.jsonl"
  peer.write_text('workload tiny: batch 128\n{"workload": "tiny", "precision": "fp32", '
                  '"examples_per_s": 40.0, "peak_rss_mb": 2800.0}\n')
  md = str(tmp_path / "bench.md")
  tt.main(["--workloads", "clip_tiny,clip_tiny_bf16", "--peer", str(peer), "--markdown", md])
  lines = open(md).read().splitlines()
  assert "--peer" in lines[0] and "| open_clip examples/s | open_clip peak RSS MB | " \
      "mmjax / open_clip | load |" in lines[2]
  assert lines[4].endswith("| 128 | 30.0 | 4267 | 10.5 | 110.0 | - | - | 2700 | 40.0 | 2800 "
                           "| 0.75 | 3.0 |")
  # no bf16 peer line: no ratio
  assert lines[5].endswith("| 110.0 | - | - | 2700 | - | - | - | 3.0 |")
  with pytest.raises(ValueError, match="benchmark:train_throughput:begin"):
    tt.main(["--update_readme", "--readme", fake_readme(tmp_path, "benchmark:other")])


def test_data_throughput_writes_into_readme_exactly_its_markdown(tmp_path, monkeypatch):
  from benchmarks import data_throughput as dt
  row = {"source": "shapes", "mock_data": False, "batch": 128, "batches": 5,
         "examples_per_s": 900.4, "seconds": 0.7, "cores_busy": 0.7, "examples_per_cpu_s": 1250.0,
         "setup_s": 0.4, "x_clip_tiny_step": 30.01, "load_avg_1min": 2.5}
  monkeypatch.setattr(dt, "measure", lambda name, build, args, workers: dict(
      row, source=name, workers=workers))
  readme, md = fake_readme(tmp_path, "benchmark:data"), str(tmp_path / "data.md")
  dt.main(["--sources", "shapes,manifest", "--workers", "1,2", "--markdown", md,
           "--update_readme", "--readme", readme, "--block", "data"])
  text = open(md).read()
  assert tables.current_block(open(readme).read(), *tables.markers("benchmark:data")) == \
      text.strip()
  assert text.startswith("`python benchmarks/data_throughput.py --sources shapes,manifest "
                         "--workers 1,2` on ")
  assert "| shapes | no | 2 | 900 | 30.0 | 0.8 | 0.70 | 0.4 | 2.5 |" in text
  assert text.count("| manifest |") == 2


def test_readme_has_each_block_once_and_no_stray_markers():
  readme = open(os.path.join(ROOT, "README.md")).read()
  for name in README_BLOCKS:
    begin, end = tables.markers(name)
    assert readme.count(begin) == readme.count(end) == 1, name
    assert tables.current_block(readme, begin, end), f"{name}: empty block"
  names = set(re.findall(r"<!-- (\S+):(?:begin|end) -->", readme))
  assert names == set(README_BLOCKS)


def test_shown_commands_put_no_machine_path_into_readme():
  shown = tables.shown_command("python b.py", ["--manifest_dir", "/home/me/f8k", "--workers=1,2",
                                               "--update_readme", "--markdown", "out.md"],
                               ("--update_readme", "--markdown"),
                               placeholders={"--manifest_dir": "DIR"})
  assert shown == "python b.py --manifest_dir DIR --workers=1,2"
  assert tables.shown_command("p", ["--manifest_dir=/x"], (), placeholders={
      "--manifest_dir": "DIR"}) == "p --manifest_dir=DIR"
  readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "README.md")).read()
  assert "/work/" not in readme and "/home/" not in readme
