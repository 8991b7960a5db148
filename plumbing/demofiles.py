"""
A demonstrations file, read and checked: everything a dataset handed to train.py must satisfy before training
starts (data.py describes the layout; none of this is in the paper). Any problem is a DataError, one line that
names the file.
"""

import os
import sys
import zipfile

import numpy as np

from plumbing.files import escaped


class DataError(ValueError):
    """A dataset file is missing, corrupt, or has the wrong keys/shapes. The message names the file."""


def load_demos(path, obs_dim=None, act_dim=None, extra=None):
    """Load and validate a dataset; raise DataError (one line naming the file) if anything is off.
    extra: optional dict {key: per-step width} of additional arrays that must be present (e.g. {'state': 5})."""
    arrays = read_npz(path)
    required = {"obs": obs_dim, "actions": act_dim, **(extra or {})}
    missing = [k for k in list(required) + ["episode_ends"] if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing key(s) {missing}; found {sorted(arrays)}")
    n = len(arrays["obs"]) if arrays["obs"].ndim else 0
    if n == 0:
        raise DataError(f"{path}: holds no steps ('obs' is empty)")
    for key, width in required.items():
        arrays[key] = check_steps(path, key, arrays[key], n, width)
    arrays["episode_ends"] = check_episode_ends(path, arrays["episode_ends"], n)
    if "seeds" in arrays and arrays["seeds"].shape != arrays["episode_ends"].shape:
        raise DataError(f"{path}: 'seeds' has shape {arrays['seeds'].shape}, expected one per episode "
                        f"{arrays['episode_ends'].shape}")
    for key in ("obs", "actions"):                   # warnings for a file that passed: never before its error
        warn_outliers(path, key, arrays[key])
    return arrays


MAX_BYTES = 10 ** 9       # bytes the arrays of an .npz take as read (at least 8 a number: the checks widen them to
                          # float64; PushT's 48k steps: 10 MB); checked from the headers
MAX_MEMBERS = 64          # arrays an .npz may hold (ours: at most 6)


def check_sizes(path):
    """Each member of an .npz, before anything is decompressed: a .npy file (np.load reads any other member whole,
    as bytes) whose header declares at most MAX_BYTES in all, counted in bytes as read, at least 8 a number (a 1.9
    MB file may decompress to 2 GB of zeros; one string of 10^9 characters is one number and 4 GB; 10^9 int8 are
    1 GB stored and 8 GB once widened), at most MAX_MEMBERS of them. A file is a zip or
    a .npy as np.load decides, by its first bytes; a .npy is refused unread, and what is neither is left to np.load."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":                                    # np.load would read it (a .npz may hide one after it)
        raise DataError(f"{path}: not an .npz file of named arrays (it is one .npy array)")
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):     # np.load takes it as a pickle, and refuses it
        return
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return                                                   # np.load says what is wrong with it
    total = 0
    with z:
        if len(z.infolist()) > MAX_MEMBERS:                      # each is opened and read on its own
            raise DataError(f"{path}: {len(z.infolist())} members, more than MAX_MEMBERS = {MAX_MEMBERS} arrays "
                            f"(plumbing/demofiles.py)")
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                raise DataError(f"{path}: member '{info.filename}' is not a .npy array")
            try:
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(f, max_header_size=10_000)
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, NotImplementedError,
                    RuntimeError) as e:
                raise DataError(f"{path}: member '{info.filename}' is not a readable .npy array "
                                f"({type(e).__name__}: {e})") from None
            total += int(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 8)   # as read: cast, then float64
            if total > MAX_BYTES:
                raise DataError(f"{path}: '{info.filename}' declares {shape} of {dtype}: more than MAX_BYTES = "
                                f"{MAX_BYTES} bytes in the file (plumbing/demofiles.py)")


def read_npz(path):
    """Every array of an .npz file, by name (sizes checked first: check_sizes)."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: " + ("not a regular file" if os.path.exists(path) else "file not found"))
    check_sizes(path)
    arrays = None
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded as f:
                arrays = {key: f[key] for key in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if arrays is None:                                            # a .npy file: one array, no named ones
        raise DataError(f"{path}: not an .npz file of named arrays (it holds one {type(loaded).__name__})")
    return arrays


def check_steps(path, key, a, n, width):
    """A per-step array: (n, width) real numbers, finite; obs and actions as float32, checked after the cast."""
    if a.ndim != 2 or len(a) != n or (width is not None and a.shape[1] != width):
        raise DataError(f"{path}: '{key}' has shape {a.shape}, expected ({n}, {width if width is not None else 'D'})")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DataError(f"{path}: '{key}' has dtype {a.dtype}; expected real numbers (float or int)")
    cast = key in ("obs", "actions")
    if cast:
        with np.errstate(over="ignore"):
            a = a.astype(np.float32)                                  # training runs in float32
    if not np.all(np.isfinite(a)):
        raise DataError(f"{path}: '{key}' contains NaN or inf" + (" (after the cast to float32)" if cast else ""))
    return a


def check_episode_ends(path, ends, n):
    """Strictly increasing integers ending at n (compared in their own dtype: no wrap-around), as int64."""
    if ends.ndim != 1 or len(ends) == 0 or not np.issubdtype(ends.dtype, np.integer):
        raise DataError(f"{path}: 'episode_ends' must be a non-empty 1-D integer array, got {ends.shape} {ends.dtype}")
    if ends[0] <= 0 or np.any(ends[1:] <= ends[:-1]) or ends[-1] != n:
        raise DataError(f"{path}: 'episode_ends' must be strictly increasing and end at {n} (got last={ends[-1]})")
    return ends.astype(np.int64)


def warn_outliers(path, key, x, share=0.25):
    """One warning line per dimension where a single sample holds over `share` of the variance: the z-score
    normalisation (bet.BeT.fit_bins) would then squash every other sample towards one value."""
    d = x.astype(np.float64) - x.mean(0, dtype=np.float64)                   # (N, D)
    total = (d ** 2).sum(0)                                                  # (D,)
    worst = np.divide((d ** 2).max(0), total, out=np.zeros_like(total), where=total > 0)
    for dim in np.flatnonzero(worst > share):
        print(f"warning: {escaped(path)}: '{key}' dimension {dim} has an extreme outlier ({worst[dim]:.0%} of its variance "
              f"in one sample); normalisation will be dominated by it", file=sys.stderr)
