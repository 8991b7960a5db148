"""
Environments used by the demos, all behind one `make(name)`:
  pointmass1, pointmass2   the paper's Multipath point-mass envs (App. A)   [TODO: point-mass helper]
  cartpole                 CartPole-v1 with a 1-D continuous action thresholded to {0, 1}  [TODO]
  pusht                    gym-pusht with the 18-D observation: 16 T keypoints + agent position
"""

import numpy as np
import gymnasium as gym

ENV_NAMES = ("pointmass1", "pointmass2", "cartpole", "pusht")


class PushTFlat(gym.ObservationWrapper):
    """gym-pusht's `environment_state_agent_pos` dict obs, flattened to (18,) = 16 keypoint coords, then agent (x, y)."""

    def __init__(self, env):
        super().__init__(env)
        self.observation_space = gym.spaces.Box(0.0, 512.0, (18,), np.float32)

    def observation(self, obs):
        return np.concatenate([obs["environment_state"], obs["agent_pos"]]).astype(np.float32)


def make(name, **kwargs):
    """Create one of ENV_NAMES; raises ValueError with the valid names for anything else."""
    if name == "pusht":
        import gym_pusht  # noqa: F401  (registers gym_pusht/PushT-v0)
        return PushTFlat(gym.make("gym_pusht/PushT-v0", obs_type="environment_state_agent_pos", **kwargs))
    raise ValueError(f"unknown env '{name}'; choose one of {', '.join(ENV_NAMES)}")
