"""benchmarks/elementwise_codegen.py: its argument checks, one real row on a small shape, and
its table and README block."""

import pytest

from benchmarks import elementwise_codegen as ec
from mmjax.reproduce import tables
from tests.test_benchmarks import fake_readme


@pytest.mark.parametrize("argv, message", [
    (["--expressions", "erf(x),tanh(x)"], "valid: a comma-separated list of x*2, erf(x), erf(x)+x"),
    (["--shape", "8,0"], "valid: --shape ROWS,WIDTH (both >= 1)"),
    (["--shape", "8"], "valid: --shape ROWS,WIDTH"),
    (["--repeats", "0"], "--repeats >= 1"),
])
def test_bad_arguments_fail_naming_the_valid_values(argv, message, capsys):
  with pytest.raises(SystemExit):
    ec.parse(argv)
  assert message in capsys.readouterr().err


def test_each_expression_computes_what_its_name_says():
  import jax.numpy as jnp
  from jax import lax
  x, b = jnp.linspace(-3, 3, 12).reshape(3, 4), jnp.arange(4.0)
  want = {"x*2": x * 2, "erf(x)": lax.erf(x), "erf(x)+x": lax.erf(x) + x,
          "erf(x)+1": lax.erf(x) + 1, "erf(x+b)": lax.erf(x + b), "exp(x)": jnp.exp(x),
          "exp(x/2)": jnp.exp(x / 2),
          "gelu(x+b)": (x + b) * 0.5 * (1 + lax.erf((x + b) / 2 ** 0.5))}
  assert set(want) == set(ec.EXPRESSIONS)
  for name, value in want.items():
    assert jnp.allclose(ec.EXPRESSIONS[name][1](x, b), value, atol=1e-6), name


def test_a_row_measures_both_dtypes_and_the_block_names_the_command(tmp_path):
  row = ec.measure("erf(x+b)", (16, 32), repeats=2)
  assert row["broadcast"] == "the bias" and row["float32_ms"] > 0 and row["bfloat16_ms"] > 0
  assert row["ratio"] == pytest.approx(row["bfloat16_ms"] / row["float32_ms"])
  readme, md = fake_readme(tmp_path, "benchmark:codegen"), str(tmp_path / "codegen.md")
  ec.main(["--expressions", "x*2,erf(x)", "--shape", "16,32", "--repeats", "2",
           "--markdown", md, "--update_readme", "--readme", readme, "--block", "codegen"])
  text = open(md).read()
  assert tables.current_block(open(readme).read(), *tables.markers("benchmark:codegen")) == \
      text.strip()
  lines = text.splitlines()
  assert lines[0].startswith("`python benchmarks/elementwise_codegen.py --expressions 'x*2,erf(x)'"
                             " --shape 16,32 --repeats 2` on ")
  assert lines[2] == "| expression | broadcast operand | float32 out ms | bf16 out ms | " \
                     "bf16 / float32 |"
  assert [line.split(" | ")[0] for line in lines[4:]] == ["| x*2", "| erf(x)"]
