"""
CartPole-v1 (not in the paper: a quick check on a classic control task) with a 1-D continuous action, its
scripted expert and its record.
"""

import numpy as np
import gymnasium as gym

from envs.record import Env, record_episode


class ContinuousCartPole(gym.ActionWrapper):
    """CartPole-v1 driven by a 1-D float action: push right (1) iff action[0] > 0.5, so a continuous BeT can act."""

    def __init__(self, env):
        super().__init__(env)
        self.action_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)

    def action(self, action):
        return int(np.asarray(action).reshape(-1)[0] > 0.5)


def make(**options):
    return ContinuousCartPole(gym.make("CartPole-v1", **options))


# push right iff gains . (x, x_dot, theta, theta_dot) > 0. Hand-tuned with the LQR sign pattern (all positive:
# a right-leaning or right-moving pole, or a cart right of centre, is corrected by first pushing right); it scores
# 500/500 on seeds 0-99 both clean and with FLIP_PROB flips, and keeps |x| < 0.25.
GAINS = np.array([1.0, 2.0, 20.0, 3.0])
FLIP_PROB = 0.1        # DART-style: execute the opposite push this often, but record the clean label


def expert_action(state):
    """Linear state feedback: push right (1.0) iff GAINS . state > 0; scores 500 on CartPole-v1."""
    return float(GAINS @ np.asarray(state, np.float64) > 0)


def demo_episode(seed):
    """CartPole-v1 demonstration: the linear expert's labels, with DART-style random flips of the executed push."""
    rng = np.random.default_rng(seed)

    def policy(obs):
        clean = expert_action(obs)
        executed = 1.0 - clean if rng.random() < FLIP_PROB else clean
        return np.array([executed], np.float32), np.array([clean], np.float32)
    episode, terminated, _ = record_episode(make(), seed, policy)
    episode["success"] = not terminated  # never fell: ran to the 500-step truncation
    return episode


def survived(terminated, truncated, info):
    """CartPole succeeds by balancing to the time limit."""
    return bool(truncated and not terminated)


# point-mass settings, width 20, dropout 0.1, 10 epochs; one thread
RECORD = Env(name="cartpole", make=make, demo_episode=demo_episode, success=survived, metric="mean_return",
             label=lambda env: np.array([expert_action(env.unwrapped.state)], np.float32),
             metrics=lambda trajectories: ({"min_return": float(min(t["rewards"].sum() for t in trajectories))},
                                           [{} for _ in trajectories]),
             settings=dict(obs_dim=4, act_dim=1, k=2, context=2, n_layer=1, n_head=2, n_embd=20, dropout=0.1,
                           epochs=10, alpha=1.0, threads=1),
             dagger=dict(labels0=50, rounds=6, episodes=1, horizon=50, steps=1000, round_steps=1000,
                         eval_episodes=50))
