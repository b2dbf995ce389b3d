"""Runs one target's command as a subprocess in its own workdir, or skips it when done.

`<workdir>/reproduce.json` records the command, the code that ran it (`provenance`), whether it
finished, the wall time summed over attempts (an interrupted run resumes from its checkpoint, so
its time so far still counts) and the mean 1-minute load average while it ran;
`<workdir>/reproduce.log` holds its output. A run of other code is stale: `set_aside` moves it
to `<workdir>.stale-<its tree hash>` (kept, never deleted) so the run starts afresh.
"""

import json
import os
import signal
import subprocess
import time


class ReproduceError(RuntimeError):
  """A target cannot run here; the message says why and what to do."""


def read_record(workdir: str) -> dict:
  path = os.path.join(workdir, "reproduce.json")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def update_record(workdir: str, **fields):
  """Adds `fields` to the workdir's reproduce.json (e.g. that its results wrote README)."""
  _write_record(workdir, {**read_record(workdir), **fields})


def _write_record(workdir: str, record: dict):
  tmp = os.path.join(workdir, "reproduce.json.tmp")
  with open(tmp, "w") as f:
    json.dump(record, f, indent=2)
  os.replace(tmp, os.path.join(workdir, "reproduce.json"))


def check_workdir(workdir: str, command: list):
  """A workdir holding another command's run (say a --cheap one) would resume the wrong
  checkpoint: refuse before anything runs."""
  old = read_record(workdir).get("command")
  if old is not None and old != command[1:]:
    raise ReproduceError(
        f"{workdir} holds a run of another command:\n  {' '.join(old)}\nnot\n  "
        f"{' '.join(command[1:])}\n(--cheap and full runs need separate --workdir); delete it "
        "or choose another --workdir.")


def is_stale(workdir: str, code: dict) -> bool:
  """The workdir holds (part of) a run of other code than `code`, or of unrecorded code."""
  return os.path.isdir(workdir) and bool(os.listdir(workdir)) and \
      read_record(workdir).get("code") != code


def set_aside(workdir: str) -> str:
  """Renames a stale workdir to `<workdir>.stale-<tree hash>[-n]` and returns the new path: its
  checkpoint must not be resumed by other code, and nothing a user made is deleted."""
  tree = (read_record(workdir).get("code") or {}).get("tree", "unrecorded")[:12]
  target, n = f"{workdir.rstrip(os.sep)}.stale-{tree}", 1
  while os.path.exists(target):
    n += 1
    target = f"{workdir.rstrip(os.sep)}.stale-{tree}-{n}"
  os.rename(workdir, target)
  return target


def is_done(workdir: str, done_file: str, code: dict) -> bool:
  record = read_record(workdir)
  return (record.get("finished", False) and record.get("code") == code
          and os.path.exists(os.path.join(workdir, done_file)))


def _stop(proc):
  """Ctrl-C for the child once (the trainer saves a checkpoint and exits); a second Ctrl-C
  here, or 10 minutes, kills it."""
  proc.send_signal(signal.SIGINT)
  try:
    proc.wait(timeout=600)
  except (KeyboardInterrupt, subprocess.TimeoutExpired):
    proc.kill()
    proc.wait()


def run(command: list, workdir: str, done_file: str, cwd: str, code: dict,
        poll_seconds: float = 5.0) -> dict:
  """Runs `command` (its python first) to completion and returns the updated record; `code` is
  `provenance.code_version` of the code it runs."""
  os.makedirs(workdir, exist_ok=True)
  record = read_record(workdir)
  record.update(command=command[1:], code=code, finished=False,
                attempts=record.get("attempts", 0) + 1)
  _write_record(workdir, record)
  loads, start = [os.getloadavg()[0]], time.monotonic()
  with open(os.path.join(workdir, "reproduce.log"), "a") as log:
    log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} attempt {record['attempts']}: "
              f"{' '.join(command)}\n")
    log.flush()
    # Its own session: a terminal Ctrl-C reaches only us, and we pass on exactly one.
    proc = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
      while True:
        try:
          proc.wait(timeout=poll_seconds)
          break
        except subprocess.TimeoutExpired:
          loads.append(os.getloadavg()[0])
    finally:
      if proc.poll() is None:
        _stop(proc)
      elapsed, before = time.monotonic() - start, record.get("wall_seconds", 0.0)
      load = sum(loads) / len(loads)
      record.update(
          wall_seconds=before + elapsed, returncode=proc.returncode,
          finished=proc.returncode == 0 and os.path.exists(os.path.join(workdir, done_file)),
          mean_load=(record.get("mean_load", load) * before + load * elapsed)
          / max(before + elapsed, 1e-9))
      _write_record(workdir, record)
  return record


def follow_up(command: list, workdir: str, cwd: str) -> int:
  """Runs a finished run's follow-up command (spec.FollowUp, seconds long), its output
  appended to the run's reproduce.log; returns its exit code."""
  with open(os.path.join(workdir, "reproduce.log"), "a") as log:
    log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} then: {' '.join(command)}\n")
    log.flush()
    return subprocess.run(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT).returncode


def log_tail(workdir: str, lines: int = 15) -> str:
  path = os.path.join(workdir, "reproduce.log")
  if not os.path.exists(path):
    return ""
  with open(path, errors="replace") as f:
    return "".join(f.readlines()[-lines:])
