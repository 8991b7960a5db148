"""Point-mass / CartPole envs, scripted experts, shipped datasets and the route classifier (all fast)."""

import os

import json

import numpy as np
import gymnasium as gym
import pytest

import envs
import data
from envs import pointmass
from envs import cartpole
from plumbing import demofiles

FRACTION_TOL = 0.1  # shipped route fractions must be within this of 1/2 (#1) and 1/3 (#2)


def pointmass_at(name, pos):
    """A reset point-mass env with the agent placed at `pos`."""
    env = envs.make(name)
    env.reset(seed=0)
    env.unwrapped.pos = np.array(pos, np.float64)
    return env


def test_snap_pulls_toward_integers_by_snap():
    env = pointmass_at("pointmass2", (1.3, 2.8))
    obs, *_ = env.step(np.zeros(2, np.float32))
    p = np.array([1.3, 2.8])
    assert np.allclose(obs, p + pointmass.SNAP * (np.round(p) - p), atol=1e-6)   # (1.15, 2.9) for SNAP = 0.5
    env = pointmass_at("pointmass2", (0.0, 0.0))
    obs, *_ = env.step(np.array([1.2, 0.6], np.float32))
    assert np.allclose(obs, [1.2 - pointmass.SNAP * 0.2, 0.6 + pointmass.SNAP * 0.4], atol=1e-6)
    obs, *_ = pointmass_at("pointmass2", (2.1, 2.2)).step(np.array([5.0, -5.0], np.float32))   # clipped to +-1.5
    assert np.allclose(obs, [3.6 + pointmass.SNAP * 0.4, 0.7 + pointmass.SNAP * 0.3], atol=1e-6)
    obs, *_ = pointmass_at("pointmass2", (0.0, 0.0)).step(np.array([-1.5, 0.0], np.float32))
    assert np.allclose(obs, [-1.0, 0.0])                              # stopped at the arena's edge


def in_block(pos):
    (xlo, ylo), (xhi, yhi) = pointmass.POINTMASS["pointmass1"]["block"]
    return xlo <= pos[0] <= xhi and ylo <= pos[1] <= yhi


def test_block_cannot_be_entered_or_jumped():
    obs, *_ = pointmass_at("pointmass1", (2.0, 2.0)).step(np.array([1.0, 0.0], np.float32))
    assert np.allclose(obs, [2.0, 2.0])                               # into the block: cancelled
    obs, *_ = pointmass_at("pointmass1", (2.4, 2.0)).step(np.array([1.5, 0.0], np.float32))
    assert obs[0] < 2.5                                               # over the block (to x=3.9): cancelled
    obs, *_ = pointmass_at("pointmass1", (2.0, 4.0)).step(np.array([1.0, 0.0], np.float32))
    assert np.allclose(obs, [3.0, 4.0])                               # past the block's top: allowed
    env, rng = envs.make("pointmass1"), np.random.default_rng(0)
    for episode in range(50):
        obs, _ = env.reset(seed=episode)
        for _ in range(40):
            obs, _, terminated, truncated, _ = env.step(rng.uniform(-1.5, 1.5, 2).astype(np.float32))
            assert not in_block(obs) and env.observation_space.contains(obs)
            if terminated or truncated:
                break


def test_gym_make_ids_seeding_goal_and_time_limit():
    import envs as _  # noqa: F401  (registration happens on import)
    for env_id, name in [("PointMass1-v0", "pointmass1"), ("PointMass2-v0", "pointmass2")]:
        env = gym.make(env_id)
        assert env.spec.max_episode_steps == pointmass.POINTMASS[name]["max_steps"]
        assert env.observation_space.shape == (2,) and env.action_space.shape == (2,)
        a, b, c = env.reset(seed=1)[0], env.reset(seed=1)[0], env.reset(seed=2)[0]
        assert a.dtype == np.float32 and np.array_equal(a, b) and not np.array_equal(a, c)
        assert np.abs(a - pointmass.POINTMASS[name]["start"]).max() <= pointmass.START_JITTER
        for t in range(1, 1000):                                      # standing still: truncated at max_steps
            _, _, terminated, truncated, info = env.step(np.zeros(2, np.float32))
            if terminated or truncated:
                break
        assert truncated and not terminated and not info["success"] and t == env.spec.max_episode_steps
    env = gym.make("PointMass2-v0")
    env.reset(seed=0)
    for t in range(1, 9):                                             # the App. A diagonal: 8 sqrt(2) steps
        _, reward, terminated, _, info = env.step(np.ones(2, np.float32))
        assert terminated == (t == 8)
    assert info["success"] and reward == 1.0


def test_cartpole_wrapper_thresholds_at_half():
    env = envs.make("cartpole")
    raw = gym.make("CartPole-v1")
    assert env.action_space.shape == (1,) and env.observation_space.shape == (4,)
    obs, _ = env.reset(seed=3)
    raw.reset(seed=3)
    assert obs.dtype == np.float32
    for a, discrete in [(0.7, 1), (0.3, 0), (0.5, 0), (0.51, 1), (1.0, 1), (0.0, 0)]:
        obs, *_ = env.step(np.array([a], np.float32))
        raw_obs, *_ = raw.step(discrete)
        assert np.array_equal(obs, raw_obs), (a, discrete)


@pytest.mark.parametrize("seed", [0, 1, 2, 123])
def test_cartpole_expert_scores_500(seed):
    env = envs.make("cartpole")
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(np.array([cartpole.expert_action(obs)], np.float32))
        total, done = total + reward, terminated or truncated
    assert total == 500.0


def test_expert_episodes_are_consistent_and_seeded():
    for name, fn in ((n, envs.get(n).demo_episode) for n in envs.ENV_NAMES if n != "pusht"):   # (PushT: its own tests)
        a, b = fn(7), fn(7)
        assert a["success"] and a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a if k != "success")
        assert a["obs"].dtype == np.float32 and a["actions"].dtype == np.float32
        if "next_obs" in a:                                           # (Block push leaves it out: 3 MB)
            assert np.array_equal(a["obs"][1:], a["next_obs"][:-1])  # obs[t] is the state before actions[t]
    cart = cartpole.demo_episode(0)
    assert cart["actions"].shape == (500, 1) and set(np.unique(cart["actions"])) == {0.0, 1.0}


SHAPES = {"pointmass1": (2, 2), "pointmass2": (2, 2), "cartpole": (4, 1)}


@pytest.mark.parametrize("name", list(SHAPES))
def test_shipped_demos_load(name):
    obs_dim, act_dim = SHAPES[name]
    arrays = demofiles.load_demos(data.default_path(name), obs_dim=obs_dim, act_dim=act_dim, extra={"next_obs": obs_dim})
    n_episodes = len(arrays["episode_ends"])
    assert n_episodes == (200 if name.startswith("pointmass") else 30)
    assert np.array_equal(arrays["seeds"], np.arange(n_episodes))   # seed 0, every episode kept


@pytest.mark.parametrize("name", ["pointmass1", "pointmass2"])
def test_shipped_demos_follow_exactly_one_route_in_fair_proportions(name):
    episodes = data.split_episodes(demofiles.load_demos(data.default_path(name)))
    routes = []
    for ep in episodes:
        route, single = pointmass.classify_route(name, np.concatenate([ep["obs"], ep["next_obs"][-1:]]))
        assert route is not None and single
        routes.append(route)
    for route in pointmass.ROUTES[name]:
        fraction = routes.count(route) / len(routes)
        assert abs(fraction - 1 / len(pointmass.ROUTES[name])) <= FRACTION_TOL, (route, fraction)


def densify(waypoints, step=0.5):
    """Points every `step` along a waypoint polyline."""
    w = np.asarray(waypoints, float)
    pts = [a + (b - a) * s for a, b in zip(w[:-1], w[1:]) for s in np.arange(0, 1, step / np.linalg.norm(b - a))]
    return np.array(pts + [w[-1]])


def test_classify_route_pure_switching_and_failed():
    for name, routes in pointmass.ROUTES.items():
        for route, waypoints in routes.items():
            assert pointmass.classify_route(name, densify(waypoints)) == (route, True)
    switch = densify([(0, 0), (0, 4), (4, 4), (4, 8), (8, 8)])        # up-right-up until (4, 4), then right-up-right
    route, single = pointmass.classify_route("pointmass2", switch)
    assert route in ("up-right-up", "right-up-right") and not single
    assert pointmass.classify_route("pointmass2", densify([(0, 0), (0, 4), (4, 4)])) == (None, False)      # never arrives
    assert pointmass.classify_route("pointmass2", densify([(0, 0), (8, 0), (8, 8)]))[1] is False           # no demo route


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


def test_pusht_runs_without_gymnasium_warnings():
    """A T that starts poking out of gym-pusht's declared [0, 512] box (seed 63) gives no env-checker warning."""
    import subprocess, sys
    code = ("import envs\ne = envs.make('pusht')\no, _ = e.reset(seed=63)\nassert (o < 0).any() or (o > 512).any()\n"
            "e.step(e.action_space.sample())")
    p = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert p.returncode == 0 and p.stderr == "", p.stderr


TOY = '''
"""A toy environment in a module of its own: reach x = 1 on a line, from a random start in [-1, 0]."""
import numpy as np
import gymnasium as gym

from envs.record import Env, record_episode


class Line(gym.Env):
    observation_space = gym.spaces.Box(-5.0, 5.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = self.np_random.uniform(-1.0, 0.0), 0
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x, self.t = self.x + float(np.clip(action[0], -0.3, 0.3)), self.t + 1
        done = abs(self.x - 1.0) < 0.03
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
    collected, BeT trains on them and is evaluated, by train.py and evaluate.py as they are."""
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
