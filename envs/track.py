"""
The track (not in the paper; DAgger's test bed): a point mass with momentum follows a winding track under
actuation noise. Its scripted expert and its record. Also gym.make("Track-v0").
"""

import numpy as np
import gymnasium as gym

from envs.record import Env, record_episode

# a point mass with
# momentum follows a serpentine: `lanes` straight lanes of `lane` units, alternately rightward and leftward,
# 2 * radius apart, joined by half-circle U-turns. The action is an acceleration, executed with Gaussian
# actuation noise; leaving the track (more than half_width from the centre line) ends the episode as a failure,
# passing the end of the last lane as a success. So does a jump of progress that no single step can make
# (crossing the gap between two lanes).
TRACK = dict(lanes=4, lane=4.0, radius=0.6, half_width=0.55, noise=0.005, max_action=0.15, max_speed=0.5,
             max_steps=250)


def track_centre_line(arc_points=24):
    """(P, 2) vertices of the centre line, start to finish: the lanes' ends and each U-turn sampled finely."""
    r, lane, points = TRACK["radius"], TRACK["lane"], []
    for i in range(TRACK["lanes"]):
        y, rightward = 2 * r * i, i % 2 == 0
        points += [(0.0, y), (lane, y)] if rightward else [(lane, y), (0.0, y)]
        if i < TRACK["lanes"] - 1:                                     # a U-turn up to the next lane
            cx = lane if rightward else 0.0
            angles = np.linspace(-np.pi / 2, np.pi / 2, arc_points)[1:-1] * (1 if rightward else -1) + (0 if rightward else np.pi)
            points += [(cx + r * np.cos(a), y + r + r * np.sin(a)) for a in angles]
    return np.array(points, np.float64)


TRACK_LINE = track_centre_line()
TRACK_LENGTH = float(np.linalg.norm(np.diff(TRACK_LINE, axis=0), axis=1).sum())


def track_frame(pos):
    """(signed lateral offset d, unit tangent, unit left normal, progress along the line) at the centre-line
    point nearest `pos`: d > 0 left of the direction of travel; progress = TRACK_LENGTH past the end."""
    a, b = TRACK_LINE[:-1], TRACK_LINE[1:]
    ab = b - a
    lengths = np.linalg.norm(ab, axis=1)
    t = np.clip(((pos - a) * ab).sum(1) / lengths ** 2, 0, 1)                        # (S,) projection per segment
    i = int(np.linalg.norm(pos - (a + t[:, None] * ab), axis=1).argmin())
    tangent = ab[i] / lengths[i]
    normal = np.array([-tangent[1], tangent[0]])
    return float((pos - (a[i] + t[i] * ab[i])) @ normal), tangent, normal, float(lengths[:i].sum() + t[i] * lengths[i])


class TrackEnv(gym.Env):
    """Follow the track to its end. obs = (x, y, vx, vy); action = acceleration (ax, ay), clipped to
    |a_i| <= max_action and executed with N(0, noise^2) added per coordinate (seeded by reset):
    v <- v + a + noise, x <- x + v. Starts at rest at the start of the line. Reward 1.0 on the step that finishes."""

    def __init__(self, render_mode=None):
        lo, hi = TRACK_LINE.min(0) - 1, TRACK_LINE.max(0) + 1                 # off the track ends the episode first
        speed = np.full(2, TRACK["max_speed"])
        self.observation_space = gym.spaces.Box(np.concatenate([lo, -speed]).astype(np.float32),
                                                np.concatenate([hi, speed]).astype(np.float32), (4,), np.float32)
        self.action_space = gym.spaces.Box(-TRACK["max_action"], TRACK["max_action"], (2,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.normal(0.0, TRACK["noise"], 2)
        self.vel, self.progress = np.zeros(2), 0.0
        return self.state(), {"success": False}

    def state(self):
        return np.concatenate([self.pos, self.vel]).astype(np.float32)

    def step(self, action):
        a = np.clip(np.asarray(action, np.float64).reshape(2), -TRACK["max_action"], TRACK["max_action"])
        self.vel = np.clip(self.vel + a + self.np_random.normal(0.0, TRACK["noise"], 2), -TRACK["max_speed"], TRACK["max_speed"])
        self.pos = self.pos + self.vel
        offset, _, _, progress = track_frame(self.pos)
        off_track = abs(offset) > TRACK["half_width"] or abs(progress - self.progress) > 2 * TRACK["max_speed"]
        self.progress = progress
        success = progress >= TRACK_LENGTH and not off_track
        return self.state(), 0.0 + success, success or off_track, False, {"success": success}


if "Track-v0" not in gym.registry:
    gym.register(id="Track-v0", entry_point=TrackEnv, max_episode_steps=TRACK["max_steps"])


# ---------------------------------------------------------------- the scripted expert

EXPERT_SPEED = 0.25   # the expert's desired speed along the centre line's tangent
EXPERT_GAIN = 0.3     # ... and its desired lateral velocity: minus this fraction of the lateral offset


def wanted_velocity(pos):
    """The expert's desired velocity v* at `pos`: EXPERT_SPEED along the nearest centre-line tangent minus
    EXPERT_GAIN times the lateral offset along its normal (back toward the centre line)."""
    offset, tangent, normal, _ = track_frame(np.asarray(pos, np.float64))
    return EXPERT_SPEED * tangent - EXPERT_GAIN * offset * normal


def label(state):
    """The expert, a function of the state (x, y, vx, vy) alone: accelerate to the desired velocity
    (wanted_velocity). The env clips the action and adds the actuation noise."""
    state = np.asarray(state, np.float64)
    wanted = wanted_velocity(state[:2])
    return np.clip(wanted - state[2:], -TRACK["max_action"], TRACK["max_action"]).astype(np.float32)


def demo_episode(seed):
    """Track demonstration: the expert drives (its actions are the labels; the env's noise perturbs them)."""
    def policy(obs):
        action = label(obs)
        return action, action
    episode, _, info = record_episode(gym.make("Track-v0"), seed, policy)
    episode["success"] = info["success"]                  # the env's own rule: past the end, still on the track
    return episode


# point-mass settings (lr 3e-3, batch 256: the same 100 epochs in less time); one thread
RECORD = Env(name="track", make=lambda **options: gym.make("Track-v0", **options), demo_episode=demo_episode,
             label=lambda env: label(np.concatenate([env.unwrapped.pos, env.unwrapped.vel])),
             settings=dict(obs_dim=4, act_dim=2, k=8, context=2, n_layer=1, n_head=2, n_embd=64, dropout=0.0,
                           epochs=100, batch_size=256, lr=3e-3, alpha=1.0, eval_episodes=200, threads=1),
             dagger=dict(labels0=500, rounds=2, episodes=5, horizon=None, steps=2000, round_steps=2000,
                         eval_episodes=100, more=2))
