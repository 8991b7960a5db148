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

import numpy as np

from plumbing import processes

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


def real_steps(episode_ends, context):
    """(N, context) bool: True where window_index's entry is the step it stands for, False where a window that starts
    before its episode repeats the episode's first step (Algorithm 1's full windows never repeat one; train.py's
    --mask-padding leaves the repeats out of the loss)."""
    n = int(np.asarray(episode_ends)[-1])
    return window_index(episode_ends, context) == np.arange(n)[:, None] + np.arange(1 - context, 1)[None]


def action_chunks(episode_ends, horizon):
    """Index array (N, horizon): row t holds the steps t .. t+horizon-1, those past the episode's end clamped to its
    last step (the VAE baseline's chunks of future actions, App. B; window_index looks back, this looks ahead)."""
    ends = np.asarray(episode_ends, dtype=np.int64)
    last = np.repeat(ends - 1, np.diff(np.concatenate([[0], ends])))                   # (N,) each step's episode end
    return np.minimum(np.arange(int(ends[-1]))[:, None] + np.arange(horizon)[None], last[:, None])


def hold_out(demos, share, seed):
    """(training, validation): whole episodes, `share` of them (at least one) drawn with `seed` for validation."""
    episodes = split_episodes(demos)
    order = np.random.default_rng(seed).permutation(len(episodes))
    n = max(1, round(share * len(episodes)))
    assert n < len(episodes), "a validation split needs at least two episodes"
    return join_episodes([episodes[i] for i in sorted(order[n:])]), join_episodes([episodes[i] for i in sorted(order[:n])])


# ---------------------------------------------------------------- the file (read and checked by plumbing/demofiles.py)

def default_path(env_name):
    return os.path.join(DATA_DIR, f"{env_name}.npz")


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
    with processes.pool_if_several(workers) as pool:     # stopped at the end: Ctrl-C leaves no episode queued
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
    log(f"collect: done, {len(kept)} successful episodes kept, {failures} failures out of {tried} tried")
    kept = kept[:n_episodes]
    return {**join_episodes([episode for _, episode in kept]), "seeds": np.array([s for s, _ in kept], dtype=np.int64)}
