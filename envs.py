"""
Environments used by the demos, all behind one `make(name)`:
  pointmass1, pointmass2   the paper's Multipath point-mass envs (App. A), also gym.make("PointMass1-v0"/"PointMass2-v0")
  cartpole                 CartPole-v1 with a 1-D continuous action thresholded to {0, 1}
  pusht                    gym-pusht with the 18-D observation: 16 T keypoints + agent position
  blockpush                multimodal Block push in 2-D (blockpush.py), also gym.make("BlockPush2D-v0")
  track                    a point mass following a winding track under actuation noise (DAgger's test bed),
                           also gym.make("Track-v0")

Point-mass dynamics (App. A): obs = (x, y), action = displacement (dx, dy) clipped to |a_i| <= MAX_ACTION,
then a "snapping" pull toward the nearest integer point: pos += SNAP * (round(pos) - pos).
Reward is 1.0 on the step that reaches the goal (which terminates the episode), else 0.0.
"""

import numpy as np
import gymnasium as gym

import blockpush  # noqa: F401  (registers BlockPush2D-v0)

ENV_NAMES = ("pointmass1", "pointmass2", "cartpole", "pusht", "blockpush", "track")

SNAP = 0.5          # fraction of the distance to the nearest integer point removed after every step
MAX_ACTION = 1.5    # each action coordinate is clipped to [-MAX_ACTION, MAX_ACTION]
GOAL_RADIUS = 0.3   # the episode terminates (info["success"] = True) once |pos - goal| < GOAL_RADIUS
START_JITTER = 0.05 # reset() starts at start + uniform(-START_JITTER, START_JITTER) per coordinate
ROUTE_TOL = 0.5     # classify_route: a single-route trajectory stays within this distance of one route

# The two Multipath envs of App. A. Routes are the demonstrated waypoint lists, start to goal.
# arena: the agent is clipped to this box. block: a closed box the agent cannot enter or cross
# (a step whose straight path touches it is cancelled: the agent stays put, then snaps).
# max_steps: truncation limit, about 3x the longest demonstration (8 steps in #1, 16 in #2).
POINTMASS = {
    "pointmass1": dict(
        id="PointMass1-v0", start=(1, 2), goal=(5, 2), arena=((0, -1), (6, 5)),
        block=((2.5, 0.5), (3.5, 3.5)), max_steps=25,
        routes={  # App. A, Multipath #1: around the block on the upper (left turn) or lower (right turn) side
            "upper": [(1, 2), (2, 2), (2, 3), (2, 4), (3, 4), (4, 4), (4, 3), (4, 2), (5, 2)],
            "lower": [(1, 2), (2, 2), (2, 1), (2, 0), (3, 0), (4, 0), (4, 1), (4, 2), (5, 2)],
        }),
    "pointmass2": dict(
        id="PointMass2-v0", start=(0, 0), goal=(8, 8), arena=((-1, -1), (9, 9)),
        block=None, max_steps=50,
        routes={  # App. A, Multipath #2: named by their moves; all three pass through (4, 4)
            "diagonal": [(0, 0), (8, 8)],
            "up-right-up": [(0, 0), (0, 4), (4, 4), (8, 4), (8, 8)],
            "right-up-right": [(0, 0), (4, 0), (4, 4), (4, 8), (8, 8)],
        }),
}
ROUTES = {name: cfg["routes"] for name, cfg in POINTMASS.items()}


def segment_hits_box(p, q, box):
    """True if the segment p->q touches the closed box ((xlo, ylo), (xhi, yhi)) (Liang-Barsky clipping)."""
    (lo, hi), d = np.asarray(box, dtype=np.float64), q - p
    t0, t1 = 0.0, 1.0
    for i in range(2):
        if d[i] == 0:
            if not lo[i] <= p[i] <= hi[i]:
                return False
        else:
            ta, tb = (lo[i] - p[i]) / d[i], (hi[i] - p[i]) / d[i]
            t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
    return t0 <= t1


class PointMassEnv(gym.Env):
    """The App. A point-mass agent: move by the action, stay out of the block, then snap toward integers."""

    def __init__(self, name="pointmass1", render_mode=None):
        cfg = POINTMASS[name]
        self.name, self.block = name, cfg["block"]
        self.start, self.goal = np.array(cfg["start"], np.float64), np.array(cfg["goal"], np.float64)
        self.lo, self.hi = np.array(cfg["arena"][0], np.float64), np.array(cfg["arena"][1], np.float64)
        self.observation_space = gym.spaces.Box(self.lo.astype(np.float32), self.hi.astype(np.float32), (2,), np.float32)
        self.action_space = gym.spaces.Box(-MAX_ACTION, MAX_ACTION, (2,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.start + self.np_random.uniform(-START_JITTER, START_JITTER, 2)
        return self.pos.astype(np.float32), {"success": False}

    def step(self, action):
        a = np.clip(np.asarray(action, np.float64).reshape(2), -MAX_ACTION, MAX_ACTION)
        new = np.clip(self.pos + a, self.lo, self.hi)
        if self.block is not None and segment_hits_box(self.pos, new, self.block):
            new = self.pos  # blocked: the step is cancelled
        self.pos = new + SNAP * (np.round(new) - new)  # App. A "snapping" toward the nearest integer point
        success = bool(np.linalg.norm(self.pos - self.goal) < GOAL_RADIUS)
        return self.pos.astype(np.float32), 0.0 + success, success, False, {"success": success}


for _name, _cfg in POINTMASS.items():
    if _cfg["id"] not in gym.registry:
        gym.register(id=_cfg["id"], entry_point=PointMassEnv, kwargs={"name": _name}, max_episode_steps=_cfg["max_steps"])


def distance_to_polyline(xy, waypoints):
    """(T,) distance from each point of xy (T, 2) to the polyline through `waypoints`."""
    w = np.asarray(waypoints, np.float64)
    a, b = w[:-1], w[1:]                                             # (S, 2) segment ends
    ab = b - a
    p = np.asarray(xy, np.float64)[:, None]                          # (T, 1, 2)
    t = np.clip(((p - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)    # (T, S) projection onto each segment
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1).min(1)


def classify_route(name, xy):
    """(route name or None, single_route) for one point-mass trajectory xy (T, 2), start to end.

    route: for a trajectory that reaches the goal, the demonstrated route with the smallest mean
    distance to its points; None if it never reaches the goal (e.g. stuck at the fork).
    single_route: it reaches the goal and every point is within ROUTE_TOL of that one route.
    """
    xy = np.asarray(xy, np.float64)
    goal = np.array(POINTMASS[name]["goal"], np.float64)
    if np.linalg.norm(xy[-1] - goal) >= GOAL_RADIUS:
        return None, False
    dists = {route: distance_to_polyline(xy, w) for route, w in ROUTES[name].items()}
    best = min(dists, key=lambda route: dists[route].mean())
    return best, bool(dists[best].max() <= ROUTE_TOL)


# The track (not in the paper; built for DAgger, docs/experiments.md#dagger-on-a-track): a point mass with
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


class ContinuousCartPole(gym.ActionWrapper):
    """CartPole-v1 driven by a 1-D float action: push right (1) iff action[0] > 0.5, so a continuous BeT can act."""

    def __init__(self, env):
        super().__init__(env)
        self.action_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)

    def action(self, action):
        return int(np.asarray(action).reshape(-1)[0] > 0.5)


class PushTFlat(gym.ObservationWrapper):
    """gym-pusht's `environment_state_agent_pos` dict obs, flattened to (18,) = 16 keypoint coords, then agent (x, y)."""

    def __init__(self, env):
        super().__init__(env)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (18,), np.float32)  # T keypoints can leave [0, 512]

    def observation(self, obs):
        return np.concatenate([obs["environment_state"], obs["agent_pos"]]).astype(np.float32)


def make(name, **kwargs):
    """Create one of ENV_NAMES; raises ValueError with the valid names for anything else."""
    if name in POINTMASS:
        return gym.make(POINTMASS[name]["id"], **kwargs)
    if name == "cartpole":
        return ContinuousCartPole(gym.make("CartPole-v1", **kwargs))
    if name == "pusht":
        import gym_pusht  # noqa: F401  (registers gym_pusht/PushT-v0)
        # gym-pusht declares its keypoints in [0, 512], but a T near the wall pokes out of it (seed 63 starts so);
        # gymnasium's env checker then warns at reset. PushTFlat declares the real, unbounded space instead.
        return PushTFlat(gym.make("gym_pusht/PushT-v0", obs_type="environment_state_agent_pos",
                                  disable_env_checker=True, **kwargs))
    if name == "blockpush":
        return gym.make("BlockPush2D-v0", **kwargs)
    if name == "track":
        return gym.make("Track-v0", **kwargs)
    raise ValueError(f"unknown env '{name}'; choose one of {', '.join(ENV_NAMES)}")
