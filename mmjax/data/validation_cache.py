"""Which of a manifest's files decode, checked in threads and remembered beside the manifest.

  errors = check_files("data/train.jsonl", {("image", path): "imgs/0.jpg", ...}, file_error,
                       max_pixels=89_478_485)   # {("image", path): None or why it is bad}

The files that decode are recorded in a hidden `.<manifest name>.validated.json` (size and
modification time of each, keyed by the path as the manifest writes it, so the cache moves with
its folder): a later load decodes only new, changed or bad files (Flickr8k's 30,000 train rows
naming 6,000 JPEGs: 7.8 s cold, 0.4 s cached). A read-only folder just runs without the cache.
"""

import concurrent.futures
import contextlib
import json
import os
import tempfile
import time
from typing import Callable, Optional

from absl import logging

# Bumped when what validation checks changes, so older caches are not trusted (2: video).
CACHE_VERSION = 2
FILE_FIELDS = ("image", "audio", "video")
_warned_cache_dirs = set()  # folders whose cache could not be written, warned about once


def cache_path(manifest: str) -> str:
  """Where the validation cache of `manifest` lives: a hidden file beside it (hidden so that
  `validate data/*.json*` does not take it for a manifest)."""
  folder, name = os.path.split(os.path.abspath(manifest))
  return os.path.join(folder, f".{name}.validated.json")


def check_files(manifest: str, found: dict, file_error: Callable, max_pixels: Optional[int],
                workers: Optional[int] = None, enabled: bool = True) -> dict:
  """found: {(field, path): (the path as the manifest writes it, [size, mtime_ns])} of files
  that exist. Returns {(field, path): None if the file decodes, else the error}, decoding with
  file_error(field, path, max_pixels) in `workers` threads (None: one per CPU) the files the
  cache does not vouch for; with enabled=False the cache is neither read nor written."""
  start = time.perf_counter()
  # A file changed within a timestamp tick of being stat-ed could keep its size and mtime:
  # files this young are decoded but not cached (git's "racy" rule; 2 s covers FAT and NFS).
  racy = time.time_ns() - 2_000_000_000
  old = read(manifest, max_pixels) if enabled else {}
  new = {k: {} for k in FILE_FIELDS}
  errors, decode = {}, []
  for (field, path), (key, size_mtime) in found.items():
    if old.get(field, {}).get(key) == size_mtime:
      errors[field, path] = None
      new[field][key] = size_mtime
    else:
      decode.append((field, path))
  workers = workers or os.cpu_count() or 1
  check = lambda fp: file_error(fp[0], fp[1], max_pixels)
  if workers <= 1 or len(decode) <= 1:
    results = [check(fp) for fp in decode]
  else:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      results = list(pool.map(check, decode, chunksize=16))
  for (field, path), error in zip(decode, results):
    errors[field, path] = error
    # Only files that decode are cached: a bad one is decoded again next time, so its message
    # names the file where it is now.
    key, size_mtime = found[field, path]
    if error is None and size_mtime[1] < racy:
      new[field][key] = size_mtime
  if enabled and new != {k: old.get(k, {}) for k in new}:
    write(manifest, max_pixels, new)
  if found:
    logging.info("manifest %s: %d files checked (%d decoded with %d workers, %d cached) in "
                 "%.1fs", manifest, len(found), len(decode), workers, len(found) - len(decode),
                 time.perf_counter() - start)
  return errors


def read(manifest: str, max_pixels: Optional[int]) -> dict:
  """The cache's {field: {path as the manifest writes it: [size, mtime_ns]}}, or {} if absent,
  unreadable, of another version or made with another max_pixels."""
  try:
    with open(cache_path(manifest), encoding="utf-8") as f:
      cache = json.load(f)
  except FileNotFoundError:
    return {}
  except (OSError, ValueError) as e:
    logging.warning("manifest %s: ignoring unreadable validation cache %s (%s); revalidating.",
                    manifest, cache_path(manifest), e)
    return {}
  if (not isinstance(cache, dict) or cache.get("version") != CACHE_VERSION
      or cache.get("max_pixels") != max_pixels
      or not all(isinstance(cache.get(k), dict) for k in FILE_FIELDS)):
    return {}
  return {k: cache[k] for k in FILE_FIELDS}


def write(manifest: str, max_pixels: Optional[int], files: dict):
  """Writes a temporary file and renames it over the cache, so a killed run leaves the old
  cache or the new one, never half of one."""
  path = cache_path(manifest)
  folder = os.path.dirname(path)
  tmp = None
  try:
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      json.dump({"version": CACHE_VERSION, "max_pixels": max_pixels, **files}, f,
                separators=(",", ":"))
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from others sharing the dataset
    os.replace(tmp, path)
  except OSError as e:  # a read-only dataset folder: validate every run, say so once.
    if tmp is not None:
      with contextlib.suppress(OSError):
        os.remove(tmp)
    if folder not in _warned_cache_dirs:
      _warned_cache_dirs.add(folder)
      logging.warning("manifest %s: cannot write the validation cache %s (%s); every load "
                      "will decode every file.", manifest, path, e)
