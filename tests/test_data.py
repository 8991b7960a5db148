"""data.py: the training windows (data.window_index) and collecting demonstrations (data.collect)."""

import numpy as np
import pytest

import data
from envs import pusht
from plumbing import demofiles
from plumbing import runs

DATASET = data.default_path("pusht")


@pytest.mark.ex_windows
def test_window_index_keeps_last_window_and_clamps_at_episode_start():
    index = data.window_index(np.array([3, 7]), context=4)
    assert index.shape == (7, 4)
    assert index[2].tolist() == [0, 0, 1, 2]                          # episode 0's last window, clamped
    assert index[3].tolist() == [3, 3, 3, 3]                          # episode 1's first step: all clamped
    assert index[6].tolist() == [3, 4, 5, 6]                          # episode 1's last window
    ends = demofiles.load_demos(data.default_path("pointmass2"))["episode_ends"]
    index = data.window_index(ends, context=10)
    starts = np.concatenate([[0], ends[:-1]])
    assert len(index) == ends[-1] and np.array_equal(index[ends - 1, -1], ends - 1)
    episode_of_row = np.repeat(np.arange(len(ends)), ends - starts)
    assert np.all(index >= starts[episode_of_row][:, None])          # never reaches into the previous episode


def test_collect_keeps_successes_in_seed_order(tmp_path):
    arrays = data.collect(pusht.demo_episode, 2, seed=3, workers=1, log=lambda *a: None)
    assert list(arrays["seeds"]) == [3, 4]
    path = tmp_path / "pusht.npz"
    runs.save_demos(str(path), arrays)
    d = demofiles.load_demos(str(path), obs_dim=18, act_dim=2, extra={"state": 5})
    shipped = demofiles.load_demos(DATASET, obs_dim=18, act_dim=2, extra={"state": 5})
    # the shipped file starts at seed 0, so its episodes for seeds 3 and 4 (if kept) must be identical
    if {3, 4} <= set(shipped["seeds"]):
        ends = shipped["episode_ends"]
        j = int(np.flatnonzero(shipped["seeds"] == 3)[0])
        start = ends[j - 1] if j > 0 else 0
        assert np.array_equal(shipped["actions"][start:ends[j + 1]], d["actions"])


@pytest.mark.needs_solutions
def test_real_steps_mark_the_first_step_repeats_of_padded_windows():
    """Episodes [0, 3) and [3, 7), h = 4: a window that starts before its episode repeats the first step; only the
    repeats are False, so each step is a real target in the windows ending at it and at the h - 1 steps after it."""
    real = data.real_steps(np.array([3, 7]), context=4)
    assert real.tolist()[:4] == [[False, False, False, True], [False, False, True, True], [False, True, True, True],
                                 [False, False, False, True]]
    assert real.tolist()[6] == [True, True, True, True]
    index = data.window_index(np.array([3, 7]), context=4)
    targets = np.bincount(index[real], minlength=7)                     # how often each step is a real target
    assert targets.tolist() == [3, 2, 1, 4, 3, 2, 1] and np.bincount(index.ravel()).tolist()[0] == 9   # padded: 9x
