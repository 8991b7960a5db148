"""
The two Multipath point-mass environments of App. A, their scripted expert and their record.

Dynamics: obs = (x, y), action = displacement (dx, dy) clipped to |a_i| <= MAX_ACTION, then a "snapping" pull
toward the nearest integer point: pos += SNAP * (round(pos) - pos). Reward is 1.0 on the step that reaches the
goal (which terminates the episode), else 0.0. Also gym.make("PointMass1-v0") and gym.make("PointMass2-v0").
"""

import numpy as np
import gymnasium as gym

from envs.record import Env, record_episode

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


# ---------------------------------------------------------------- the scripted expert (App. A)

ACTION_NOISE = 0.05   # std of the Gaussian noise added to every demonstrated action (executed and recorded)


def unit_step_targets(waypoints):
    """The grid points visited when walking the waypoints with unit steps (or (1,1) diagonal steps), start excluded."""
    targets = []
    for a, b in zip(np.asarray(waypoints[:-1], np.float64), np.asarray(waypoints[1:], np.float64)):
        n = int(np.abs(b - a).max())
        targets += [a + (b - a) * k / n for k in range(1, n + 1)]
    return targets


def demo_episode(env_name, seed):
    """App. A demonstrations: pick a route uniformly at random, walk its unit-step grid points with noisy actions.
    The action aims at the next grid point from the current (jittered) position, so noise never accumulates."""
    rng = np.random.default_rng(seed)
    routes = ROUTES[env_name]
    targets = unit_step_targets(routes[list(routes)[rng.integers(len(routes))]])
    step = 0

    def policy(obs):
        nonlocal step
        target = targets[min(step, len(targets) - 1)]  # the next grid point (the goal again if the route is done)
        step += 1
        action = (target - obs + rng.normal(0.0, ACTION_NOISE, 2)).astype(np.float32)
        return action, action
    episode, terminated, _ = record_episode(gym.make(POINTMASS[env_name]["id"]), seed, policy)
    episode["success"] = terminated  # point-mass episodes terminate only at the goal
    return episode


def demo_episode_pointmass1(seed):
    """Multipath #1 demonstration: the upper or the lower way around the block, 50/50."""
    return demo_episode("pointmass1", seed)


def demo_episode_pointmass2(seed):
    """Multipath #2 demonstration: the diagonal, up-right-up or right-up-right route, 1/3 each."""
    return demo_episode("pointmass2", seed)


def label(env_name, pos):
    """The expert's action from position `pos` alone: aim at the next unit-step grid point of the nearest
    demonstrated route (the first route listed wins a tie, so a fork has one label)."""
    best = None
    for waypoints in ROUTES[env_name].values():
        targets = np.array([waypoints[0]] + unit_step_targets(waypoints))   # (S, 2) grid points, start first
        d = np.linalg.norm(targets - pos, axis=1)
        i = int(d.argmin())
        if best is None or d[i] < best[0] - 1e-9:
            best = (d[i], targets[min(i + 1, len(targets) - 1)])
    return (best[1] - pos).astype(np.float32)


# ---------------------------------------------------------------- metrics and figures: the modes (Sec. 3.4)

def route_metrics(env_name, trajectories):
    """The fraction of rollouts on each demonstrated route, and of rollouts that stay on one route all the way."""
    labels = [classify_route(env_name, t["obs"][:, :2]) for t in trajectories]
    return {"routes": {r: float(np.mean([lab[0] == r for lab in labels])) for r in ROUTES[env_name]},
            "single_route": float(np.mean([lab[1] for lab in labels]))}


def draw(ax, env_name, paths, title):
    """The block, and trajectories coloured by the demonstrated route they follow (red: they leave every route)."""
    import matplotlib.patches as patches
    colors = ["tab:blue", "tab:orange", "tab:green"]
    cfg = POINTMASS[env_name]
    if cfg.get("block") is not None:
        (x0, y0), (x1, y1) = cfg["block"]
        ax.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, color="0.8"))
    routes = list(ROUTES[env_name])
    for xy in paths:
        route, single = classify_route(env_name, xy)
        color = colors[routes.index(route)] if single else "tab:red"
        ax.plot(xy[:, 0], xy[:, 1], color=color, alpha=0.25, lw=1)
    for i, route in enumerate(routes):                  # the legend: one line per route, and red
        ax.plot([], [], color=colors[i], label=f"route {route}")
    ax.plot([], [], color="tab:red", label="leaves every route")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")


def record(env_name, demo, **settings):
    """A point-mass env's record; both share the expert, the metrics and the figure."""
    def figure(plt, trajectories, title):
        fig, ax = plt.subplots(figsize=(4, 4))
        draw(ax, env_name, [t["obs"][:, :2] for t in trajectories], title)
        return fig
    return Env(name=env_name, make=lambda **options: gym.make(POINTMASS[env_name]["id"], **options), demo_episode=demo,
               label=lambda env: label(env_name, env.unwrapped.pos),
               metrics=lambda trajectories: (route_metrics(env_name, trajectories), [{} for _ in trajectories]),
               figure=figure,
               k_sweep=(1, 2, 3, 4, 6, 8), **settings)


# Both rows depart from App. B alike: lr 1e-3 x 100 epochs (1e-4 x 10 is far from converged); width 64 and no
# dropout (width 20 could not tell a corner from its neighbour); one thread (a second one made training slower).
# Sampling keeps the paper's temperature 1 (Sec. 2.4); `--temperature 0.5` keeps more rollouts on one route in
# pointmass2 (the README shows both). Tuning: docs/history/.
POINTMASS1 = record("pointmass1", demo_episode_pointmass1, settings=dict(
    obs_dim=2, act_dim=2, k=2, context=2, n_layer=1, n_head=2, n_embd=64, dropout=0.0, epochs=100, alpha=1.0,
    eval_episodes=200, threads=1, rbc_layers=3, rbc_width=256))
POINTMASS2 = record("pointmass2", demo_episode_pointmass2, metric="single_route", settings=dict(
    obs_dim=2, act_dim=2, k=3, context=2, n_layer=1, n_head=2, n_embd=64, dropout=0.0, epochs=100, alpha=1.0,
    eval_episodes=200, threads=1, rbc_layers=4, rbc_width=128))
