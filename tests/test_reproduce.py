"""python -m mmjax.reproduce: the targets cover the README's results rows, the tolerance check,
the README block replacement, skip / resume / sweep handling with fake commands, and one real
`--cheap` target."""

import json
import os

import pytest

from mmjax.reproduce import TARGETS, Metric, Row, Run, Sweep, cli, tables
from mmjax.sweep.spec import load_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()

# A fake experiment: results.json from `--config.<metric>=<value>` flags; `crash_first` makes
# the first attempt fail, as an interrupted run would.
FAKE_EXPERIMENT = """
import json, os, sys
args = sys.argv[1:]
workdir = args[args.index("--workdir") + 1]
flags = dict(a[len("--config."):].split("=", 1) for a in args if a.startswith("--config."))
os.makedirs(workdir, exist_ok=True)
with open(os.path.join(workdir, "calls.txt"), "a") as f:
  f.write(args[args.index("--config") + 1] + "\\n")
if "crash_first" in flags and not os.path.exists(os.path.join(workdir, "crashed")):
  open(os.path.join(workdir, "crashed"), "w").close()
  print("simulated crash"); sys.exit(3)
json.dump({"accuracy": float(flags["acc"]) + 0.01 * int(flags.get("seed", 0)),
           "nested": {"chance": 0.25}},
          open(os.path.join(workdir, "results.json"), "w"))
"""
# A fake `python -m mmjax.sweep`: the contract is exit 0, summary.csv and summary.md.
FAKE_SWEEP = """
import os, sys
args = sys.argv[1:]
workdir, config = args[args.index("--workdir") + 1], args[args.index("--config") + 1]
os.makedirs(workdir, exist_ok=True)
open(os.path.join(workdir, "summary.csv"), "w").write("lr,accuracy\\n0.1,0.5\\n")
open(os.path.join(workdir, "summary.md"), "w").write(
    "| lr | seeds | accuracy |\\n|---|---|---|\\n| 0.1 | 3 | 0.5 ± 0.1 |\\n\\n"
    f"(config {config})\\n")
"""


def fake_row(script, seeds=(0,)):
  return Row("fake", "fake experiment", "`python fake.py`",
             runs=(Run("main", script, "fake.py", {"acc": "0.9"}),
                   Run("baseline", script, "fake.py", {"acc": "0.5", "crash_first": "1"},
                       cheap_overrides={"acc": "0.1"})),
             result="acc {acc} / {base} (chance {chance})",
             metrics=dict(acc=Metric("main", "accuracy", tol=0.05),
                          base=Metric("baseline", "accuracy", tol=0.05),
                          chance=Metric("main", "nested.chance", ".3g", tol=None)),
             seeds=seeds)


ROWS = [t for t in TARGETS if isinstance(t, Row)]


@pytest.mark.parametrize("row", ROWS, ids=lambda t: t.name)
def test_every_readme_results_row_is_a_target_and_renders_back_exactly(row):
  cells = tables.readme_cells(README, row.experiment)
  assert cells is not None and len(cells) == 4, row.experiment
  assert cells[1] == row.command
  expected = row.parse(cells[2])
  assert expected is not None, (cells[2], row.result)
  values = {k: (float(mean), float(std or 0), len(row.seeds) if std else 1)
            for k, (mean, std) in expected.items()}
  assert row.render(values) == cells[2]


def test_targets_cover_every_row_of_the_readme_results_table():
  after = README.split("## Results")[1].split(tables.HEADER + "\n")[1].splitlines()
  rows = after[:next(i for i, line in enumerate(after) if not line.startswith("|"))]
  assert sorted(r.split(" | ")[0][2:] for r in rows) == sorted(t.experiment for t in ROWS)


@pytest.mark.parametrize("sweep", [t for t in TARGETS if isinstance(t, Sweep)],
                         ids=lambda t: t.name)
def test_sweep_targets_name_sweeps_that_load(sweep):
  for config in (sweep.config, sweep.cheap_config):
    assert load_sweep(os.path.join(ROOT, config)).trials, config


def test_check_passes_within_tolerance_and_names_each_mismatch():
  row = fake_row("fake.py")
  readme = "| fake experiment | `python fake.py` | acc 0.900 / 0.500 (chance 0.25) | 1 s |\n"
  ok = {"main_s0": {"accuracy": 0.93, "nested": {"chance": 0.3}},
        "baseline_s0": {"accuracy": 0.5504}}
  # 0.5504 - 0.5 is past the 0.05 tolerance but within the README's rounding (0.0005); the
  # chance (tol=None) is shown, not checked.
  assert tables.check([row], ok, readme) == []
  bad = {"main_s0": {"accuracy": 0.84}, "baseline_s0": {"accuracy": 0.5}}
  problems = tables.check([row], bad, readme)
  assert len(problems) == 2
  assert "has no field 'nested.chance'" in problems[0]  # missing, though unchecked: an error
  assert problems[1] == ("fake: acc (main accuracy): expected 0.900 (README), got 0.840 (0.84, 1 "
                         "seed(s)), tolerance 0.05 (a hand-set single-seed margin)")
  assert "no results.json" in tables.check([row], {"main_s0": ok["main_s0"]}, readme)[0]
  assert "has no results row" in tables.check([row], ok, "# empty\n")[0]
  drifted = readme.replace("acc 0.900 /", "accuracy 0.900 /")
  assert "does not match the template" in tables.check([row], ok, drifted)[0]


def test_row_declarations_are_validated():
  with pytest.raises(ValueError, match=r"placeholders \['a'\] must be the metrics \['b'\]"):
    Row("x", "x", "x", runs=(Run("r", "s.py", "c.py"),), result="{a}",
        metrics=dict(b=Metric("r", "f")))
  with pytest.raises(ValueError, match="reads run 'other'; valid: r"):
    Row("x", "x", "x", runs=(Run("r", "s.py", "c.py"),), result="{a}",
        metrics=dict(a=Metric("other", "f")))


def test_readme_block_replacement():
  readme = f"# t\n\nintro\n{tables.BEGIN}\nold table\n{tables.END}\n\nafter\n"
  new = tables.replace_block(readme, "| new |")
  assert new == f"# t\n\nintro\n{tables.BEGIN}\n| new |\n{tables.END}\n\nafter\n"
  assert tables.replace_block(new, "| new |") == new
  for broken in ("no markers", f"{tables.END}\n{tables.BEGIN}", readme + tables.BEGIN):
    with pytest.raises(ValueError, match="exactly one"):
      tables.replace_block(broken, "x")


def test_block_merge_replaces_only_the_selected_targets_parts():
  row = fake_row("fake.py")
  other = Row("other", "other experiment", "`x`", runs=(Run("o", "x.py", "x.py"),),
              result="{v}", metrics=dict(v=Metric("o", "v")))
  s1, s2 = (Sweep(f"s{i}", f"Sweep {i}", "c.py", "c.py:tiny") for i in (1, 2))
  targets = (row, other, s1, s2)
  section = lambda s, text: f"**{s.title}** (`cmd`; 1 s):\n\n{text}\n\n| a |\n|---|\n| 1 |"
  old = "\n\n".join([f"{tables.HEADER}\n| fake experiment | a | old | 1 s |\n"
                      "| other experiment | b | old | 2 s |", section(s2, "old s2")])
  new = "\n\n".join([f"{tables.HEADER}\n| other experiment | b | new | 3 s |",
                      section(s1, "new s1"), section(s2, "new s2")])
  assert tables.block_parts(old, targets) == {
      "fake": "| fake experiment | a | old | 1 s |",
      "other": "| other experiment | b | old | 2 s |",
      "s2": section(s2, "old s2")}
  merged = tables.merge_block(old, new, targets, selected=(other, s1))
  assert merged == "\n\n".join([f"{tables.HEADER}\n| fake experiment | a | old | 1 s |\n"
                                 "| other experiment | b | new | 3 s |",
                                 section(s1, "new s1"), section(s2, "old s2")])
  # Every target selected: the new block, less the row that only the old one had.
  assert tables.merge_block(old, new, targets, selected=(other, s1, s2)) == new.replace(
      "\n| other", "\n| fake experiment | a | old | 1 s |\n| other")
  assert tables.merge_block(old, new, targets, selected=targets) == new
  # Code that does not know a row or sweep README shows refuses to merge rather than drop it.
  for missing, name in ((other, "other experiment"), (s2, "Sweep 2")):
    with pytest.raises(ValueError, match=f"no target of this code declares: {name}"):
      tables.merge_block(old, new, [t for t in targets if t is not missing], selected=(row,))
  assert tables.block_parts(README.split(tables.BEGIN)[1].split(tables.END)[0], TARGETS).keys() \
      >= {t.name for t in ROWS}


def test_durations():
  assert [tables.duration(s) for s in (95.4, 197, 3900)] == ["95 s", "3 min 17 s", "1 h 05 min"]


def test_fake_targets_run_resume_skip_check_and_update_the_readme(tmp_path, capsys):
  exp, sweep_py = tmp_path / "fake.py", tmp_path / "sweep.py"
  exp.write_text(FAKE_EXPERIMENT)
  sweep_py.write_text(FAKE_SWEEP)
  row = fake_row(str(exp), seeds=(0, 1))
  sweep = Sweep("sw", "Fake sweep", "s.py", "s.py:tiny", program=(str(sweep_py),))
  assert Sweep("x", "t", "c.py", "c.py:tiny").command("w", False)[1:] == [
      "-m", "mmjax.sweep", "--config", "c.py", "--workdir", "w"]
  targets, work = (row, sweep), tmp_path / "work"
  main = lambda *a, work=work: cli.main(["--workdir", str(work), *a], targets=targets,
                                        cwd=str(tmp_path))

  assert main() == 1  # the baseline crashes; the others still run
  out = capsys.readouterr().out
  assert "FAILED, exit code 3" in out and "simulated crash" in out
  md = (work / "results.md").read_text()
  assert "acc 0.905 / n/a" in md and "| failed |" in md and "| 0.1 | 3 | 0.5 ± 0.1 |" in md

  assert main() == 0  # resumes: only the failed runs run again
  out = capsys.readouterr().out
  assert out.count("done earlier") == 3
  assert (work / "main_s1" / "calls.txt").read_text() == "fake.py\n"
  assert (work / "baseline_s1" / "calls.txt").read_text() == "fake.py\nfake.py\n"
  record = json.loads((work / "baseline_s1" / "reproduce.json").read_text())
  assert record["attempts"] == 2 and record["finished"] and record["wall_seconds"] > 0
  assert record["command"][-3:] == ["--config.seed=1", "--workdir", str(work / "baseline_s1")]
  assert set(record["code"]) == {"commit", "tree"}
  md = (work / "results.md").read_text()
  lines = md.splitlines()
  assert lines[0].startswith("<!-- code tree ") and lines[1:3] == tables.HEADER.splitlines()
  cells = lines[3].strip("|").split(" | ")
  # Mean ± sample std over the 2 seeds (0.9 and 0.91); the chance (tol=None) is bare.
  assert [c.strip() for c in cells[:3]] == ["fake experiment", "`python fake.py`",
                                            "acc 0.905 ± 0.007 / 0.505 ± 0.007 (chance 0.25)"]
  assert "; all 4 runs " in cells[3] and " cores)" in cells[3]
  assert "**Fake sweep** (`python -m mmjax.sweep --config s.py --workdir runs/sw`;" in md
  assert "| 0.1 | 3 | 0.5 ± 0.1 |\n\n(config s.py)" in md
  block = md.split("\n", 1)[1].strip()

  readme = tmp_path / "README.md"
  readme.write_text(f"intro\n{tables.BEGIN}\n| fake experiment | `python fake.py` | acc 0.905 ± "
                    f"0.007 / 0.600 ± 0.001 (chance 0.25) | 1 s |\n\n**Fake sweep** (x):\n\n"
                    "| lr | seeds | accuracy |\n|---|---|---|\n| 0.1 | 3 | 0.99 ± 0.01 |\n"
                    f"{tables.END}\nend\n")
  assert main("--check", "--readme", str(readme)) == 1
  out = capsys.readouterr().out
  # 3 standard errors of the difference of two 2-seed means: README's std 0.001 (taken as
  # 0.0015, its rounding) and the fresh 0.0071.
  assert ("base (baseline accuracy): expected 0.600 (README), got 0.505 (0.505, 2 seed(s)), "
          "tolerance 0.0153 (3 standard errors of README's 0.001 over 2 seeds)") in out
  # 3 * sqrt((0.015^2 + 0.15^2) / 3) + the two numbers' roundings (0.005, 0.05).
  assert ("sw: table 0 row 0.1 column accuracy: expected 0.99 ± 0.01 (README), got 0.5 ± 0.1, "
          "tolerance 0.316") in out
  assert main("--update_readme", "--readme", str(readme)) == 0
  assert readme.read_text() == f"intro\n{tables.BEGIN}\n{block}\n{tables.END}\nend\n"
  # The runs that wrote README cannot check it.
  assert main("--check", "--readme", str(readme)) == 2
  assert "wrote README.md (--update_readme)" in capsys.readouterr().out
  fresh = tmp_path / "fresh"
  assert main("--check", "--readme", str(readme), "--only", "fake", work=fresh) == 1  # crash
  assert main("--check", "--readme", str(readme), "--only", "fake", work=fresh) == 0
  assert main("--check", "--readme", str(readme), "--seeds", "1", work=fresh) == 0
  # --only with --update_readme: the sweep's section is replaced, the row is kept as it was.
  kept = readme.read_text().replace("acc 0.905 ± 0.007 /", "acc 0.910 ± 0.007 /")
  readme.write_text(kept.replace("(config s.py)", "(an older sweep table)"))
  assert main("--update_readme", "--readme", str(readme), "--only", "sw") == 0
  assert readme.read_text() == kept

  # Other code: every run of the old code is set aside (kept) and rerun.
  capsys.readouterr()
  (tmp_path / "mmjax").mkdir()
  (tmp_path / "mmjax" / "model.py").write_text("changed = True\n")
  assert "main_s0 (stale: reruns)" in (main("--list"), capsys.readouterr().out)[1]
  assert main() == 1  # afresh: the baselines crash once again
  out = capsys.readouterr().out
  assert "done earlier" not in out and out.count(": moved to ") == 5
  assert main() == 0
  assert (work / "main_s0" / "calls.txt").read_text() == "fake.py\n"
  assert len(list(work.glob("main_s0.stale-*"))) == 1

  assert main("--cheap") == 2  # the same workdir holds the full runs
  assert "holds a run of another command" in capsys.readouterr().out
  assert main("--only", "fake,nope") == 2
  assert "unknown target(s) nope; valid: fake, sw" in capsys.readouterr().out
  for bad in (("--cheap", "--update_readme"), ("--update_expected",),
              ("--seeds", "0", "--update_readme"), ("--seeds", "x")):
    with pytest.raises(SystemExit):
      main(*bad)


# A fake follow-up: reads the run's results.json, writes scores.json (fails once if asked).
FAKE_FOLLOW_UP = """
import json, os, sys
workdir = sys.argv[sys.argv.index("--workdir") + 1]
if "--fail_once" in sys.argv and not os.path.exists(os.path.join(workdir, "failed")):
  open(os.path.join(workdir, "failed"), "w").close()
  sys.exit(4)
acc = json.load(open(os.path.join(workdir, "results.json")))["accuracy"]
os.makedirs(os.path.join(workdir, "interpret"), exist_ok=True)
json.dump({"score": {"hit_rate": acc / 2}}, open(os.path.join(workdir, "interpret", "s.json"), "w"))
"""


def test_follow_ups_run_on_finished_runs_and_join_their_results(tmp_path, capsys):
  from mmjax.reproduce.spec import FollowUp
  exp, follow = tmp_path / "fake.py", tmp_path / "follow.py"
  exp.write_text(FAKE_EXPERIMENT)
  follow.write_text(FAKE_FOLLOW_UP)
  then = (FollowUp("maps", (str(follow), "--fail_once"), "interpret/s.json"),)
  row = Row("f", "fake maps", "`python fake.py`",
            runs=(Run("main", str(exp), "fake.py", {"acc": "0.8"}, then=then),),
            result="acc {acc}, hits {hits}",
            metrics=dict(acc=Metric("main", "accuracy", tol=0.05),
                         hits=Metric("main", "maps.score.hit_rate", tol=0.05)), seeds=(0,))
  assert FollowUp("k", ("-m", "mmjax.interpret"), "o.json").command("w")[1:] == [
      "-m", "mmjax.interpret", "--workdir", "w"]
  # On one stage of a multi-stage run: its output stays relative to the run's workdir.
  assert FollowUp("k", ("-m", "mmjax.interpret"), "s/o.json", "s").command("w")[-1] == "w/s"
  main = lambda: cli.main(["--workdir", str(tmp_path / "work")], targets=(row,),
                          cwd=str(tmp_path))
  assert main() == 1  # the run finishes, its follow-up fails: the row waits for it
  out = capsys.readouterr().out
  assert "main_s0 then" in out and "exit code 4" in out
  assert "acc n/a" in (tmp_path / "work" / "results.md").read_text()
  assert main() == 0  # the finished run is not rerun; only its follow-up is
  assert (tmp_path / "work" / "main_s0" / "calls.txt").read_text() == "fake.py\n"
  assert "acc 0.800, hits 0.400" in (tmp_path / "work" / "results.md").read_text()


def test_tolerance_comes_from_the_spread_over_seeds():
  # Two 3-seed means with std 0.01 each: 3 * sqrt(2 * 0.01^2 / 3).
  assert tables.tolerance(0.01, 3, 0.01, 3) == pytest.approx(0.02449, abs=1e-5)
  # A single fresh run borrows the expected spread: 3 * 0.01 * sqrt(1/3 + 1).
  assert tables.tolerance(0.01, 3, 0.0, 1) == pytest.approx(0.03464, abs=1e-5)
  assert tables.tolerance(0.0, 3, 0.0, 3) == 0.0  # nothing moves: must match


SWEEP_SECTION = """**Fake sweep** (`cmd`; 1 s):

Sweep `c.py`: 6 of 6 trials done.

**preset = a**

| loss | batch_size | seeds | i2t/R@1 | note |
|---|---|---|---|---|
| softmax | 32 | 3 | 0.523 ± 0.014 | x |
| sigmoid | 32 | 3 | **0.600 ± 0.000** | y |
"""


def test_sweep_check_compares_every_mean_with_its_spread():
  sweep = Sweep("sw", "Fake sweep", "c.py", "c.py:tiny")
  cells = tables.sweep_cells(SWEEP_SECTION)
  assert cells == {(0, ("softmax", "32", "x"), "i2t/R@1"): ("0.523", "0.014", 3),
                   (0, ("sigmoid", "32", "y"), "i2t/R@1"): ("0.600", "0.000", 3)}
  assert tables.check_sweep(sweep, SWEEP_SECTION, SWEEP_SECTION) == []
  # Within 3 standard errors (about 0.036 here): passes; a deliberately changed number fails.
  assert tables.check_sweep(sweep, SWEEP_SECTION.replace("0.523", "0.550"), SWEEP_SECTION) == []
  problems = tables.check_sweep(sweep, SWEEP_SECTION.replace("0.523", "0.600"), SWEEP_SECTION)
  assert problems == ["sw: table 0 row softmax / 32 / x column i2t/R@1: expected 0.523 ± 0.014 "
                      "(README), got 0.600 ± 0.014, tolerance 0.0365"]
  # A zero spread: little beyond the rounding separates the numbers.
  assert tables.check_sweep(sweep, SWEEP_SECTION.replace("0.600", "0.601"), SWEEP_SECTION) == []
  assert tables.check_sweep(sweep, SWEEP_SECTION.replace("0.600", "0.604"), SWEEP_SECTION)
  missing = tables.check_sweep(sweep, SWEEP_SECTION.replace("| sigmoid", "| tanh"), SWEEP_SECTION)
  assert len(missing) == 2 and "README only" in "".join(missing)
  assert "the sweep failed" in tables.check_sweep(sweep, None, SWEEP_SECTION)[0]


def test_every_readme_sweep_table_parses_into_checked_cells():
  parts = tables.block_parts(tables.current_block(README), TARGETS)
  for sweep in (t for t in TARGETS if isinstance(t, Sweep)):
    cells = tables.sweep_cells(parts[sweep.name])
    assert len(cells) >= 8 and all(n == 3 for _, _, n in cells.values()), sweep.name


def test_code_version_follows_code_files_not_the_readme(tmp_path):
  from mmjax.reproduce import provenance
  (tmp_path / "mmjax").mkdir()
  (tmp_path / "mmjax" / "a.py").write_text("x = 1\n")
  before = provenance.code_version(str(tmp_path))
  (tmp_path / "README.md").write_text("new numbers\n")
  (tmp_path / "mmjax" / "__pycache__").mkdir()
  (tmp_path / "mmjax" / "__pycache__" / "a.pyc").write_bytes(b"\0")
  assert provenance.code_version(str(tmp_path)) == before
  (tmp_path / "configs").mkdir()
  (tmp_path / "configs" / "c.py").write_text("\n")
  assert provenance.code_version(str(tmp_path))["tree"] != before["tree"]
  here = provenance.code_version(ROOT)
  assert "mmjax/reproduce/provenance.py" in provenance.code_files(ROOT)
  assert "mmjax/reproduce/cheap_expected.json" not in provenance.code_files(ROOT)
  assert len(here["tree"]) == 64


def test_cheap_expected_values_catch_a_regression(tmp_path):
  from mmjax.reproduce import expected
  row = fake_row("fake.py", seeds=(0, 1, 2))
  results = {f"{r}_s{k}": {"accuracy": v + 0.01 * k, "nested": {"chance": 0.25}}
             for r, v in (("main", 0.9), ("baseline", 0.5)) for k in range(3)}
  path = str(tmp_path / "expected.json")
  expected.write([row], results, path)
  stored = json.loads(open(path).read())
  assert stored == {"fake": {"acc": {"mean": 0.91, "std": 0.01, "seeds": 3},
                             "base": {"mean": 0.51, "std": 0.01, "seeds": 3}}}
  one = {k: v for k, v in results.items() if k.endswith("_s0")}
  assert expected.check([row], one, path, seeds=(0,)) == []  # 0.01 off: within 0.0346
  one["main_s0"] = {"accuracy": 0.8, "nested": {"chance": 0.25}}
  problems = expected.check([row], one, path, seeds=(0,))
  assert len(problems) == 1 and problems[0].startswith("fake: acc (main accuracy): expected 0.91")


def test_cheap_run_of_a_real_target_fills_every_cell_and_matches_its_expected_values(
    tmp_path, capsys):
  """CI's regression check: one seed of a tiny target against the mean and spread that
  `--cheap --update_expected` measured over 3 seeds (mmjax/reproduce/cheap_expected.json)."""
  from mmjax.reproduce import expected
  work = tmp_path / "work"
  argv = ["--workdir", str(work), "--cheap", "--only", "fusion_unique", "--seeds", "0"]
  assert cli.main(argv + ["--check"]) == 0, capsys.readouterr().out[-3000:]
  lines = (work / "results.md").read_text().splitlines()[1:]
  assert len(lines) == 3 and lines[:2] == tables.HEADER.splitlines()
  row = next(t for t in TARGETS if t.name == "fusion_unique")
  cells = [c.strip() for c in lines[2].strip().strip("|").split(" | ")]
  assert cells[:2] == [row.experiment, row.command]
  values = row.parse(cells[2])
  assert values is not None and values["chance"] == ("0.25", None)
  assert cells[3].endswith("cores)") and "failed" not in cells[3]
  results = json.loads((work / "fusion_unique_s0" / "results.json").read_text())
  assert results["task"] == "unique_audio" and results["step"] == 6  # the tiny preset ran
  # The same run against a deliberately changed expected value fails, naming it.
  stored = expected.load(expected.PATH)
  stored["fusion_unique"]["acc"]["mean"] -= 0.2
  changed = tmp_path / "changed.json"
  changed.write_text(json.dumps(stored))
  capsys.readouterr()
  assert cli.main(argv + ["--check"], expected_path=str(changed)) == 1
  assert "fusion_unique: acc (fusion_unique accuracy): expected" in capsys.readouterr().out


def test_stored_cheap_values_are_each_rows_checked_metrics_over_3_seeds():
  from mmjax.reproduce import expected
  stored = expected.load(expected.PATH)
  assert "fusion_unique" in stored  # what CI compares
  rows = {r.name: r for r in ROWS}
  for name, values in stored.items():
    checked = {k for k, m in rows[name].metrics.items() if m.tol is not None}
    assert set(values) == checked, name
    assert all(v["seeds"] >= 3 for v in values.values()), name


def test_real_data_targets_read_the_manifests_under_data_dir(tmp_path, capsys):
  from mmjax.reproduce.real_data_targets import REAL_DATA_TARGETS
  from tests.test_manifest_source import write_files
  work, data = tmp_path / "work", tmp_path / "data"
  # Without the prepared folders: an error naming the folder, before anything runs.
  assert cli.main(["--workdir", str(work), "--data_dir", str(data), "--list"]) == 2
  assert f"{data / 'f8k'}, which has no train.jsonl" in capsys.readouterr().out
  write_files(data / "f8k")
  write_files(data / "avm", audio=True)
  assert cli.main(["--workdir", str(work), "--data_dir", str(data), "--list"]) == 0
  listed = capsys.readouterr().out.splitlines()
  # One seed each, but for the AV-MNIST maps row's three.
  assert len(listed) == sum(len(t.seeded_runs(None)) for t in REAL_DATA_TARGETS) == 13
  assert all(f"--config.data.source.manifest.dir={data}/" in line for line in listed)
  # The cheap variant trains on the tiny files and fills the row's every cell.
  assert cli.main(["--workdir", str(work), "--data_dir", str(data), "--cheap", "--only",
                   "f8k_captioning"]) == 0, capsys.readouterr().out[-3000:]
  row = next(t for t in REAL_DATA_TARGETS if t.name == "f8k_captioning")
  line = (work / "results.md").read_text().splitlines()[3]
  assert row.parse(line.strip().strip("|").split(" | ")[2]) is not None
  # --update_readme writes the real-data block, not the synthetic one.
  readme = tmp_path / "README.md"
  readme.write_text(f"{tables.BEGIN}\nsynthetic\n{tables.END}\n{tables.REAL_BEGIN}\nold\n"
                    f"{tables.REAL_END}\n")
  assert tables.current_block(readme.read_text(), tables.REAL_BEGIN, tables.REAL_END) == "old"
  # Without --data_dir, the synthetic targets: the real-data names are unknown there.
  assert cli.main(["--workdir", str(work), "--list", "--only", "f8k_captioning"]) == 2
