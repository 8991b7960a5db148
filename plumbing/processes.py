"""
Worker processes that die with their parent: a pool's initializer, so that a killed run (kill -9, a crash) never
leaves workers that go on writing into its folder after it.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent():
    """Linux: SIGKILL this process when its parent ends (prctl PR_SET_PDEATHSIG); if the parent is already gone,
    end now. Elsewhere: nothing."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
