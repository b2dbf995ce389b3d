"""Which code produced a run: the git commit and a hash of the files that decide its numbers.

The tree hash covers the library, the experiment scripts, the configs and the package pins
(`CODE_PATHS`), tracked or not, as they are on disk: an uncommitted edit changes it, a README or
test edit does not (writing README's tables, or the stored cheap values, must not make their
own runs stale). A run whose
recorded hash differs from the current one is stale: `python -m mmjax.reproduce` reruns it and
`--check` never compares it.
"""

import hashlib
import os
import subprocess
from typing import Optional

CODE_PATHS = ("mmjax", "experiments", "configs", "pyproject.toml")
# Written by `python -m mmjax.reproduce --cheap --update_expected`: measured values, not code.
NOT_CODE = ("mmjax/reproduce/cheap_expected.json",)


def _git(root: str, *args) -> Optional[str]:
  try:
    out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=60)
  except (OSError, subprocess.TimeoutExpired):
    return None
  return out.stdout if out.returncode == 0 else None


def code_files(root: str) -> list:
  """The relative paths under CODE_PATHS: git's tracked and untracked-but-not-ignored files
  when `root` is a git work tree (so caches and outputs never count), else every file but
  byte-code."""
  listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                *CODE_PATHS)
  if listed is not None:
    return sorted({p for p in listed.split("\0")
                   if p and p not in NOT_CODE and os.path.isfile(os.path.join(root, p))})
  paths = []
  for top in CODE_PATHS:
    full = os.path.join(root, top)
    if os.path.isfile(full):
      paths.append(top)
    for folder, dirs, files in os.walk(full):
      dirs[:] = [d for d in dirs if d != "__pycache__"]
      paths += [os.path.relpath(os.path.join(folder, f), root) for f in files
                if not f.endswith(".pyc")]
  return sorted(p for p in paths if p not in NOT_CODE)


def code_version(root: str) -> dict:
  """{"commit": HEAD's sha or None, "tree": sha256 of the code files' paths and bytes}."""
  digest = hashlib.sha256()
  for path in code_files(root):
    with open(os.path.join(root, path), "rb") as f:
      content = f.read()
    digest.update(f"{path}\0{len(content)}\0".encode())
    digest.update(content)
  commit = _git(root, "rev-parse", "HEAD")
  return {"commit": commit.strip() if commit else None, "tree": digest.hexdigest()}


def describe(version: Optional[dict]) -> str:
  if not version:
    return "unrecorded code (a run from before runs recorded their code)"
  commit = (version.get("commit") or "no git")[:10]
  return f"code tree {version['tree'][:12]} (commit {commit})"
