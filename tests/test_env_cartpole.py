"""envs/cartpole.py: the continuous-action wrapper of CartPole-v1 and its scripted expert."""

import numpy as np
import gymnasium as gym
import pytest

import envs
from envs import cartpole


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
