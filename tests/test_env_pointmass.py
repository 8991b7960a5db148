"""envs/pointmass.py, the two point-mass envs (App. A): snapping, the block, gym ids, seeding and time limit, the
route classifier, and the shipped demonstrations' routes."""

import numpy as np
import gymnasium as gym
import pytest

import data
import envs
from envs import pointmass
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
