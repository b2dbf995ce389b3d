"""`python -m mmjax.reproduce`; see mmjax/reproduce/__init__.py."""

import signal
import sys

from mmjax.reproduce.cli import main


def _interrupt(signum, frame):
  raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: the running experiment saves first.


if __name__ == "__main__":
  signal.signal(signal.SIGTERM, _interrupt)
  try:
    sys.exit(main())
  except KeyboardInterrupt:
    print("Interrupted; rerun the same command to resume.", file=sys.stderr)
    sys.exit(130)
