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
json.dump({"accuracy": float(flags["acc"]), "nested": {"chance": 0.25}},
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
    f"| lr | accuracy |\\n|---|---|\\n| 0.1 | 0.5 |\\n\\n(config {config})\\n")
"""


def fake_row(script):
  return Row("fake", "fake experiment", "`python fake.py`",
             runs=(Run("main", script, "fake.py", {"acc": "0.9"}),
                   Run("baseline", script, "fake.py", {"acc": "0.5", "crash_first": "1"},
                       cheap_overrides={"acc": "0.1"})),
             result="acc {acc} / {base} (chance {chance})",
             metrics=dict(acc=Metric("main", "accuracy", tol=0.05),
                          base=Metric("baseline", "accuracy", tol=0.05),
                          chance=Metric("main", "nested.chance", ".3g", tol=None)))


ROWS = [t for t in TARGETS if isinstance(t, Row)]


@pytest.mark.parametrize("row", ROWS, ids=lambda t: t.name)
def test_every_readme_results_row_is_a_target_and_renders_back_exactly(row):
  cells = tables.readme_cells(README, row.experiment)
  assert cells is not None and len(cells) == 4, row.experiment
  assert cells[1] == row.command
  expected = row.parse(cells[2])
  assert expected is not None, (cells[2], row.result)
  assert row.render({k: float(v) for k, v in expected.items()}) == cells[2]


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
  ok = {"main": {"accuracy": 0.93, "nested": {"chance": 0.3}}, "baseline": {"accuracy": 0.5504}}
  # 0.5504 - 0.5 is past the 0.05 tolerance but within the README's rounding (0.0005); the
  # chance (tol=None) is shown, not checked.
  assert tables.check([row], ok, readme) == []
  bad = {"main": {"accuracy": 0.84}, "baseline": {"accuracy": 0.5}}
  problems = tables.check([row], bad, readme)
  assert len(problems) == 2
  assert "has no field 'nested.chance'" in problems[0]  # missing, though unchecked: an error
  assert problems[1] == ("fake: acc (main accuracy): expected 0.900 (README), got 0.840 (0.84), "
                         "tolerance 0.05")
  assert "no results.json" in tables.check([row], {"main": ok["main"]}, readme)[0]
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
  assert tables.block_parts(README.split(tables.BEGIN)[1].split(tables.END)[0], TARGETS).keys() \
      >= {t.name for t in ROWS}


def test_durations():
  assert [tables.duration(s) for s in (95.4, 197, 3900)] == ["95 s", "3 min 17 s", "1 h 05 min"]


def test_fake_targets_run_resume_skip_check_and_update_the_readme(tmp_path, capsys):
  exp, sweep_py = tmp_path / "fake.py", tmp_path / "sweep.py"
  exp.write_text(FAKE_EXPERIMENT)
  sweep_py.write_text(FAKE_SWEEP)
  row = fake_row(str(exp))
  sweep = Sweep("sw", "Fake sweep", "s.py", "s.py:tiny", program=(str(sweep_py),))
  assert Sweep("x", "t", "c.py", "c.py:tiny").command("w", False)[1:] == [
      "-m", "mmjax.sweep", "--config", "c.py", "--workdir", "w"]
  targets, work = (row, sweep), tmp_path / "work"
  main = lambda *a: cli.main(["--workdir", str(work), *a], targets=targets, cwd=str(tmp_path))

  assert main() == 1  # the baseline crashes; the others still run
  out = capsys.readouterr().out
  assert "FAILED, exit code 3" in out and "simulated crash" in out
  md = (work / "results.md").read_text()
  assert "acc 0.900 / n/a" in md and "| failed |" in md and "| 0.1 | 0.5 |" in md

  assert main() == 0  # resumes: only the failed run runs again
  out = capsys.readouterr().out
  assert out.count("done earlier") == 2
  assert (work / "main" / "calls.txt").read_text() == "fake.py\n"
  assert (work / "baseline" / "calls.txt").read_text() == "fake.py\nfake.py\n"
  record = json.loads((work / "baseline" / "reproduce.json").read_text())
  assert record["attempts"] == 2 and record["finished"] and record["wall_seconds"] > 0
  md = (work / "results.md").read_text()
  lines = md.splitlines()
  assert lines[:2] == tables.HEADER.splitlines()
  cells = lines[2].strip("|").split(" | ")
  assert [c.strip() for c in cells[:3]] == ["fake experiment", "`python fake.py`",
                                            "acc 0.900 / 0.500 (chance 0.25)"]
  assert "; all 2 runs " in cells[3] and " cores)" in cells[3]
  assert "**Fake sweep** (`python -m mmjax.sweep --config s.py --workdir runs/sw`;" in md
  assert "| 0.1 | 0.5 |\n\n(config s.py)" in md

  readme = tmp_path / "README.md"
  readme.write_text(f"intro\n{tables.BEGIN}\n| fake experiment | `python fake.py` | acc 0.900 / "
                    f"0.600 (chance 0.25) | 1 s |\n{tables.END}\nend\n")
  assert main("--check", "--readme", str(readme)) == 1
  assert ("base (baseline accuracy): expected 0.600 (README), got 0.500 (0.5), tolerance 0.05"
          in capsys.readouterr().out)
  assert main("--update_readme", "--readme", str(readme)) == 0
  assert readme.read_text() == f"intro\n{tables.BEGIN}\n{md.strip()}\n{tables.END}\nend\n"
  assert main("--check", "--readme", str(readme)) == 0
  assert main("--check", "--readme", str(readme), "--only", "fake") == 0
  # --only with --update_readme: the sweep's section is replaced, the row is kept as it was.
  kept = readme.read_text().replace("acc 0.900 / 0.500", "acc 0.910 / 0.500")
  readme.write_text(kept.replace("(config s.py)", "(an older sweep table)"))
  assert main("--update_readme", "--readme", str(readme), "--only", "sw") == 0
  assert readme.read_text() == kept

  capsys.readouterr()
  assert main("--cheap") == 2  # the same workdir holds the full runs
  assert "holds a run of another command" in capsys.readouterr().out
  assert main("--only", "fake,nope") == 2
  assert "unknown target(s) nope; valid: fake, sw" in capsys.readouterr().out
  with pytest.raises(SystemExit):
    main("--cheap", "--check")


def test_cheap_run_of_a_real_target_fills_every_cell(tmp_path, capsys):
  work = tmp_path / "work"
  assert cli.main(["--workdir", str(work), "--cheap", "--only", "fusion_unique"]) == 0, \
      capsys.readouterr().out[-3000:]
  lines = (work / "results.md").read_text().splitlines()
  assert len(lines) == 3 and lines[:2] == tables.HEADER.splitlines()
  row = next(t for t in TARGETS if t.name == "fusion_unique")
  cells = [c.strip() for c in lines[2].strip().strip("|").split(" | ")]
  assert cells[:2] == [row.experiment, row.command]
  values = row.parse(cells[2])
  assert values is not None and values["chance"] == "0.25"
  assert 0.0 <= float(values["acc"]) <= 1.0
  assert cells[3].endswith("cores)") and "failed" not in cells[3]
  results = json.loads((work / "fusion_unique" / "results.json").read_text())
  assert results["task"] == "unique_audio" and results["step"] == 6  # the tiny preset ran


def test_real_data_targets_read_the_manifests_under_data_dir(tmp_path, capsys):
  from mmjax.reproduce.targets import REAL_DATA_TARGETS
  from tests.test_manifest_source import write_files
  work, data = tmp_path / "work", tmp_path / "data"
  # Without the prepared folders: an error naming the folder, before anything runs.
  assert cli.main(["--workdir", str(work), "--data_dir", str(data), "--list"]) == 2
  assert f"{data / 'f8k'}, which has no train.jsonl" in capsys.readouterr().out
  write_files(data / "f8k")
  write_files(data / "avm", audio=True)
  assert cli.main(["--workdir", str(work), "--data_dir", str(data), "--list"]) == 0
  listed = capsys.readouterr().out.splitlines()
  assert len(listed) == sum(len(t.runs) for t in REAL_DATA_TARGETS) == 8
  assert all(f"--config.data.source.manifest.dir={data}/" in line for line in listed)
  # The cheap variant trains on the tiny files and fills the row's every cell.
  assert cli.main(["--workdir", str(work), "--data_dir", str(data), "--cheap", "--only",
                   "f8k_captioning"]) == 0, capsys.readouterr().out[-3000:]
  row = next(t for t in REAL_DATA_TARGETS if t.name == "f8k_captioning")
  line = (work / "results.md").read_text().splitlines()[2]
  assert row.parse(line.strip().strip("|").split(" | ")[2]) is not None
  # --update_readme writes the real-data block, not the synthetic one.
  readme = tmp_path / "README.md"
  readme.write_text(f"{tables.BEGIN}\nsynthetic\n{tables.END}\n{tables.REAL_BEGIN}\nold\n"
                    f"{tables.REAL_END}\n")
  assert tables.current_block(readme.read_text(), tables.REAL_BEGIN, tables.REAL_END) == "old"
  # Without --data_dir, the synthetic targets: the real-data names are unknown there.
  assert cli.main(["--workdir", str(work), "--list", "--only", "f8k_captioning"]) == 2
