"""
Demonstrations: the training windows of Algorithm 1, the dataset file, and collecting it from a scripted expert.

A dataset is one .npz file per environment (the layout of Diffusion Policy's zarr replay buffer):
    obs           (N, obs_dim)  float32, every step of every episode, concatenated
    actions       (N, act_dim)  float32
    episode_ends  (E,)          int64, cumulative: episode i is rows [ends[i-1], ends[i])
    seeds         (E,)          int64, the env reset seed of each episode
    ...any extra per-step arrays of length N (e.g. PushT's `state`)
"""

import os
import sys
import time
import zipfile
import multiprocessing as mp

import numpy as np

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


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


# ---------------------------------------------------------------- the .npz file

class DataError(ValueError):
    """A dataset file is missing, corrupt, or has the wrong keys/shapes. The message names the file."""


def default_path(env_name):
    return os.path.join(DATA_DIR, f"{env_name}.npz")


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
    for key in ("obs", "actions"):
        warn_outliers(path, key, arrays[key])
    arrays["episode_ends"] = check_episode_ends(path, arrays["episode_ends"], n)
    if "seeds" in arrays and arrays["seeds"].shape != arrays["episode_ends"].shape:
        raise DataError(f"{path}: 'seeds' has shape {arrays['seeds'].shape}, expected one per episode "
                        f"{arrays['episode_ends'].shape}")
    return arrays


def read_npz(path):
    """Every array of an .npz file, by name."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: " + ("not a regular file" if os.path.exists(path) else "file not found"))
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
    odd = [key for key, a in arrays.items() if not isinstance(a, np.ndarray)]
    if odd:
        raise DataError(f"{path}: member '{odd[0]}' is not a .npy array")
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
        print(f"warning: {path}: '{key}' dimension {dim} has an extreme outlier ({worst[dim]:.0%} of its variance "
              f"in one sample); normalisation will be dominated by it", file=sys.stderr)


# ---------------------------------------------------------------- episodes

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


# ---------------------------------------------------------------- collection

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
            for s, episode in (pool.imap(_run, jobs) if pool else map(_run, jobs)):
                tried += 1
                if episode.pop("success"):
                    kept.append((s, episode))
                failures = tried - len(kept)
                if tried % max(1, n_episodes // 20) == 0 or len(kept) == n_episodes:
                    rate = len(kept) / tried
                    eta = (time.time() - t0) / tried * max(0, n_episodes - len(kept)) / max(rate, 1e-3)
                    log(f"collect: {tried} episodes, {len(kept)} kept, success {rate:.1%}, eta {eta:.0f}s")
                    sys.stdout.flush()
    finally:
        if pool:
            pool.close()
            pool.join()
    log(f"collect: done, {len(kept)} successful episodes kept, {failures} failures out of {tried} tried")
    kept = kept[:n_episodes]
    return {**join_episodes([episode for _, episode in kept]), "seeds": np.array([s for s, _ in kept], dtype=np.int64)}
