"""Reports every bad row of manifests without training.

  python -m mmjax.data.validate data/train.jsonl data/val.jsonl data/test.jsonl

Each manifest is read as ManifestDataset reads it with on_bad_example="skip" (every file opened
and decoded, texts, labels and fields checked); each bad row is printed as `manifest:line
field: problem`, then a count per reason. Exits 1 when any row is bad or a manifest cannot be
read at all, 0 when every row is usable. Files found unchanged in a manifest's validation cache
are not decoded again (--no_cache decodes every file); --workers sets the decoding threads.
"""

import argparse
import collections
import sys

from mmjax.data.manifest import ManifestDataset


def validate(paths, max_pixels=None, out=None, workers=None, cache=True) -> int:
  """Prints the bad rows of each manifest in `paths` to `out` (default: sys.stdout, looked up
  at call time, since it can be replaced); returns how many rows (or unreadable manifests) were
  bad."""
  out = out or sys.stdout
  bad, reasons = 0, collections.Counter()
  for path in paths:
    try:
      ds = ManifestDataset(path, on_bad_example="skip", workers=workers, cache_validation=cache,
                           **({} if max_pixels is None else {"max_pixels": max_pixels}))
    except (OSError, ValueError) as e:  # the manifest itself: unreadable, unknown column, empty
      print(f"{path}: {e}", file=out)
      bad += 1
      reasons["unreadable_manifest"] += 1
      continue
    for line, field, message in ds.skipped_rows:
      print(f"{path}:{line} {field or '-'}: {message.split(': ', 1)[-1]}", file=out)
    n_bad = sum(ds.skipped.values())
    print(f"{path}: {len(ds)} usable rows, {n_bad} bad", file=out)
    bad += n_bad
    reasons.update(ds.skipped)
  if reasons:
    print("bad rows by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())),
          file=out)
  return bad


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m mmjax.data.validate", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("manifests", nargs="+", help=".jsonl or .csv manifests")
  parser.add_argument("--max_pixels", type=int, default=None,
                      help="images with more pixels are bad rows (default: ManifestDataset's)")
  parser.add_argument("--workers", type=int, default=None,
                      help="threads decoding files (default: one per CPU)")
  parser.add_argument("--no_cache", action="store_true",
                      help="decode every file, ignoring and not writing the validation cache")
  args = parser.parse_args(argv)
  sys.exit(1 if validate(args.manifests, args.max_pixels, workers=args.workers,
                         cache=not args.no_cache) else 0)


if __name__ == "__main__":
  main()
