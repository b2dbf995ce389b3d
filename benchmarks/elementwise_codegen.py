r"""What XLA's elementwise loops cost by the dtype they write: where the bf16 step loses on CPU.

  python benchmarks/elementwise_codegen.py                  # README's table (a few seconds)
  python benchmarks/elementwise_codegen.py --shape 8320,1024 --repeats 20

Each row compiles one elementwise expression of x float32 [rows, width] and b float32 [width]
(a bias) twice, once writing float32 and once bfloat16, and reports the best of --repeats runs
of each, compiled and run alone on this process's devices, with freed memory kept in the process
as the bf16 train step has it (mmjax/train/host_memory.py). The default shape is clip_tiny's
MLP activations (128 images x 65 tokens, 1024 wide). In a bf16 train step every loop that ends
a float32 computation writes bf16 (the next product takes bf16), so a row whose bf16 column is
well above its float32 one is a cost the step pays in bf16 only, in XLA's code generation
rather than in the model. The expressions separate the suspects: a transcendental (erf, exp)
with and without a broadcast operand (the bias, or a scalar constant), and mmjax's exact GELU
(mmjax.models.transformer.gelu) of a biased input, as the MLP runs it.

--markdown FILE writes the table under a line naming the command and the machine;
--update_readme writes exactly that between README.md's markers
<!-- benchmark:elementwise_codegen:begin --> / <!-- benchmark:elementwise_codegen:end -->.
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
from jax import lax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from benchmarks.train_throughput import csv  # noqa: E402
from mmjax.models.transformer import gelu  # noqa: E402
from mmjax.reproduce import tables  # noqa: E402
# host_memory must act before jax's backend starts; importing jax does not start it.
from mmjax.train import host_memory  # noqa: E402

# name -> (the operand the loop broadcasts besides x, the expression of x [rows, width] and
# b [width])
EXPRESSIONS = {
    "x*2": ("a scalar", lambda x, b: x * 2),
    "erf(x)": ("none", lambda x, b: lax.erf(x)),
    "erf(x)+x": ("none", lambda x, b: lax.erf(x) + x),
    "erf(x)+1": ("a scalar", lambda x, b: lax.erf(x) + 1),
    "erf(x+b)": ("the bias", lambda x, b: lax.erf(x + b)),
    "exp(x)": ("none", lambda x, b: jnp.exp(x)),
    "exp(x/2)": ("a scalar", lambda x, b: jnp.exp(x / 2)),
    "gelu(x+b)": ("the bias, scalars", lambda x, b: gelu(x + b)),
}


COLUMNS = (("expression", "expression", "{}"), ("broadcast operand", "broadcast", "{}"),
           ("float32 out ms", "float32_ms", "{:.2f}"), ("bf16 out ms", "bfloat16_ms", "{:.2f}"),
           ("bf16 / float32", "ratio", "{:.2f}x"))
OUTPUT_FLAGS = ("--markdown", "--update_readme", "--readme", "--block")


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--expressions", type=csv("expressions", tuple(EXPRESSIONS)),
                 default=",".join(EXPRESSIONS))
  p.add_argument("--shape", type=csv("shape", cast=int), default="8320,1024",
                 help="rows,width of x")
  p.add_argument("--repeats", type=int, default=15)
  tables.add_readme_flags(p, "elementwise_codegen", os.path.join(ROOT, "README.md"))
  args = p.parse_args(argv)
  if len(args.shape) != 2 or min(args.shape) < 1 or args.repeats < 1:
    p.error("valid: --shape ROWS,WIDTH (both >= 1), --repeats >= 1")
  return args


def best_ms(fn, *args, repeats: int) -> float:
  """The fastest of `repeats` runs of jit(fn)(*args) after one warm-up run, in ms."""
  compiled = jax.jit(fn).lower(*args).compile()
  jax.block_until_ready(compiled(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
  return min(times) * 1e3


def measure(name: str, shape, repeats: int) -> dict:
  """One row: `name`'s expression writing float32 and writing bf16."""
  broadcast, fn = EXPRESSIONS[name]
  x = jax.random.normal(jax.random.key(0), tuple(shape), jnp.float32)
  b = jnp.linspace(-0.1, 0.1, shape[1], dtype=jnp.float32)
  ms = {dtype: best_ms(lambda x, b: fn(x, b).astype(dtype), x, b, repeats=repeats)
        for dtype in ("float32", "bfloat16")}
  return {"expression": name, "broadcast": broadcast, "float32_ms": ms["float32"],
          "bfloat16_ms": ms["bfloat16"], "ratio": ms["bfloat16"] / ms["float32"]}


def main(argv=None):
  args = parse(argv)
  tables.check_readme_block(args)
  # Else each run's fresh output buffer is faulted in page by page, and the float32 column
  # (twice the bytes) measures that more than the loop.
  host_memory.keep_freed_memory()
  rows = [measure(name, args.shape, args.repeats) for name in args.expressions]
  table = tables.markdown_table(rows, COLUMNS)
  print(table)
  argv = sys.argv[1:] if argv is None else argv
  command = tables.shown_command("python benchmarks/elementwise_codegen.py", argv, OUTPUT_FLAGS)
  tables.write_benchmark(args, f"`{command}` on {tables.machine()}:\n\n{table}\n", rows)


if __name__ == "__main__":
  main()
