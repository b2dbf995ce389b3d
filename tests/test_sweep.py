"""python -m mmjax.sweep: spec expansion (grid x seeds, seeded random search, bad keys named before
anything runs), a real 2-trial sweep of the fusion experiment that resumes, a crashing trial
recorded while the others finish, signals passed on to trials, and the summary's numerics on
hand-made results. Stand-in experiments (plain Python, no JAX) keep the runner tests fast."""

import csv
import inspect
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import ml_collections
import numpy as np
import pytest

from mmjax.sweep import aggregate, runner
from mmjax.sweep.__main__ import main
from mmjax.sweep.spec import Sweep, SweepError, expand

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_config(arg=""):
  c = ml_collections.ConfigDict(dict(seed=0, lr=0.1, crash_seed=-1, wait_for_signal=False,
                                     model=dict(width=8, depth=1), text=dict(width=4),
                                     progress_bar=True))
  if arg not in ("", "big"):
    raise ValueError(f"Unknown preset {arg!r}; valid: '' (default), big.")
  if arg == "big":
    c.model.width = 64
  c.lock()
  return c


# A stand-in experiment: results.json from its config; exits 3 on crash_seed; with
# wait_for_signal it waits for SIGTERM and exits 143 as the trainer does after checkpointing.
EXPERIMENT = '''
import json, os, signal, sys, time
from absl import app, flags
from ml_collections import config_flags
config_flags.DEFINE_config_file("config", None, "")
flags.DEFINE_string("workdir", None, "")

def main(_):
  c, workdir = flags.FLAGS.config, flags.FLAGS.workdir
  os.makedirs(workdir, exist_ok=True)
  if c.seed == c.crash_seed:
    print("boom: seed", c.seed, file=sys.stderr)
    sys.exit(3)
  if c.wait_for_signal:
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    print("ready", flush=True)
    time.sleep(60)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump({"accuracy": c.lr * 10 + c.seed, "nested": {"loss": -c.seed},
               "confusion": [[1]], "task": "fake", "progress_bar": c.progress_bar}, f)

app.run(main)
'''


def project(tmp_path, sweep: dict) -> str:
  """A folder with configs/fake.py (fake_config + get_sweep returning `sweep`) and
  experiments/fake.py; returns the config file's path."""
  root = tmp_path / "proj"
  (root / "configs").mkdir(parents=True)
  (root / "experiments").mkdir()
  (root / "experiments" / "fake.py").write_text(EXPERIMENT)
  body = textwrap.dedent(inspect.getsource(fake_config))
  (root / "configs" / "fake.py").write_text(
      f"import ml_collections\n\n{body}\nget_config = fake_config\n\n\n"
      f"def get_sweep(arg=''):\n  return {sweep!r}\n")
  return str(root / "configs" / "fake.py")


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_grid_times_seeds_in_seed_major_order_with_stable_names():
  spec = dict(grid={"preset": ("", "big"), "model.width": (8, 16), "text.width": (4,)},
              seeds=(0, 1), overrides={"lr": 0.5})
  trials, axes, labels, swept = expand(spec, fake_config)
  assert len(trials) == 2 * 2 * 1 * 2 and [t.index for t in trials] == list(range(8))
  assert [t.values["seed"] for t in trials] == [0] * 4 + [1] * 4  # every variant's seed 0 first
  assert axes == ("preset", "model.width", "text.width", "seed")
  # Both widths end in "width", so each keeps the part that tells them apart.
  assert trials[0].name == "preset=default,model.width=8,text.width=4,seed=0"
  assert trials[7].name == "preset=big,model.width=16,text.width=4,seed=1"
  assert trials[7].preset == "big" and trials[0].preset == ""
  assert trials[7].overrides == {"lr": 0.5, "model.width": 16, "text.width": 4, "seed": 1,
                                 "progress_bar": False}
  assert swept == {"model.width", "text.width", "seed"}
  sweep = Sweep("/p/configs/fake.py", "", "/p/experiments/fake.py", "/p", trials, axes, labels,
                (), (), None, swept, fake_config)
  cmd = runner.command(sweep, trials[7], "/w", {"eval.n": "3"})
  assert cmd[1:4] == ["/p/experiments/fake.py", "--config", "/p/configs/fake.py:big"]
  assert "--config.model.width=16" in cmd and "--config.eval.n=3" in cmd
  assert cmd[-2:] == ["--workdir", "/w/preset=big,model.width=16,text.width=4,seed=1"]
  assert runner.command(sweep, trials[0], "/w", {})[3] == "/p/configs/fake.py"  # no ':'


def test_random_search_is_seeded_reproducible_and_names_the_values():
  space = {"lr": ("loguniform", 1e-4, 1e-1), "model.width": ("int", 8, 12),
           "model.depth": ("choice", (1, 2, 3))}
  spec = dict(grid={"preset": ("", "big")}, random=dict(num_trials=6, seed=3, space=space))
  trials = expand(spec, fake_config)[0]
  assert len(trials) == 2 * 6
  assert trials == expand(spec, fake_config)[0]
  other = expand(dict(spec, random=dict(num_trials=6, seed=4, space=space)), fake_config)[0]
  assert [t.values for t in other] != [t.values for t in trials]
  lrs = [t.values["lr"] for t in trials[:6]]
  assert all(1e-4 <= lr <= 1e-1 and float(f"{lr:.4g}") == lr for lr in lrs)
  assert len(set(lrs)) == 6 and len({t.values["model.width"] for t in trials}) > 1
  assert all(8 <= t.values["model.width"] <= 12 and t.values["model.depth"] in (1, 2, 3)
             for t in trials)
  t = trials[0]
  assert t.name == (f"preset=default,lr={t.values['lr']:g},width={t.values['model.width']},"
                    f"depth={t.values['model.depth']}")


@pytest.mark.parametrize("spec,match", [
    (dict(grid={"model.widht": (8,)}),
     r"Unknown config key 'model.widht'; valid under 'model': depth, width.*"
     r"Did you mean \"model.width\""),
    (dict(grid={"depth": (1,)}), r"'depth'; valid: crash_seed, lr, model.*\"model.depth\""),
    (dict(grid={"lr.x": (1,)}), r"'lr' is a value, not a section"),
    (dict(grid={"model.width": ("wide",)}), r"model.width='wide' does not fit the config"),
    (dict(grid={"preset": ("huge",)}), r"preset 'huge' fails in get_config: .*valid: ''"),
    (dict(seeds=(0,), overrides={"seed": 1}), r"'seed' is both swept and in overrides"),
    (dict(grid={"lr": (1,)}, metric=("a",)), r"unknown field\(s\) \['metric'\]; valid: "),
    (dict(random=dict(num_trials=2, space={"lr": ("normal", 0, 1)})), r"valid: \('uniform'"),
])
def test_bad_sweep_specs_are_named(spec, match):
  with pytest.raises(SweepError, match=match):
    expand(spec, fake_config)


def test_bad_keys_fail_before_anything_runs(tmp_path, capsys):
  workdir = tmp_path / "sweep"
  config = project(tmp_path, dict(experiment="experiments/fake.py",
                                  grid={"model.widht": (8, 16)}))
  assert main(["--config", config, "--workdir", str(workdir)]) == 2
  assert "Unknown config key 'model.widht'" in capsys.readouterr().err
  config = project(tmp_path / "b", dict(experiment="experiments/fake.py", seeds=(0,)))
  assert main(["--config", config, "--workdir", str(workdir), "--overrides", "l=3"]) == 2
  assert "--overrides: Unknown config key 'l'" in capsys.readouterr().err
  assert main(["--config", config, "--workdir", str(workdir), "--overrides", "seed=3"]) == 2
  assert "the sweep varies it" in capsys.readouterr().err
  assert not workdir.exists()


def test_fusion_tiny_sweep_runs_then_resumes_skipping_done_trials(tmp_path, capsys,
                                                                 monkeypatch):
  # The trials inherit this: one device, and XLA's lowest optimisation level, which halves
  # their compile time (the tests' time budget) and computes the same functions.
  monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0")
  args = ["--config", os.path.join(ROOT, "configs/fusion.py:tiny"), "--workdir", str(tmp_path),
          "--parallel", "2"]
  assert main(args) == 0, capsys.readouterr()
  names = ["preset=tiny,fusion=concat_late,seed=0", "preset=tiny,fusion=gated,seed=0"]
  rows = read_csv(tmp_path / "summary.csv")
  assert [r["trial"] for r in rows] == names and {r["status"] for r in rows} == {"done"}
  for r in rows:
    results = json.load(open(tmp_path / r["trial"] / "results.json"))
    assert results["fusion"] == r["fusion"] and results["step"] == 3  # the spec's overrides
    assert results["modalities"] == ["image", "text"] and results["num_test_examples"] == 16
    assert float(r["accuracy"]) == results["accuracy"]
  summary = (tmp_path / "summary.md").read_text()
  assert "| preset | fusion | seeds | accuracy | macro_f1 |" in summary
  assert (tmp_path / "plots" / "accuracy_vs_fusion.png").stat().st_size > 1000
  log = (tmp_path / "trials.jsonl").read_text().splitlines()
  assert sorted(json.loads(l)["status"] for l in log) == ["ok", "ok"]
  mtimes = [os.path.getmtime(tmp_path / n / "results.json") for n in names]
  capsys.readouterr()
  assert main(args) == 0
  assert "2 trial(s) already done" in capsys.readouterr().out
  assert len((tmp_path / "trials.jsonl").read_text().splitlines()) == 2  # nothing re-ran
  assert [os.path.getmtime(tmp_path / n / "results.json") for n in names] == mtimes


def test_crashing_trial_is_recorded_while_the_others_finish(tmp_path, capsys):
  config = project(tmp_path, dict(experiment="experiments/fake.py", grid={"lr": (0.1,)},
                                  seeds=(0, 1, 2), overrides={"crash_seed": 1}))
  workdir = tmp_path / "sweep"
  args = ["--config", config, "--workdir", str(workdir), "--parallel", "2"]
  assert main(args) == 1
  bad = workdir / "lr=0.1,seed=1"
  error = (bad / "error.txt").read_text()
  assert error.startswith("exit code 3 after") and "boom: seed 1" in error
  record = [json.loads(l) for l in open(workdir / "trials.jsonl") if "seed=1" in l][0]
  assert record["status"] == "failed" and record["returncode"] == 3
  assert "boom: seed 1" in record["stderr_tail"]
  results = json.load(open(workdir / "lr=0.1,seed=2" / "results.json"))
  assert results["accuracy"] == pytest.approx(3.0) and results["progress_bar"] is False
  statuses = {r["trial"]: r["status"] for r in read_csv(workdir / "summary.csv")}
  assert statuses == {"lr=0.1,seed=0": "done", "lr=0.1,seed=1": "failed",
                      "lr=0.1,seed=2": "done"}
  assert "Failed (see <trial>/error.txt): lr=0.1,seed=1" in (workdir / "summary.md").read_text()
  # An interrupted trial (started, no results.json) and the failed one run again; done ones not.
  os.remove(workdir / "lr=0.1,seed=2" / "results.json")
  capsys.readouterr()
  assert main(args + ["--list"]) == 0
  assert capsys.readouterr().out.split("\n")[:3] == [
      "0\tdone\tlr=0.1,seed=0", "1\tfailed\tlr=0.1,seed=1", "2\tincomplete\tlr=0.1,seed=2"]
  assert main(args) == 1
  log = [json.loads(l) for l in open(workdir / "trials.jsonl")]
  assert sorted((r["name"], r["status"]) for r in log[3:]) == [("lr=0.1,seed=1", "failed"),
                                                              ("lr=0.1,seed=2", "ok")]
  # One trial alone (a SLURM array task) succeeds; other settings in this workdir are refused.
  assert main(args + ["--trial_index", "2"]) == 0
  assert main(args + ["--overrides", "model.width=9"]) == 2
  assert "was made with other settings" in capsys.readouterr().err


def test_sigterm_is_passed_on_and_the_trial_is_left_to_resume(tmp_path):
  config = project(tmp_path, dict(experiment="experiments/fake.py", seeds=(0,),
                                  overrides={"wait_for_signal": True}))
  workdir = tmp_path / "sweep"
  proc = subprocess.Popen([sys.executable, "-m", "mmjax.sweep", "--config", config,
                           "--workdir", str(workdir)], stdout=subprocess.PIPE, text=True,
                          stderr=subprocess.STDOUT)
  stdout = workdir / "seed=0" / "stdout.txt"
  deadline = time.monotonic() + 60
  while not (stdout.exists() and "ready" in stdout.read_text()):
    assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=60)
  assert proc.returncode == 128 + signal.SIGTERM, out
  [record] = [json.loads(l) for l in open(workdir / "trials.jsonl")]
  assert record["status"] == "interrupted" and record["returncode"] == 143
  assert not (workdir / "seed=0" / "error.txt").exists()  # not a failure: it resumes


def test_summary_numerics_on_hand_made_results(tmp_path):
  spec = dict(grid={"preset": ("", "big"), "model.width": (8, 16)}, seeds=(0, 1, 2),
              metrics=("accuracy", "loss"), minimize=("loss",), tables_by="preset")
  trials, axes, labels, swept = expand(spec, fake_config)
  sweep = Sweep(str(tmp_path / "c.py"), "", "", str(tmp_path), trials, axes, labels,
                spec["metrics"], spec["minimize"], "preset", swept, fake_config)
  accuracy = {("", 8): [0.5, 0.7, 0.9], ("", 16): [0.6, 0.6, 0.6], ("big", 8): [0.2, 0.4],
              ("big", 16): [0.3, 0.35, 0.4]}
  for t in trials:
    key, seed = (t.preset, t.values["model.width"]), t.values["seed"]
    os.makedirs(tmp_path / t.name)
    if seed < len(accuracy[key]):  # big,8 seed 2 never ran
      with open(tmp_path / t.name / "results.json", "w") as f:
        json.dump({"accuracy": accuracy[key][seed], "loss": 1 - accuracy[key][seed],
                   "per_class": {"f1": [0.1]}}, f)
  paths = aggregate.aggregate(sweep, str(tmp_path))
  rows = read_csv(paths["csv"])
  assert list(rows[0]) == ["trial", "status", "preset", "width", "seed", "accuracy", "loss"]
  assert [r["status"] for r in rows].count("pending") == 1 and len(rows) == 12
  assert {float(r["accuracy"]) for r in rows if r["width"] == "8" and r["preset"] == "default"
          } == {0.5, 0.7, 0.9}
  md = open(paths["md"]).read()
  assert "Sweep `c.py`: 11 of 12 trials done, 1 pending." in md
  # Mean and sample std (n-1) by hand: [.5, .7, .9] -> .7 ± .2; [.6] * 3 -> .6 ± 0; the best
  # accuracy (highest) and loss (lowest) in bold within each preset's table.
  default = md[md.index("**preset = default**"):md.index("**preset = big**")]
  assert "| 8 | 3 | **0.700 ± 0.200** | **0.300 ± 0.200** |" in default
  assert "| 16 | 3 | 0.600 ± 0.000 | 0.400 ± 0.000 |" in default
  big = md[md.index("**preset = big**"):]
  assert "| 8 | 2 | 0.300 ± 0.141 | 0.700 ± 0.141 |" in big
  assert "| 16 | 3 | **0.350 ± 0.050** | **0.650 ± 0.050** |" in big
  g = aggregate.group([{"status": "done", "k": "a", "m": x} for x in (1.0, 2.0, 6.0)] +
                      [{"status": "done", "k": "b", "m": 3.0}], ["k"], ["m"])
  assert g[0]["n"] == 3 and g[0]["m"] == (pytest.approx(3.0), pytest.approx(np.sqrt(7.0)))
  assert np.isnan(g[1]["m"][1])
  assert aggregate.best(g, "m") == {0, 1} and aggregate.best(g, "m", minimize=True) == {0, 1}
  assert sorted(os.path.basename(p) for p in paths["plots"]) == [
      "accuracy_vs_preset.png", "accuracy_vs_width.png", "loss_vs_preset.png",
      "loss_vs_width.png"]


def test_trials_share_a_bounded_compilation_cache_in_the_sweep_workdir(tmp_path, monkeypatch):
  monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
  monkeypatch.delenv("JAX_COMPILATION_CACHE_MAX_SIZE", raising=False)
  env = runner.child_env(str(tmp_path))
  assert env["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "xla_cache")
  assert int(env["JAX_COMPILATION_CACHE_MAX_SIZE"]) == runner.CACHE_MAX_BYTES  # lock on
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/elsewhere")  # the user's choice stays
  assert runner.child_env(str(tmp_path))["JAX_COMPILATION_CACHE_DIR"] == "/elsewhere"
  assert "JAX_COMPILATION_CACHE_MAX_SIZE" not in runner.child_env(str(tmp_path))
