"""Runs a sweep's trials as subprocesses, `parallel` at a time, each in its own sub-workdir.

A trial is `python <experiment> --config <file>[:<preset>] --config.<key>=<value> ...
--workdir <workdir>/<trial name>`, run from the experiment's root. Its stdout / stderr are
appended to stdout.txt / stderr.txt there, attempt after attempt.

Resuming: a trial with results.json is skipped; any other is run again, and the trainer resumes
it from its newest checkpoint. A trial that exits non-zero (or exits 0 without results.json)
is recorded in <trial>/error.txt (exit code, command, stderr tail) and trials.jsonl, and the
sweep goes on. SIGTERM / SIGINT to the sweep are passed on once to the running trials, which
save a checkpoint and stop; no new trial starts. A second signal kills them.
"""

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque

from mmjax.sweep.spec import Sweep, SweepError, Trial

TAIL_LINES = 40
# A trainer stopped by SIGTERM / SIGINT saved its checkpoint and exits 128 + signal; one killed
# by the signal before the trainer started has a negative return code.
INTERRUPTED = {128 + signal.SIGTERM, 128 + signal.SIGINT, -signal.SIGTERM, -signal.SIGINT}


def trial_dir(workdir: str, trial: Trial) -> str:
  return os.path.join(workdir, trial.name)


def status(workdir: str, trial: Trial) -> str:
  """done (results.json), failed (error.txt), incomplete (started) or pending."""
  d = trial_dir(workdir, trial)
  if os.path.exists(os.path.join(d, "results.json")):
    return "done"
  if os.path.exists(os.path.join(d, "error.txt")):
    return "failed"
  return "incomplete" if os.path.exists(os.path.join(d, "stdout.txt")) else "pending"


def flag_value(value) -> str:
  """A Python value as ml_collections' config flags parse it for the field's type."""
  if isinstance(value, (tuple, list)):
    return repr(tuple(value))
  return value if isinstance(value, str) else repr(value)


def overrides_of(trial: Trial, cli_overrides: dict) -> dict:
  """Every --config.<key>=<text> of the trial: the spec's, then the command line's."""
  return {**{k: flag_value(v) for k, v in trial.overrides.items()}, **cli_overrides}


def command(sweep: Sweep, trial: Trial, workdir: str, cli_overrides: dict) -> list[str]:
  config = sweep.config_file + (f":{trial.preset}" if trial.preset else "")
  return [sys.executable, sweep.experiment, "--config", config,
          *[f"--config.{k}={v}" for k, v in overrides_of(trial, cli_overrides).items()],
          "--workdir", os.path.abspath(trial_dir(workdir, trial))]


def trial_record(trial: Trial, cli_overrides: dict) -> dict:
  """What trial.json keeps: what makes the trial what it is (paths excluded)."""
  return json.loads(json.dumps({"index": trial.index, "name": trial.name, "preset": trial.preset,
                                "values": trial.values,
                                "overrides": overrides_of(trial, cli_overrides)}))


def check_workdir(trials, workdir: str, cli_overrides: dict):
  """Refuses to mix trials made with other settings into this workdir, before anything runs."""
  for trial in trials:
    path = os.path.join(trial_dir(workdir, trial), "trial.json")
    if not os.path.exists(path):
      continue
    with open(path) as f:
      old = json.load(f)
    new = trial_record(trial, cli_overrides)
    if (old.get("preset"), old.get("overrides")) != (new["preset"], new["overrides"]):
      raise SweepError(
          f"{os.path.dirname(path)} was made with other settings (preset {old.get('preset')!r},"
          f" overrides {old.get('overrides')}; now preset {new['preset']!r}, overrides "
          f"{new['overrides']}). Use another --workdir, or delete that trial to redo it.")


def _append_jsonl(path: str, record: dict):
  # One write of one line: appends from parallel SLURM array tasks do not interleave.
  with open(path, "a") as f:
    f.write(json.dumps(record) + "\n")


def _tail(path: str, offset: int) -> str:
  with open(path, errors="replace") as f:
    f.seek(offset)
    return "".join(f.read().splitlines(keepends=True)[-TAIL_LINES:])


class _Running:
  """One trial's process and its log files."""

  def __init__(self, sweep, trial, workdir, cli_overrides, env):
    self.trial = trial
    self.dir = trial_dir(workdir, trial)
    os.makedirs(self.dir, exist_ok=True)
    with open(os.path.join(self.dir, "trial.json"), "w") as f:
      json.dump(trial_record(trial, cli_overrides), f, indent=2)
    self.cmd = command(sweep, trial, workdir, cli_overrides)
    header = f"==== {_now()} {' '.join(self.cmd)}\n"
    self.out = open(os.path.join(self.dir, "stdout.txt"), "a")
    self.err = open(os.path.join(self.dir, "stderr.txt"), "a")
    for f in (self.out, self.err):
      f.write(header)
      f.flush()
    self.err_offset = self.err.tell()
    self.start = time.monotonic()
    # Its own session: a Ctrl-C in the terminal reaches the trial once, through the sweep.
    self.proc = subprocess.Popen(self.cmd, cwd=sweep.root, stdout=self.out, stderr=self.err,
                                 env=env, start_new_session=True)

  def finish(self, rc: int, stopping: bool) -> dict:
    self.out.close()
    self.err.close()
    seconds = round(time.monotonic() - self.start, 1)
    done = os.path.exists(os.path.join(self.dir, "results.json"))
    record = {"time": _now(), "index": self.trial.index, "name": self.trial.name,
              "returncode": rc, "seconds": seconds, "host": socket.gethostname()}
    error_file = os.path.join(self.dir, "error.txt")
    if rc == 0 and done:
      if os.path.exists(error_file):
        os.remove(error_file)  # an earlier attempt's error no longer applies.
      return dict(record, status="ok")
    if rc in INTERRUPTED or (stopping and rc != 0):
      return dict(record, status="interrupted")
    why = (f"exit code {rc}" if rc >= 0 else f"killed by signal {-rc}") if rc else \
        "exit code 0 but no results.json"
    tail = _tail(os.path.join(self.dir, "stderr.txt"), self.err_offset)
    with open(error_file, "w") as f:
      f.write(f"{why} after {seconds} s\ncommand: {' '.join(self.cmd)}\n"
              f"--- last {TAIL_LINES} lines of stderr ---\n{tail}")
    return dict(record, status="failed", error=why, stderr_tail=tail)


class _Forward:
  """While the sweep runs: the first SIGTERM / SIGINT is passed on as SIGTERM to the running
  trials (they checkpoint and stop) and no new trial starts; a second one kills them."""

  def __init__(self, running: dict):
    self.running, self.signum, self.count, self._sent, self._old = running, None, 0, {}, {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for s in (signal.SIGTERM, signal.SIGINT):
        self._old[s] = signal.signal(s, self._handle)
    return self

  def _handle(self, signum, frame):
    self.signum, self.count = signum, self.count + 1
    print(f"Signal {signum}: " + ("killing the running trials" if self.count > 1 else
                                  "stopping the running trials (they save a checkpoint)") +
          "; rerun the sweep to resume.", flush=True)
    self.forward()

  def forward(self):
    """Signals each running trial that has not had this stage's signal yet (the sweep loop
    calls this too: a trial may have started while the handler ran)."""
    if self.signum is None:
      return
    sig = signal.SIGKILL if self.count > 1 else signal.SIGTERM
    for r in list(self.running.values()):
      if self._sent.get(r.trial.name) != sig and r.proc.poll() is None:
        r.proc.send_signal(sig)
        self._sent[r.trial.name] = sig

  def __exit__(self, *exc):
    for s, h in self._old.items():
      signal.signal(s, h)


def _now() -> str:
  return datetime.datetime.now().isoformat(timespec="seconds")


CACHE_MAX_BYTES = 4 << 30


def child_env(workdir: str) -> dict:
  """The sweep's environment, with this mmjax first on the trials' import path and JAX's
  persistent compilation cache in <workdir>/xla_cache unless the environment names one: trials
  that differ only in seed (or in a value that is an input, not a shape) compile the same
  programs, which are then compiled once. A size bound turns on the cache's file lock, so trials
  running at once (--parallel, a SLURM array on a shared workdir) can share it."""
  env = dict(os.environ)
  here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
  if "JAX_COMPILATION_CACHE_DIR" not in env:
    env["JAX_COMPILATION_CACHE_DIR"] = os.path.join(os.path.abspath(workdir), "xla_cache")
    env.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(CACHE_MAX_BYTES))
  return env


def run(sweep: Sweep, trials, workdir: str, cli_overrides: dict, parallel: int = 1,
        log=print) -> tuple[dict, int | None]:
  """Runs the `trials` not yet done -> ({name: ok | skipped | failed | interrupted | not run},
  the signal that stopped the sweep or None)."""
  if parallel < 1:
    raise SweepError(f"--parallel={parallel}; valid: an integer >= 1.")
  check_workdir(trials, workdir, cli_overrides)
  os.makedirs(workdir, exist_ok=True)
  outcome, queue, running = {}, deque(), {}
  for t in trials:
    if status(workdir, t) == "done":
      outcome[t.name] = "skipped"
    else:
      queue.append(t)
  if outcome:
    log(f"{len(outcome)} trial(s) already done (results.json): skipped.")
  env, total, started = child_env(workdir), len(queue), 0
  with _Forward(running) as stop:
    while running or (queue and stop.signum is None):
      while queue and len(running) < parallel and stop.signum is None:
        trial = queue.popleft()
        started += 1
        log(f"[{started}/{total}] {trial.name}: started")
        running[trial.name] = _Running(sweep, trial, workdir, cli_overrides, env)
      stop.forward()
      finished = [(n, r, r.proc.poll()) for n, r in running.items() if r.proc.poll() is not None]
      for name, r, rc in finished:
        del running[name]
        record = r.finish(rc, stop.signum is not None)
        _append_jsonl(os.path.join(workdir, "trials.jsonl"), record)
        outcome[name] = record["status"]
        note = (f" ({record['error']}; see {os.path.join(r.dir, 'error.txt')})"
                if record["status"] == "failed" else "")
        log(f"  {name}: {record['status']} in {record['seconds']:.0f} s{note}")
      if not finished:
        time.sleep(0.1)
  for t in queue:
    outcome[t.name] = "not run"
  return outcome, stop.signum
