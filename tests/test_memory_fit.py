"""benchmarks/memory_fit.py: its argument checks (before anything compiles), its table and README
block from fake rows, and one real run of the tiny workload on 4 simulated devices, in which FSDP
divides the state per device by about the device count and remat cuts the temporaries."""

import pytest

from benchmarks import memory_fit as mf
from mmjax.reproduce import tables
from tests.test_benchmarks import fake_readme

HEADERS = ("| workload | devices | batch / device | sharding | remat | dtype | params+optimizer "
           "GiB / device | temp GiB / device | peak GiB / device | fits 16 GiB | fits 32 GiB | "
           "fits 80 GiB | TFLOPs / device / step | compile s |")


@pytest.mark.parametrize("argv, message", [
    (["--workloads", "clip_L14"], "valid: a comma-separated list of lit_coco_B16B, clip_B32"),
    (["--settings", "zero3/none/float32"], "SHARDING in dp, fsdp"),
    (["--settings", "dp/full"], "REMAT in none, full, DTYPE in float32, bfloat16"),
    (["--workloads", "lit_coco_B16B", "--devices", "8,48"],
     "lit_coco_B16B (batch 4096) on 48 does not; valid device counts divide lit_coco_B16B: 4096"),
])
def test_bad_arguments_fail_naming_the_valid_values(argv, message, capsys):
  with pytest.raises(SystemExit):
    mf.parse(argv)
  assert message in capsys.readouterr().err


def test_rows_are_workloads_by_devices_by_settings():
  args = mf.parse(["--workloads", "tiny", "--devices", "2,4",
                   "--settings", "dp/none/float32,fsdp/full/bfloat16"])
  assert mf.rows_to_run(args) == [("tiny", 2, ("dp", "none", "float32")),
                                  ("tiny", 2, ("fsdp", "full", "bfloat16")),
                                  ("tiny", 4, ("dp", "none", "float32")),
                                  ("tiny", 4, ("fsdp", "full", "bfloat16"))]
  default = mf.parse([])
  assert default.devices == [8, 64] and len(default.settings) == 4


def fake_row(workload, devices, s):
  sharding, remat, dtype = s
  state = 20 * mf.GIB // (devices if sharding == "fsdp" else 1)
  return {"workload": workload, "devices": devices, "batch_per_device": 4096 // devices,
          "sharding": sharding, "remat": remat, "compute_dtype": dtype, "state_bytes": state,
          "temp_bytes": 10 * mf.GIB, "peak_bytes": state + 10 * mf.GIB,
          "flops_per_device": 2.5e13, "compile_s": 12.3}


def test_table_and_readme_block(tmp_path, monkeypatch):
  monkeypatch.setattr(mf, "run_rows",
                      lambda w, d, settings: [fake_row(w, d, s) for s in settings])
  readme, md = fake_readme(tmp_path, "benchmark:fit"), str(tmp_path / "fit.md")
  mf.main(["--workloads", "lit_coco_B16B", "--devices", "8,64", "--settings",
           "dp/none/float32,fsdp/full/bfloat16", "--markdown", md, "--update_readme",
           "--readme", readme, "--block", "fit"])
  text = open(md).read()
  assert tables.current_block(open(readme).read(), *tables.markers("benchmark:fit")) == \
      text.strip()
  lines = text.splitlines()
  assert lines[0].startswith("`python benchmarks/memory_fit.py --workloads lit_coco_B16B "
                             "--devices 8,64 --settings dp/none/float32,fsdp/full/bfloat16` on ")
  assert lines[2] == HEADERS
  # 20 + 10 GiB: over 16, within 32 and 80; FSDP over 64: 0.31 + 10 GiB fits all three.
  assert lines[4] == ("| lit_coco_B16B | 8 | 512 | dp | none | float32 | 20.00 | 10.00 | 30.00 "
                      "| no | yes | yes | 25.00 | 12 |")
  assert lines[-1] == ("| lit_coco_B16B | 64 | 64 | fsdp | full | bfloat16 | 0.31 | 10.00 | "
                       "10.31 | yes | yes | yes | 25.00 | 12 |")
  failed = mf.table([{"workload": "tiny", "devices": 4, "sharding": "dp", "remat": "none",
                      "compute_dtype": "float32", "error": "exit code -9"}]).splitlines()[2]
  assert failed.startswith("| tiny | 4 | - | dp |") and "(failed: exit code -9)" in failed


def test_batch_sizes_match_the_workloads_module():
  from benchmarks import fit_workloads  # imports jax: the parent process never does.
  assert set(fit_workloads.WORKLOADS) == set(mf.BATCH)
  assert fit_workloads.CLIP_B32["batch"] == mf.BATCH["clip_B32"]
  assert fit_workloads.TINY["batch"] == mf.BATCH["tiny"]
  from mmjax import experiment  # the LiT batch is the config's
  assert experiment.get_config(f"{mf.ROOT}/configs/lit_coco.py").batch_size == \
      mf.BATCH["lit_coco_B16B"]


def test_tiny_on_four_devices_fsdp_shards_the_state_and_remat_cuts_temporaries(tmp_path):
  out = tmp_path / "rows.json"
  mf.main(["--workloads", "tiny", "--devices", "4", "--settings",
           "dp/none/float32,fsdp/none/float32,dp/full/float32", "--json", str(out)])
  import json  # pylint: disable=g-import-not-at-top
  dp, fsdp, remat = json.loads(out.read_text())
  assert all(r["devices"] == 4 and r["batch_per_device"] == 16 for r in (dp, fsdp, remat))
  # Nearly every parameter is large enough to be split: ~4x less state per device.
  assert 3.0 < dp["state_bytes"] / fsdp["state_bytes"] <= 4.0
  assert remat["state_bytes"] == dp["state_bytes"]
  assert remat["temp_bytes"] < 0.7 * dp["temp_bytes"]
  assert remat["flops_per_device"] > 1.1 * dp["flops_per_device"]  # the recomputed forward
  for r in (dp, fsdp, remat):
    assert r["peak_bytes"] >= r["state_bytes"] + r["temp_bytes"] > 0


def test_fsdp_gathers_weights_not_activations_and_scanned_layers_one_at_a_time():
  """The FSDP step (tiny workload, 8 devices, layers under nn.scan) all-gathers only
  parameters and the contrastive loss's embeddings of the global batch: never an activation
  over the global batch (`[batch x tokens, width]`, which GSPMD chose before the step gathered
  the weights itself), and never a scanned stack of layers whole: one layer's slice at a time
  (ZeRO-3, transformer.gather_layer), which leaves less in temporaries than gathering the
  stacks before the step."""
  import re  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import fit_workloads  # pylint: disable=g-import-not-at-top
  from mmjax import train  # pylint: disable=g-import-not-at-top
  from mmjax.train import parallel  # pylint: disable=g-import-not-at-top
  c, init_fn, loss_fn, batch = fit_workloads.WORKLOADS["tiny"]("fsdp", "full", "float32", True)
  assert jax.device_count() == 8 and c.fsdp
  compile_step = lambda: train.lower_step(c, init_fn, loss_fn, batch).compile(
      fit_workloads.compiler_options())
  compiled = compile_step()
  gathered = {tuple(int(d) for d in dims.split(",")) for dims in
              re.findall(r"= \w+\[([\d,]+)\]\{[\d,]*\} all-gather\(", compiled.as_text())}
  flat = jax.tree_util.tree_flatten_with_path(jax.eval_shape(init_fn, jax.random.key(0))[0])[0]
  stacked = {tuple(x.shape) for path, x in flat if "blocks" in jax.tree_util.keystr(path)}
  layers = {s[1:] for s in stacked} | {(1,) + s[1:] for s in stacked}
  params = {tuple(x.shape) for _, x in flat}
  n, embed = c.batch_size, fit_workloads.TINY["embed"]
  assert stacked and gathered & layers and not gathered & stacked, (gathered, stacked)
  assert gathered <= params | layers | {(n, embed), (embed, n)}, gathered - params - layers
  # The stacks gathered whole before the step instead: more temporaries.
  per_layer = compiled.memory_analysis().temp_size_in_bytes
  with pytest.MonkeyPatch.context() as m:
    m.setattr(parallel, "gather_shardings", lambda shardings, mesh: jax.tree.map(
        lambda _: jax.sharding.NamedSharding(mesh, jax.P()), shardings))
    whole = compile_step().memory_analysis().temp_size_in_bytes
  assert per_layer < whole, (per_layer, whole)
