"""benchmarks/video_encoders.py: its argument checks, its table and README block from fake rows
(a real row compiles for a minute on a loaded CI machine; the README block is its output)."""

import pytest

from benchmarks import video_encoders as ve
from mmjax.reproduce import tables
from tests.test_benchmarks import fake_readme


@pytest.mark.parametrize("argv, message", [
    (["--encoders", "timesformer"], "valid: a comma-separated list of frames_mean, "
     "frames_transformer, vivit_joint, vivit_factorised"),
    (["--frames", "8,9", "--sizes", "32,36"], "frames 9, size 36: ViViT's tubelets are 2 frames "
     "x 8 x 8 pixels"),
    (["--steps", "0"], "valid: --batch >= 1, --steps >= 1"),
])
def test_bad_arguments_fail_naming_the_valid_values(argv, message, capsys):
  with pytest.raises(SystemExit):
    ve.parse(argv)
  assert message in capsys.readouterr().err


def test_table_and_readme_block(tmp_path, monkeypatch):
  calls = []

  def fake(encoder, frames, size, batch, steps, warmup):
    calls.append((encoder, frames, size))
    if encoder == "vivit_joint" and size == 64:
      raise MemoryError("out of memory")
    return {"encoder": encoder, "frames": frames, "size": size, "batch": batch,
            "params": 1234567, "examples_per_s": 12.34, "median_step_s": 0.5, "compile_s": 3.21,
            "peak_bytes": 3 * ve.MIB, "xla_flops": 2.5e9, "load_avg_1min": 1.0}
  monkeypatch.setattr(ve, "measure", fake)
  readme, md = fake_readme(tmp_path, "benchmark:video"), str(tmp_path / "video.md")
  argv = ["--encoders", "frames_mean", "--frames", "4,8", "--sizes", "16", "--markdown", md,
          "--update_readme", "--readme", readme, "--block", "video"]
  ve.main(argv)
  assert calls == [("frames_mean", 4, 16), ("frames_mean", 8, 16)]
  text = open(md).read()
  assert tables.current_block(open(readme).read(), *tables.markers("benchmark:video")) == \
      text.strip()
  lines = text.splitlines()
  assert lines[0].startswith("`python benchmarks/video_encoders.py --encoders frames_mean "
                             "--frames 4,8 --sizes 16` on ")
  assert lines[4] == "| frames_mean | 4 | 16 | 8 | 1,234,567 | 12.3 | 500 | 3.2 | 3 | 2.5 | 1.0 |"
  # A failed row is shown, and keeps README as it was.
  with pytest.raises(SystemExit):
    ve.main(["--encoders", "vivit_joint", "--sizes", "64", "--frames", "8", "--markdown", md])
  assert "(failed: MemoryError: out of memory)" in open(md).read()
