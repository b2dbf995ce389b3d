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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from benchmarks.train_throughput import csv  # noqa: E402  (no jax)
from mmjax.reproduce import tables  # noqa: E402  (imports no jax)
from mmjax.train import host_memory  # noqa: E402  (jax imported, its backend not started)

# expression -> the operand it broadcasts into the loop besides x (see `expression`)
BROADCAST = {"x*2": "a scalar", "erf(x)": "none", "erf(x)+x": "none", "erf(x)+1": "a scalar",
             "erf(x+b)": "the bias", "exp(x)": "none", "exp(x/2)": "a scalar",
             "gelu(x+b)": "the bias, scalars"}


def expression(name: str):
  """`name` as a function of x [rows, width] and b [width] (jax imported here, not at start)."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jax import lax  # pylint: disable=g-import-not-at-top
  from mmjax.models.transformer import gelu  # pylint: disable=g-import-not-at-top
  return {"x*2": lambda x, b: x * 2, "erf(x)": lambda x, b: lax.erf(x),
          "erf(x)+x": lambda x, b: lax.erf(x) + x, "erf(x)+1": lambda x, b: lax.erf(x) + 1,
          "erf(x+b)": lambda x, b: lax.erf(x + b), "exp(x)": lambda x, b: jnp.exp(x),
          "exp(x/2)": lambda x, b: jnp.exp(x / 2), "gelu(x+b)": lambda x, b: gelu(x + b)}[name]


COLUMNS = (("expression", "expression", "{}"), ("broadcast operand", "broadcast", "{}"),
           ("float32 out ms", "float32_ms", "{:.2f}"), ("bf16 out ms", "bfloat16_ms", "{:.2f}"),
           ("bf16 / float32", "ratio", "{:.2f}x"))
OUTPUT_FLAGS = ("--markdown", "--update_readme", "--readme", "--block")


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--expressions", type=csv("expressions", tuple(BROADCAST)),
                 default=",".join(BROADCAST))
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
  import jax  # pylint: disable=g-import-not-at-top
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
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  fn = expression(name)
  x = jax.random.normal(jax.random.key(0), tuple(shape), jnp.float32)
  b = jnp.linspace(-0.1, 0.1, shape[1], dtype=jnp.float32)
  ms = {dtype: best_ms(lambda x, b: fn(x, b).astype(dtype), x, b, repeats=repeats)
        for dtype in ("float32", "bfloat16")}
  return {"expression": name, "broadcast": BROADCAST[name], "float32_ms": ms["float32"],
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
