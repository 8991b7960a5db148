"""
Every file the project writes goes through atomic_write: a reader never sees half a file, whatever stops the writer.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import unicodedata


NAME_BYTES = 200      # the longest file or folder name an output may have: 255 less room for temporary names
PATH_BYTES = 3800     # the longest path an output may have: Linux's 4096 less room for the files put inside it


def check_creatable(path, flag):
    """A path this project may create: at most PATH_BYTES, every name at most NAME_BYTES, valid UTF-8 and with no
    control character (it is printed: an ESC would reach the terminal), and not a broken symbolic link or a loop.
    Not empty: '' is no file (os.path.abspath would take it for the current folder)."""
    if not path:
        raise ValueError(f"{flag}: an empty path; name the file to write")
    try:
        os.fsencode(path).decode("utf-8")                # its bytes (under a C locale too: c\xc3\xa9 is UTF-8)
    except UnicodeDecodeError:
        raise ValueError(f"{flag} {escaped(path)}: not a UTF-8 name; choose one that is") from None
    if has_control(path) or "\n" in path or "\r" in path:
        raise ValueError(f"{flag} {escaped(path)}: a control character in the name (it would reach the terminal "
                         f"raw); choose a name without one")
    full = os.path.abspath(path)
    if len(os.fsencode(full)) > PATH_BYTES:
        raise ValueError(f"{flag} {escaped(path)[:60]}...: the path is {len(os.fsencode(full))} bytes; at most {PATH_BYTES}")
    longest = max(full.split(os.sep), key=lambda p: len(os.fsencode(p)))
    if len(os.fsencode(longest)) > NAME_BYTES:
        raise ValueError(f"{flag} {path}: the name {longest[:40]}... is {len(os.fsencode(longest))} bytes; at most "
                         f"{NAME_BYTES}")
    part = full
    while part != os.path.dirname(part):           # the name and every folder above it
        if os.path.lexists(part) and not os.path.exists(part):
            raise ValueError(f"{flag} {path}: " + ("a broken symbolic link or a loop" if part == full
                                                    else f"{part} is a broken symbolic link or a loop"))
        part = os.path.dirname(part)


def check_writable_folder(path, flag):
    """The folder `path` would be made in: its nearest existing ancestor is a folder we may write into (a read-only
    or immutable one fails only after the work, when the file is written)."""
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: not writable ({parent} does not allow it)")


def process_bytes(field):
    """A size /proc/self/status gives for this process, in bytes: VmData (the private writable memory RLIMIT_DATA
    limits), VmSize (the address space RLIMIT_AS limits). Linux only: elsewhere an OSError."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(f"{field}:"))


@contextlib.contextmanager
def memory_limited(more):
    """Within the block, at most `more` bytes of private memory beyond what the process holds as it starts
    (RLIMIT_DATA; a failed allocation is a MemoryError, or the reader's own error). For a reader that decodes before
    it can compare sizes: a 1 KB compressed chunk or checkpoint member can claim gigabytes. Linux, where /proc tells
    the memory held; elsewhere no limit. (RLIMIT_AS would count the address space that threads reserve and never
    use, which grows with the cores.)"""
    import resource
    try:
        limits, start = resource.getrlimit(resource.RLIMIT_DATA), process_bytes("VmData")
    except (OSError, StopIteration, ValueError, AttributeError):
        yield
        return
    caps = [cap for cap in limits if cap != resource.RLIM_INFINITY]
    resource.setrlimit(resource.RLIMIT_DATA, (min([start + more] + caps), limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, limits)


KINDS = {"a train.py run": ("model.pt", "train_log.json", "train_state.pt"), "a DAgger run": ("run.json", "demos.npz"),
         "an ablation table": ("ablations.json",)}     # the files that tell which script's outputs a folder holds
CACHES = ("demos.npz",)     # DAgger's cache of demonstrations: alone, a dataset of that name (check_not_anothers)


def check_folder_kind(folder, flag, kind):
    """A folder holds one script's outputs: refuse `folder` when it holds the files of another KINDS entry."""
    for other, names in KINDS.items():
        found = [n for n in names if os.path.exists(os.path.join(folder, n))]
        if other != kind and found:
            raise ValueError(f"{flag} {folder}: holds {other} ({found[0]}); write into another folder")


def check_not_anothers(path, flag, folder, own=None):
    """A file or figure `path` goes into `folder`, which holds no script's outputs (KINDS) unless it is `own` (the
    evaluated checkpoint's run folder, a DAgger run's --out): another run's files are that run's alone."""
    if own is not None and os.path.isdir(folder) and os.path.isdir(own) and os.path.samefile(folder, own):
        return
    for kind, names in KINDS.items():
        found = [n for n in names if n not in CACHES and os.path.exists(os.path.join(folder, n))]
        if found:
            raise ValueError(f"{flag} {path}: {folder} holds {kind} ({found[0]}); its files are that run's: write "
                             f"into another folder")


class _Control(dict):
    """str.translate's table of the characters a terminal acts on, each to its escape: the controls (Cc: C0 but tab,
    newline and return; DEL; C1, where \\x9b starts a sequence as ESC [ does), the invisible and direction-changing
    format characters (Cf: U+202E shows a name reversed, U+00AD, U+200B, tags) and the line and paragraph
    separators (Zl, Zp). Filled per character as unicodedata decides (no list to keep up to date)."""

    def __missing__(self, code):
        char = chr(code)
        if unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp") or char in "\t\n\r":
            self[code] = char
        else:
            self[code] = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
        return self[code]


CONTROL = _Control()


def has_control(text):
    return text.translate(CONTROL) != text


def escaped(text):
    """`text` printable whatever bytes a path put in it: the ones that are not UTF-8, and control characters (an
    ESC would start a terminal sequence), as \\xNN (\\uNNNN for a format character)."""
    try:
        text = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:                            # a lone surrogate that no byte stands for
        text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return text.translate(CONTROL)


@contextlib.contextmanager
def standard_output():
    """A script's stdout that never stops its work: characters the terminal's encoding lacks print escaped, and a
    reader that went away (`| head`) ends the script quietly with exit 141, as SIGPIPE would; a stdout that cannot
    be written (a full disk) is one error line."""
    if sys.stdout is None:                                # started with stdout closed (>&-): nothing to show
        sys.stdout = open(os.devnull, "w")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    stream, sys.stdout = sys.stdout, _Stdout(sys.stdout)
    try:
        yield
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())     # the exit's flush has nowhere to fail
        sys.exit(141)
    except StdoutFailed as e:                             # stdout on a full disk or /dev/full: one line, exit 2
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())          # the exit's flush has nowhere to fail
        print(f"error: could not write to standard output ({e})", file=sys.stderr)
        sys.exit(2)
    finally:
        sys.stdout = stream


class StdoutFailed(Exception):
    """A write to stdout failed other than by a closed pipe (a full disk): told apart from any other OSError."""


class _Stdout:
    """sys.stdout, which escapes control characters and bytes that are not UTF-8 (a path's: the terminal would act on
    an ESC) and whose failed writes raise StdoutFailed."""

    def __init__(self, stream):
        self._stream = stream

    def _do(self, action, *args):
        try:
            return action(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise StdoutFailed(e.strerror or e) from None

    def write(self, text):
        return self._do(self._stream.write, escaped(text))        # a path's ESC or undecodable byte, escaped

    def flush(self):
        return self._do(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def interrupted(message):
    """The one line a stopped script prints on stderr: after a newline on a terminal (off its ^C), alone elsewhere.
    The stop is under way: a second Ctrl-C or SIGTERM is ignored (it raised again while the workers were torn down)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    print(f"{chr(10) * sys.stderr.isatty()}interrupted: {one_line(message)}", file=sys.stderr)


def one_line(message):
    """A message with its newlines (from a path or a name) shown as \\n, so an error stays one line, and bytes
    that are not UTF-8 (a path's) and control characters as \\xNN (escaped), so it can always be printed."""
    return escaped(message).replace("\r", "\\r").replace("\n", "\\n")


def temp_prefix(path):
    """The prefix of `path`'s temporary files and folders: its name and the writer's pid, so that a later writer
    can tell what a killed writer left from what a running one is writing."""
    return f".{os.path.basename(path)}.{os.getpid()}."


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_writers_temps(path, keep=lambda leftover: False):
    """Remove the temporary files and folders beside `path` that writers of it left when killed (their pid is
    gone), unless keep(leftover) takes care of one (an export's earlier folder, say)."""
    folder, base = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    pattern = re.compile(re.escape(f".{base}.") + r"(\d+)\..*\.tmp")
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        found = pattern.fullmatch(name)
        leftover = os.path.join(folder, name)
        if found and not alive(int(found.group(1))) and not keep(leftover):
            shutil.rmtree(leftover, ignore_errors=True) if os.path.isdir(leftover) else os.remove(leftover)


@contextlib.contextmanager
def interrupts_deferred():
    """Within the block, Ctrl-C and SIGTERM wait for its end and are then delivered as usual. zarr (tools/datasets.py)
    reads and writes chunks in a thread of its own, which an interrupt of the main thread does not stop: removing a
    half-written folder would race its writes (and fail), and an exit in the middle prints asyncio's complaints. And
    a temporary file must have its name held before an interrupt can land, or nothing removes it."""
    if threading.current_thread() is not threading.main_thread():      # signal handlers belong to the main thread
        yield
        return
    caught = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
    if caught:
        signal.raise_signal(caught[0])


def atomic_write(path, write, check=None):
    """Create or replace the file at `path` all at once: `write(f)` fills a uniquely named temp file (opened
    "wb") in the same folder, `check(temp path)` may refuse it (by raising), and it is then renamed over `path`.
    A crash, or a concurrent writer, never leaves half a file. A failed write (a full disk, a read-only folder)
    raises ValueError naming the file. Returns the sha256 written."""
    d, tmp = os.path.dirname(os.path.abspath(path)), None
    try:
        os.makedirs(d, exist_ok=True)
        remove_dead_writers_temps(path)
        with interrupts_deferred():              # a file made is a file named, which `finally` removes
            fd, tmp = tempfile.mkstemp(dir=d, prefix=temp_prefix(path), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
        if check:
            check(tmp)
        os.chmod(tmp, 0o644)                     # mkstemp makes it private; make it a normal file
        digest = file_hash(tmp)
        os.replace(tmp, path)
        return digest
    except (OSError, RuntimeError) as e:
        if isinstance(e, RuntimeError):           # torch.save reports a full disk as its own error, after the OSError
            e = e.__context__
            if not isinstance(e, OSError):
                raise
        raise ValueError(f"{path}: could not write it ({e.strerror or e}); any earlier file there is unchanged") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, obj):
    """`obj` as indented JSON at `path`, written atomically."""
    return atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def write_text(path, text):
    return atomic_write(path, lambda f: f.write(text.encode()))


def file_hash(path):
    """sha256 of a file's bytes: ties a result to the exact checkpoint or dataset it came from."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
