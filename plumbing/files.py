"""
Every file the project writes goes through atomic_write: a reader never sees half a file, whatever stops the writer.
"""

import hashlib
import json
import os
import tempfile


def atomic_write(path, write, check=None):
    """Create or replace the file at `path` all at once: `write(f)` fills a uniquely named temp file (opened
    "wb") in the same folder, `check(temp path)` may refuse it (by raising), and it is then renamed over `path`.
    A crash, or a concurrent writer, never leaves half a file. A failed write (a full disk, a read-only folder)
    raises ValueError naming the file. Returns the sha256 written."""
    d = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as e:
        raise ValueError(f"{path}: could not write it ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        if check:
            check(tmp)
        os.chmod(tmp, 0o644)                     # mkstemp makes it private; make it a normal file
        digest = file_hash(tmp)
        os.replace(tmp, path)
        return digest
    except OSError as e:
        raise ValueError(f"{path}: could not write it ({e.strerror or e}); any earlier file there is unchanged") from None
    finally:
        if os.path.exists(tmp):
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
