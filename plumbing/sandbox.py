"""
A process for untrusted code: it runs as an unprivileged user of its own, sees only the folders it is given, and
talks to its parent through stdin and stdout alone. The coursework grader runs a student's code in one
(tools/coursework.py); nothing here knows about grading.

    box = sandbox.open_sandbox(uid=64100)                 # or raises CannotIsolate with the reason, before any work
    out, err, status = box.run(["python", "-I", "probe.py"], stdin=b"...", folders={"/grade/tree": tree})

Two views of the file system, both as root (the uid switch needs it):
    bwrap        bubblewrap (Debian/Ubuntu package `bubblewrap`): new mount, PID, network, IPC and UTS namespaces;
                 the child sees /usr, the Python install, the given folders read-only and an empty /tmp of its own
                 (a size-limited tmpfs). When it ends, the kernel ends every process of its PID namespace.
    permissions  where bubblewrap cannot make namespaces (some containers): the child sees the real file system as
                 that user sees it, so what it must not read has to be unreadable to it (the Gradescope setup.sh
                 makes /autograder/source root-only); `check_cannot_read` verifies that before any work.
Both: the child runs under `setpriv` as `uid` with no groups, no capabilities and no_new_privs, under `prlimit`
limits (CPU time, memory, processes, file size, open files); after it, every process of `uid` is killed and, in
the permissions view, every file `uid` left in /tmp, /var/tmp and /dev/shm removed. Each concurrent child needs
a uid of its own (the kill is by uid).
"""

import fcntl
import functools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import threading
import time

LIMITS = {"cpu": 120, "as": 6 << 30, "nproc": 256, "fsize": 64 << 20, "nofile": 512, "core": 0}   # prlimit's names
TMP_BYTES = 256 << 20        # the child's own /tmp (bwrap view)
OUT_BYTES = 64 << 20         # what the parent reads of the child's stdout at most
ERR_BYTES = 16 << 10         # the tail of its stderr the parent keeps
USER_PREFIX = "bet-student"  # a uid that has a name must have one of ours (setup.sh makes bet-student0, 1, ...)


class CannotIsolate(RuntimeError):
    pass


def open_sandbox(uid, view="auto"):
    """A Sandbox for `uid`, after checking that it can isolate: root, setpriv and prlimit present, the uid free
    for us, and (view 'auto') bubblewrap working, else the permissions view. Raises CannotIsolate(reason)."""
    if os.geteuid() != 0:
        raise CannotIsolate("isolating a submission needs root (to run it as another user); run as root or with sudo")
    for tool in ("setpriv", "prlimit"):
        if shutil.which(tool) is None:
            raise CannotIsolate(f"{tool} (util-linux) is not installed")
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = None
    if name is not None and not name.startswith(USER_PREFIX):
        raise CannotIsolate(f"uid {uid} belongs to '{name}'; choose a uid of no one's (the grader kills its processes)")
    if view == "auto":
        view = "bwrap" if bwrap_works() else "permissions"
    if view == "bwrap" and not bwrap_works():
        raise CannotIsolate("bubblewrap cannot make namespaces here (install the `bubblewrap` package, or run "
                            "where it is allowed)")
    return Sandbox(uid, view, claim(uid))


def claim(uid):
    """An exclusive lock on `uid` until Sandbox.close (or the process's end): the kill by uid would end another
    grader's sandbox using it. A root-only lock file, waited for with a note if another grade holds it."""
    try:                                                  # /run: root's alone (no sandbox can plant a file there)
        fd = os.open(f"/run/bet-sandbox-{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise CannotIsolate(f"cannot lock the sandbox uid {uid} in /run ({e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"note: waiting for another grade that uses the sandbox uid {uid}", file=sys.stderr, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@functools.lru_cache(maxsize=None)
def bwrap_works():
    """Whether bubblewrap can make its namespaces here (asked once per process)."""
    if shutil.which("bwrap") is None:
        return False
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "--proc", "/proc", "true"]
    return subprocess.run(args, capture_output=True, timeout=30).returncode == 0


class Sandbox:
    def __init__(self, uid, view, lock=None):
        self.uid, self.view, self.lock = uid, view, lock

    def close(self):
        """Kill what is left of the uid, then give the uid back."""
        self.end()
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None

    def command(self, argv, folders, cwd, env):
        """The full command line: prlimit, then bwrap's namespaces (bwrap view), then setpriv to the uid."""
        limits = ["prlimit", *[f"--{name}={value}" for name, value in LIMITS.items()], "--"]
        user = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs",
                "--bounding-set=-all", "--inh-caps=-all", "--"]
        if self.view == "permissions":
            return limits + user + argv
        box = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):      # merged-/usr symlinks, or real folders
            if os.path.islink(top):
                box += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                box += ["--ro-bind", top, top]
        box += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
        made = {"/", "/usr", "/tmp", "/proc", "/dev"}         # (the binds below may lie under /tmp: after it)
        for inside, host, writable in [(p, p, False) for p in python_folders()] + \
                                      [(inside, host, False) for inside, host in folders.items()]:
            parent, parts = "", os.path.dirname(inside).strip("/").split("/")
            for part in filter(None, parts):                             # every ancestor, readable by the uid
                parent += "/" + part
                if parent not in made:
                    box += ["--perms", "0755", "--dir", parent]
                    made.add(parent)
            box += ["--ro-bind", host, inside]
            made.add(inside)
        box += ["--chdir", cwd, "--clearenv"]
        for key, value in env.items():
            box += ["--setenv", key, value]
        return limits + box + ["--"] + user + argv

    def run(self, argv, stdin, folders, cwd, env, timeout):
        """Run argv in the sandbox; `folders` maps paths inside to host folders (read-only). Returns (stdout bytes,
        at most OUT_BYTES; the tail of stderr, text; 'exit N', 'killed by signal', or 'timed out after T s')."""
        command = self.command(argv, folders, cwd, env)
        if self.view == "permissions":
            for host in folders.values():
                make_readable(host, self.uid)
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=cwd if self.view == "permissions" else "/", start_new_session=True,
                                env=env if self.view == "permissions" else {"PATH": "/usr/bin:/bin"})
        out, err = bytearray(), bytearray()
        readers = [threading.Thread(target=drain, args=(proc.stdout, out, OUT_BYTES, False), daemon=True),
                   threading.Thread(target=drain, args=(proc.stderr, err, ERR_BYTES, True), daemon=True)]
        for r in readers:
            r.start()
        try:
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                code = proc.wait(timeout)
                status = f"exit {code}" if code >= 0 else "killed by signal"
            except subprocess.TimeoutExpired:
                status = f"timed out after {timeout} s"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.end()
            proc.wait()
        for r in readers:
            r.join(5)
        return bytes(out), err.decode("utf-8", "replace"), status

    def end(self):
        """Kill every process of the uid (by uid, not by group: setsid cannot escape it) and, in the permissions
        view, remove what the uid left in the shared temporary folders."""
        kill_user(self.uid)
        if self.view == "permissions":
            for folder in ("/tmp", "/var/tmp", "/dev/shm"):
                remove_owned(folder, self.uid)


def python_folders():
    """The Python install and the virtual environment the child runs, as real paths (read-only in the box)."""
    folders = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    if sys.prefix != os.path.realpath(sys.prefix):
        folders.add(sys.prefix)
    return sorted(f for f in folders if not f.startswith("/usr/") and f != "/usr")


def drain(stream, into, limit, keep_tail):
    """Read a pipe to its end, keeping at most `limit` bytes (the first, or with keep_tail the last)."""
    while True:
        chunk = stream.read1(1 << 16)
        if not chunk:
            return
        if keep_tail:
            into += chunk
            del into[:max(0, len(into) - limit)]
        elif len(into) < limit:
            into += chunk[:limit - len(into)]


def user_processes(uid):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/status") as f:
                    uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
            except (OSError, StopIteration):
                continue
            if str(uid) in uids:
                pids.append(int(name))
    return pids


def kill_user(uid, seconds=5.0):
    """SIGKILL every process whose real, effective or saved uid is `uid`, until none is left."""
    deadline = time.time() + seconds
    while (pids := user_processes(uid)) and time.time() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)


def remove_owned(folder, uid):
    """Remove the entries of `folder` (not below it: a folder of theirs goes whole) that `uid` owns."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            if os.lstat(path).st_uid != uid:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
        except OSError:
            pass


def make_readable(folder, uid):
    """Permissions view: `folder` readable by `uid` alone (owned by it, read-only: 0500 folders, 0400 files, so no
    other sandbox running at the same time can read it), and its ancestors traversable."""
    for base, dirs, files in os.walk(folder):
        os.chown(base, uid, uid), os.chmod(base, 0o500)
        for f in files:
            os.chown(os.path.join(base, f), uid, uid), os.chmod(os.path.join(base, f), 0o400)
    parent = os.path.dirname(folder)
    while parent not in ("/", ""):
        mode = os.stat(parent).st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o111)          # traverse only: the child cannot list what is beside it
        parent = os.path.dirname(parent)


def check_cannot_read(sandbox, paths, python, imports=()):
    """Permissions view: run a child that imports `imports` and tries to read each path; raise CannotIsolate
    naming the first it can read, or if it cannot run Python with those packages (a virtual environment in a
    folder the uid cannot reach runs the system's Python without them)."""
    probe = "".join(f"import {name}\n" for name in imports) + \
        "import sys\nfor p in sys.argv[1:]:\n    try:\n        open(p, 'rb').read(1); print(p)\n    except OSError: pass\n"
    out, err, status = sandbox.run([python, "-I", "-c", probe, *paths], b"", {}, "/", {"PATH": "/usr/bin:/bin"}, 60)
    if status != "exit 0":
        raise CannotIsolate(f"the sandbox user {sandbox.uid} cannot run {python}" +
                            (f" with {', '.join(imports)}" if imports else "") + f" ({status}: {err.strip()[-200:]})")
    readable = out.decode(errors="replace").split()
    if readable:
        raise CannotIsolate(f"the sandbox user {sandbox.uid} can read {readable[0]}; make it unreadable to others "
                            f"(chmod -R go-rwx) or install bubblewrap")
