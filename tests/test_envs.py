"""envs/__init__.py and envs/record.py: every registered environment's record (experts seeded and consistent,
labels read from the state, the shipped demonstrations of the small envs), and a new environment added from a
temporary module with no other file touched."""

import json

import numpy as np
import pytest

import data
import envs
from envs import cartpole
from plumbing import demofiles


def test_expert_episodes_are_consistent_and_seeded():
    for name, fn in ((n, envs.get(n).demo_episode) for n in envs.ENV_NAMES if n != "pusht"):   # (PushT: its own tests)
        a, b = fn(7), fn(7)
        assert a["success"] and a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a if k != "success")
        assert a["obs"].dtype == np.float32 and a["actions"].dtype == np.float32
        if "next_obs" in a:                                           # (Block push leaves it out: 3 MB)
            assert np.array_equal(a["obs"][1:], a["next_obs"][:-1])  # obs[t] is the state before actions[t]
    cart = cartpole.demo_episode(0)
    assert cart["actions"].shape == (500, 1) and set(np.unique(cart["actions"])) == {0.0, 1.0}


def test_cartpole_and_pointmass_labels_read_only_the_state():
    env = envs.make("cartpole")
    env.reset(seed=3)
    env.unwrapped.state = np.array([0.0, 0.0, 0.05, 0.0])     # leaning right: push right
    assert envs.get("cartpole").label(env)[0] == 1.0
    env.unwrapped.state = np.array([0.0, 0.0, -0.05, 0.0])
    assert envs.get("cartpole").label(env)[0] == 0.0
    env = envs.make("pointmass1")
    env.reset(seed=0)
    env.unwrapped.pos = np.array([2.0, 3.0])                 # on the upper route: next is (2, 4)
    np.testing.assert_allclose(envs.get("pointmass1").label(env), [0.0, 1.0])
    env.unwrapped.pos = np.array([2.0, 1.0])                 # on the lower route: next is (2, 0)
    np.testing.assert_allclose(envs.get("pointmass1").label(env), [0.0, -1.0])


SHAPES = {"pointmass1": (2, 2), "pointmass2": (2, 2), "cartpole": (4, 1)}


@pytest.mark.parametrize("name", list(SHAPES))
def test_shipped_demos_load(name):
    obs_dim, act_dim = SHAPES[name]
    arrays = demofiles.load_demos(data.default_path(name), obs_dim=obs_dim, act_dim=act_dim, extra={"next_obs": obs_dim})
    n_episodes = len(arrays["episode_ends"])
    assert n_episodes == (200 if name.startswith("pointmass") else 30)
    assert np.array_equal(arrays["seeds"], np.arange(n_episodes))   # seed 0, every episode kept


# ---------------------------------------------------------------- a new environment

TOY = '''
"""A toy environment in a module of its own: reach x = 1 on a line, from a random start in [-1, 3]."""
import numpy as np
import gymnasium as gym

from envs.record import Env, record_episode


class Line(gym.Env):
    observation_space = gym.spaces.Box(-5.0, 5.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = self.np_random.uniform(-1.0, 3.0), 0
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x, self.t = self.x + float(np.clip(action[0], -0.3, 0.3)), self.t + 1
        done = abs(self.x - 1.0) < 0.1
        return np.array([self.x], np.float32), float(done), done, self.t >= 30, {"success": done}


def expert(x):
    return np.array([np.clip(1.0 - x, -0.3, 0.3)], np.float32)


def demo_episode(seed):
    episode, terminated, _ = record_episode(Line(), seed, lambda obs: (expert(obs[0]), expert(obs[0])))
    episode["success"] = terminated
    return episode


RECORD = Env(name="toy", make=lambda **options: Line(), demo_episode=demo_episode, label=lambda env: expert(env.x),
             settings=dict(obs_dim=1, act_dim=1, k=2, context=2, n_layer=1, n_head=1, n_embd=16, dropout=0.0,
                           epochs=30, lr=3e-3, threads=1, eval_episodes=20))
'''


@pytest.mark.needs_solutions
def test_a_new_environment_is_one_module_with_a_record(tmp_path, monkeypatch, capsys):
    """An environment added from a temporary module, with no other file touched: its expert's demonstrations are
    collected, BeT trains on them and is evaluated, by train.py and evaluate.py as they are. Margin: trained, every
    one of training seeds 0-7 succeeded in 20 of 20 episodes under AVX2 and under ATEN_CPU_CAPABILITY=default (MKL
    SSE4.2); barely trained (1 epoch at lr 1e-5), seed 0 succeeds in 15 of 20 (2026-12-07)."""
    import train, evaluate
    (tmp_path / "toy_env.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    import toy_env
    monkeypatch.setitem(envs.ENVS, "toy", toy_env.RECORD)
    demos, run = tmp_path / "toy.npz", tmp_path / "run"
    train.main(["--env", "toy", "--collect", "30", "--data", str(demos), "--workers", "1"])
    train.main(["--env", "toy", "--data", str(demos), "--out", str(run)])
    trained = json.load(open(run / "eval.json"))
    evaluate.main([str(run / "model.pt"), "--episodes", "20", "--json", str(tmp_path / "again.json")])
    again = json.load(open(tmp_path / "again.json"))
    assert trained["env"] == again["env"] == "toy" and trained["episodes"] == 20
    assert trained["success_rate"] >= 0.9 and again["success_rate"] == trained["success_rate"]
