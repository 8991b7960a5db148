"""
Worker processes that die with their parent: a pool's initializer, so that a killed run (kill -9, a crash) never
leaves workers that go on writing into its folder after it. A worker started while its parent holds a run folder's
lock (runs.RunLock names it in LOCK_VARIABLE) adds its pid to the lock: the folder stays held until the last of them
has exited.
"""

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
# multiprocessing's resource tracker, a process started with the first pool, unlinks the pool's semaphores when a
# killed parent (kill -9) leaves them, and says so in a two-line warning: the cleanup is right, the warning is noise.
# It takes its warning filters from this process's -W options when it starts (see pool).
QUIET_TRACKER = "ignore:resource_tracker:UserWarning"
LOCK_VARIABLE = "BET_RUN_LOCK"     # the lock file of the run folder the parent holds (spawned workers inherit it)


def die_with_parent(parent=None):
    """Linux: SIGKILL this process when its parent ends (prctl PR_SET_PDEATHSIG); if the parent is already gone,
    end now. `parent`: the parent's pid as the parent saw it (pool passes it): a worker still importing when its
    parent was killed finds another process (the reaper) as its parent here, and ends. Elsewhere: nothing."""
    if not sys.platform.startswith("linux"):
        return
    parent = parent or os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to report (see pool)
    lock = os.environ.get(LOCK_VARIABLE)
    if lock:
        with open(lock, "a") as f:       # one short append: whole lines, never interleaved
            f.write(f"{os.getpid()}\n")


def pool(workers):
    """A spawn pool whose workers die with their parent (die_with_parent) and leave Ctrl-C to it: they start with
    SIGINT ignored (a disposition that survives exec, and that Python keeps), so a terminal's Ctrl-C, sent to every
    process of the group, is reported once, by the parent, even while the workers are still importing."""
    if QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(QUIET_TRACKER)
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return multiprocessing.get_context("spawn").Pool(workers, die_with_parent, (os.getpid(),))
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def pool_if_several(workers):
    """pool(workers) for more than one worker, else None (the caller runs its tasks itself). The pool is stopped
    when the block ends: its results are all in by then, or an error or Ctrl-C leaves its queued tasks unrun (a
    close and join would wait for them)."""
    running = pool(workers) if workers > 1 else None
    try:
        yield running
    finally:
        if running:
            running.terminate()
            running.join()
