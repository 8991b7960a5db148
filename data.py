"""
Demonstration datasets: one .npz file per environment, and the training windows cut from it.

File format (the same layout as Diffusion Policy's zarr replay buffer):
    obs           (N, obs_dim)  float32, every step of every episode, concatenated
    actions       (N, act_dim)  float32
    episode_ends  (E,)          int64, cumulative: episode i is rows [ends[i-1], ends[i])
    seeds         (E,)          int64, the env reset seed of each episode
    ...any extra per-step arrays of length N (e.g. PushT's `state`)

Collection runs a scripted expert's `demo_episode(seed)` over seeds seed, seed+1, ...,
optionally in parallel processes, and keeps only the successful episodes.
"""

import argparse
import contextlib
import hashlib
import json
import os
import signal
import sys
import time
import zipfile
import tempfile
import multiprocessing as mp

import numpy as np

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class DataError(ValueError):
    """A dataset file is missing, corrupt, or has the wrong keys/shapes. The message names the file."""


def default_path(env_name):
    return os.path.join(DATA_DIR, f"{env_name}.npz")


def atomic_write(path, write):
    """Create or replace the file at `path` all at once: `write(f)` fills a uniquely named temp file (opened
    "wb") in the same folder, which is then renamed over `path`. A crash, or a concurrent writer, never leaves
    half a file, and no temp file is left behind. Used for every checkpoint, dataset and JSON the project writes.
    Returns the sha256 of the bytes written (see file_hash)."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)                     # mkstemp makes it private; make it a normal file
        digest = file_hash(tmp)
        os.replace(tmp, path)
        return digest
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, obj):
    """`obj` as indented JSON at `path`, written atomically."""
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def save_demos(path, arrays):
    """Write `arrays` (dict of numpy arrays) to `path` as a compressed .npz, atomically."""
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def load_demos(path, obs_dim=None, act_dim=None, extra=None):
    """Load and validate a dataset; raise DataError (one clear line naming the file) if anything is off.

    extra: optional dict {key: per-step width} of additional arrays that must be present (e.g. {'state': 5}).
    """
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded as f:
                arrays = {key: f[key] for key in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):          # a .npy file: one array, no named ones
        raise DataError(f"{path}: not an .npz file of named arrays (it holds one {type(loaded).__name__})")
    required = {"obs": obs_dim, "actions": act_dim, **(extra or {})}
    missing = [k for k in list(required) + ["episode_ends"] if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing key(s) {missing}; found {sorted(arrays)}")
    n = len(arrays["obs"])
    if n == 0:
        raise DataError(f"{path}: holds no steps ('obs' is empty)")
    for key, width in required.items():
        a = arrays[key]
        if a.ndim != 2 or len(a) != n or (width is not None and a.shape[1] != width):
            want = f"({n}, {width if width is not None else 'D'})"
            raise DataError(f"{path}: '{key}' has shape {a.shape}, expected {want}")
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise DataError(f"{path}: '{key}' has dtype {a.dtype}; expected real numbers (float or int)")
        if key in ("obs", "actions"):
            with np.errstate(over="ignore"):
                a = arrays[key] = a.astype(np.float32)             # training runs in float32: check after the cast
        if not np.all(np.isfinite(a)):
            raise DataError(f"{path}: '{key}' contains NaN or inf" + (" (after the cast to float32)" if key in ("obs", "actions") else ""))
    for key in ("obs", "actions"):
        warn_outliers(path, key, arrays[key])
    ends = arrays["episode_ends"]
    if ends.ndim != 1 or len(ends) == 0 or not np.issubdtype(ends.dtype, np.integer):
        raise DataError(f"{path}: 'episode_ends' must be a non-empty 1-D integer array, got {ends.shape} {ends.dtype}")
    if ends[0] <= 0 or np.any(np.diff(ends) <= 0) or ends[-1] != n:
        raise DataError(f"{path}: 'episode_ends' must be strictly increasing and end at {n} (got last={ends[-1]})")
    if "seeds" in arrays and arrays["seeds"].shape != ends.shape:
        raise DataError(f"{path}: 'seeds' has shape {arrays['seeds'].shape}, expected one per episode {ends.shape}")
    arrays["episode_ends"] = ends.astype(np.int64)
    return arrays


def warn_outliers(path, key, x, share=0.25):
    """One warning line per dimension where a single sample holds over `share` of the variance: the z-score
    normalisation (bet.BeT.fit_bins) would then squash every other sample towards one value."""
    d = x.astype(np.float64) - x.mean(0, dtype=np.float64)                   # (N, D)
    total = (d ** 2).sum(0)                                                  # (D,)
    worst = np.divide((d ** 2).max(0), total, out=np.zeros_like(total), where=total > 0)
    for dim in np.flatnonzero(worst > share):
        print(f"warning: {path}: '{key}' dimension {dim} has an extreme outlier ({worst[dim]:.0%} of its variance "
              f"in one sample); normalisation will be dominated by it", file=sys.stderr)


def cli(main):
    """Run a script's main() the way every script here ends: the errors bad input raises (ValueError, DataError
    included, and FileNotFoundError) print one `error:` line and exit with code 2; any other error is a bug
    and keeps its traceback."""
    try:
        main()
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def holds_demos(path, obs_dim, act_dim):
    """Whether `path` is a valid dataset with these observation and action widths (see load_demos)."""
    try:
        load_demos(path, obs_dim, act_dim)
    except DataError:
        return False
    return True


LARGEST = 2 ** 31 - 1     # no count or seed here is larger; beyond it seeds overflow in torch and numpy


def check_at_least(*checks):
    """Raise ValueError for the first (flag, value, least) with value < least or > LARGEST; a None value (flag not
    given) passes."""
    for flag, value, least in checks:
        if value is not None and value < least:
            raise ValueError(f"{flag} must be at least {least} (got {value})")
        if value is not None and value > LARGEST:
            raise ValueError(f"{flag} must be at most {LARGEST} (got {value})")


def check_threads(threads, flag="--threads"):
    """More torch threads than the machine's cores only slow the work down (and absurd counts crash torch)."""
    cores = os.cpu_count() or 1
    if threads is not None and threads > cores:
        raise ValueError(f"{flag} {threads}: this machine has {cores} cores")


def check_workers(workers, flag="--workers"):
    """Worker processes beyond a few per core only add start-up time and memory (each imports torch)."""
    cores = os.cpu_count() or 1
    if workers is not None and workers > 4 * cores:
        raise ValueError(f"{flag} {workers}: at most {4 * cores} on this machine ({cores} cores)")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a bad flag raises ValueError, so it ends in one `error:` line (see cli) like any
    other bad input, instead of the usage text and a second message."""

    def error(self, message):
        raise ValueError(f"{message} (see {self.prog} --help)")


def existing_json(path, why):
    """The JSON object at `path`, or None if there is no file; ValueError naming the file, and `why` its content
    matters, if it is anything else."""
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            old = json.load(f)
    except (ValueError, UnicodeDecodeError, RecursionError, IsADirectoryError):
        old = None
    if not isinstance(old, dict):
        raise ValueError(f"{path}: exists and is not a JSON object ({why})")
    return old


def check_png_output(path, flag):
    """A figure may replace a PNG image only: raise ValueError if `path` is not a new .png or an existing PNG."""
    check_output_file(path, flag)
    if not path.endswith(".png"):
        raise ValueError(f"{flag} {path}: must end in .png")
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                raise ValueError(f"{flag} {path}: exists and is not a PNG image; not overwriting it")


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """Within the block, SIGTERM (a killed job) raises KeyboardInterrupt, so it stops the way Ctrl-C does."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def check_output_dir(path, flag="--out"):
    """Raise ValueError unless `path` is, or can be created as, a writable directory (checked before any work)."""
    if not path:
        raise ValueError(f"{flag} must not be empty")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path}: exists and is not a directory")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: not writable ({parent} does not allow it)")


def check_output_file(path, flag, keep=()):
    """Raise ValueError unless `path` can be written as a new file or replace a file of its own kind: not a
    directory, not one of the files in `keep` (e.g. the checkpoint being evaluated), in a writable folder."""
    if os.path.isdir(path):
        raise ValueError(f"{flag} {path}: is a directory")
    for other in keep:
        if os.path.exists(path) and os.path.exists(other) and os.path.samefile(path, other):
            raise ValueError(f"{flag} {path}: would overwrite {other}")
    check_output_dir(os.path.dirname(os.path.abspath(path)), flag)


class RunLock:
    """Claim a run folder for one process (a `.lock` file holding its pid, created exclusively), so two runs
    never write into the same folder at once. A lock left by a process that no longer exists is taken over."""

    def __init__(self, folder):
        self.path = os.path.join(folder, ".lock")

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(open(self.path).read() or 0)
                    os.kill(pid, 0)              # raises if no such process: the lock is stale
                except (ValueError, ProcessLookupError, FileNotFoundError):
                    if os.path.exists(self.path):
                        os.remove(self.path)
                    continue
                except PermissionError:          # the process exists but is someone else's
                    pass
                raise ValueError(f"{os.path.dirname(self.path)} is in use by another run (pid {pid})") from None
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise ValueError(f"{os.path.dirname(self.path)}: could not claim the folder")

    def __exit__(self, *exc):
        if os.path.exists(self.path):
            os.remove(self.path)


def file_hash(path):
    """sha256 of a file's bytes: ties a result to the exact checkpoint or dataset it came from."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def window_index(episode_ends, context):
    """Index array (N, context) of the window ending at *every* step of every episode, the last one included.

    Row t holds the steps t-context+1 .. t; steps before the episode start are clamped to the
    episode's first step (the same left-padding the rollout history uses at an episode start).
    Training gathers a batch with tensor indexing: obs[index[batch_rows]] -> (B, context, obs_dim).
    """
    # Exercise windows (Algorithm 1): one row per step of every episode; steps before the episode's start
    # repeat its first step, so no window crosses into the previous episode.
    ### BEGIN SOLUTION windows
    ends = np.asarray(episode_ends, dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    n = int(ends[-1])
    episode_start = np.repeat(starts, ends - starts)                # (N,) first step of each row's episode
    t = np.arange(n)[:, None] + np.arange(-context + 1, 1)[None]   # (N, context)
    return np.maximum(t, episode_start[:, None])
    ### END SOLUTION


def split_episodes(arrays):
    """List of per-episode dicts from a loaded dataset (for plots and replay checks)."""
    ends = arrays["episode_ends"]
    starts = np.concatenate([[0], ends[:-1]])
    n = len(arrays["obs"])
    keys = [k for k, v in arrays.items() if v.ndim >= 1 and len(v) == n]
    return [{k: arrays[k][s:e] for k in keys} for s, e in zip(starts, ends)]


def join_episodes(episodes):
    """The inverse of split_episodes: one dataset (per-step arrays, episode_ends) from a list of episodes."""
    keys = episodes[0].keys()
    out = {k: np.concatenate([e[k] for e in episodes]) for k in keys}
    out["episode_ends"] = np.cumsum([len(e["obs"]) for e in episodes]).astype(np.int64)
    return out


def _run(args):
    episode_fn, seed = args
    return seed, episode_fn(seed)


def collect(episode_fn, n_episodes, seed=0, workers=1, max_attempts=None, log=print):
    """Run `episode_fn(seed) -> dict(obs, actions, ..., success)` on seeds seed, seed+1, ... until
    `n_episodes` successes (or `max_attempts` tries). Keeps only successes, in seed order, so the
    result is bit-for-bit reproducible for any number of workers. Returns the arrays to save.
    `episode_fn` must be a module-level function (it is sent to worker processes)."""
    max_attempts = max_attempts or 2 * n_episodes + 10
    kept, failures, tried, t0 = [], 0, 0, time.time()
    pool = mp.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        next_seed = seed
        while len(kept) < n_episodes and tried < max_attempts:
            chunk = min(n_episodes - len(kept), max_attempts - tried)
            jobs = [(episode_fn, s) for s in range(next_seed, next_seed + chunk)]
            next_seed += chunk
            results = pool.imap(_run, jobs) if pool else map(_run, jobs)
            for s, ep in results:
                tried += 1
                if ep.pop("success"):
                    kept.append((s, ep))
                else:
                    failures += 1
                if tried % max(1, n_episodes // 20) == 0 or len(kept) == n_episodes:
                    rate = (tried - failures) / tried
                    eta = (time.time() - t0) / tried * max(0, n_episodes - len(kept)) / max(rate, 1e-3)
                    log(f"collect: {tried} episodes, {len(kept)} kept, success {rate:.1%}, eta {eta:.0f}s")
                    sys.stdout.flush()
    finally:
        if pool:
            pool.close()
            pool.join()
    log(f"collect: done, {len(kept)} successful episodes kept, {failures} failures out of {tried} tried")
    kept = kept[:n_episodes]
    keys = kept[0][1].keys()
    out = {k: np.concatenate([ep[k] for _, ep in kept]) for k in keys}
    out["episode_ends"] = np.cumsum([len(ep["obs"]) for _, ep in kept]).astype(np.int64)
    out["seeds"] = np.array([s for s, _ in kept], dtype=np.int64)
    return out
