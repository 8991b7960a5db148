"""
Imported first when a script starts (train.py, evaluate.py, `python -m tools.X`): a Ctrl-C or SIGTERM while torch
and the rest load ends the script with exit 130 and one line, as one during its work does. runs.cli takes over
once the script's main() runs.
"""

import os
import signal


def stop(signum, frame):
    """Exit at once: a half-imported torch or numpy must not run its exit handlers (they fail, loudly)."""
    os.write(2, b"\n" * os.isatty(2) + b"interrupted while starting: nothing was written\n")   # (off the ^C line)
    os._exit(130)


signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
