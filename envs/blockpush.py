"""
Multimodal Block push in 2-D (the paper's Sec. 3.1(d) and App. A task, rebuilt on pymunk like gym-pusht):
a disc agent pushes a red and a green square block into a red and a green square target, in any order.

    env     BlockPushEnv, also gym.make("BlockPush2D-v0"); observation (6,) = agent, red block, green block (x, y)
    oracle  BlockPushOracle: the scripted demonstrator with the paper's two independent 50/50 choices
    metrics modes(obs): Table 1's reached / pushed and Table 2's first block and targets, from recorded states
    record  RECORD: the demonstrations (the oracle, executed with noise), the tables, the figure, the settings

The arena is gym-pusht's 512 x 512 px with its walls, its PD-controlled agent (k_p 100, k_v 20, 100 Hz physics,
10 Hz control) and its zero damping (a block moves only while pushed). Differences from the PyBullet task are
listed in the README's departures: a disc instead of an arm, blocks that cannot rotate, and this fixed layout.
"""

import numpy as np
import gymnasium as gym
import pymunk

from envs.record import Env, record_episode
from plumbing.stats import entropy_nats, wilson

ARENA = 512.0                  # px, as gym-pusht
AGENT_RADIUS = 15.0            # px, as gym-pusht's agent
HALF = 20.0                    # px, half the side of a block and of a target square
TOLERANCE = 0.05 * ARENA       # a block is in a target when their centres are this close (the paper: 0.05 of 1)
TOUCH = 2.0                    # px: the agent "reaches" a block when its disc is this close to the block's square
MAX_DELTA = 40.0               # px: each action coordinate is clipped to [-MAX_DELTA, MAX_DELTA]
MAX_STEPS = 300                # truncation, as gym-pusht
K_P, K_V, DT, CONTROL_HZ = 100.0, 20.0, 0.01, 10
BLOCKS = ("red", "green")
TARGETS = {"red": (160.0, 420.0), "green": (352.0, 420.0)}                  # fixed, at the top
START_BOX = {"red": ((100.0, 190.0), (180.0, 260.0)),                       # (x range, y range) of each block's
             "green": ((322.0, 412.0), (180.0, 260.0))}                     # random start, per seed
AGENT_START = (256.0, 60.0)    # + uniform(-10, 10) per coordinate


class BlockPushEnv(gym.Env):
    """Two blocks, two targets. Action: the agent's PD target relative to its position (an xy delta, as IBC's
    Block push acts), so BeT's bins are directions of motion, where the modes are. The episode ends with
    success once the two blocks sit in different targets, or is truncated after MAX_STEPS."""
    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(self, render_mode="rgb_array", visualization_width=96, visualization_height=96):
        self.render_mode, self.frame_size = render_mode, (visualization_height, visualization_width)
        self.observation_space = gym.spaces.Box(0.0, ARENA, (6,), np.float32)
        self.action_space = gym.spaces.Box(-MAX_DELTA, MAX_DELTA, (2,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.space = pymunk.Space()
        self.space.gravity, self.space.damping = (0.0, 0.0), 0.0     # damping 0: velocities vanish every step
        walls = [((5, 5), (5, 506)), ((5, 506), (506, 506)), ((506, 506), (506, 5)), ((506, 5), (5, 5))]
        self.space.add(*[pymunk.Segment(self.space.static_body, a, b, 2) for a, b in walls])
        self.agent = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        self.agent.position = tuple(np.array(AGENT_START) + self.np_random.uniform(-10, 10, 2))
        disc = pymunk.Circle(self.agent, AGENT_RADIUS)
        disc.friction = 1.0
        self.space.add(self.agent, disc)
        self.blocks = {}
        for name in BLOCKS:
            body = pymunk.Body(1.0, float("inf"))                     # infinite moment: blocks never rotate
            (xlo, xhi), (ylo, yhi) = START_BOX[name]
            body.position = (self.np_random.uniform(xlo, xhi), self.np_random.uniform(ylo, yhi))
            square = pymunk.Poly.create_box(body, (2 * HALF, 2 * HALF))
            square.friction = 1.0
            self.space.add(body, square)
            self.blocks[name] = body
        return self.observation(), self.info()

    def step(self, action):
        target = np.asarray(self.agent.position) + np.clip(np.asarray(action, np.float64).reshape(2), -MAX_DELTA,
                                                          MAX_DELTA)
        target = np.clip(target, AGENT_RADIUS + 5, ARENA - AGENT_RADIUS - 5)   # the agent stays inside the walls
        for _ in range(int(1 / (DT * CONTROL_HZ))):                            # gym-pusht's PD control
            self.agent.velocity += (K_P * (target - np.asarray(self.agent.position))
                                    - K_V * np.asarray(self.agent.velocity)) * DT
            self.space.step(DT)
        info = self.info()
        return self.observation(), float(info["success"]), info["success"], False, info

    def observation(self):
        return np.concatenate([self.agent.position, *(self.blocks[b].position for b in BLOCKS)]).astype(np.float32)

    def info(self):
        """Which target (if any) each block sits in; success = the two blocks in different targets."""
        where = in_targets(self.observation()[None])[0]
        return {"in_target": dict(zip(BLOCKS, where)), "success": set(where) == set(BLOCKS)}

    def render(self):
        """An RGB frame (H, W, 3): targets as outlines, blocks filled, the agent as a blue disc."""
        h, w = self.frame_size
        frame = np.full((h, w, 3), 255, np.uint8)
        ys, xs = (np.mgrid[0:h, 0:w] + 0.5) * np.array([ARENA / h, ARENA / w])[:, None, None]
        ys = ARENA - ys                                                        # y up, as the physics
        colour = {"red": (220, 50, 50), "green": (40, 170, 60)}
        for name, (tx, ty) in TARGETS.items():
            inside = (abs(xs - tx) <= HALF + 4) & (abs(ys - ty) <= HALF + 4)
            frame[inside & ~((abs(xs - tx) <= HALF) & (abs(ys - ty) <= HALF))] = colour[name]
        for name, body in self.blocks.items():
            frame[(abs(xs - body.position.x) <= HALF) & (abs(ys - body.position.y) <= HALF)] = colour[name]
        ax, ay = self.agent.position
        frame[(xs - ax) ** 2 + (ys - ay) ** 2 <= AGENT_RADIUS ** 2] = (65, 105, 225)
        return frame


if "BlockPush2D-v0" not in gym.registry:
    gym.register(id="BlockPush2D-v0", entry_point=BlockPushEnv, max_episode_steps=MAX_STEPS)


# ---------------------------------------------------------------- the metrics (Table 1, Table 2)

def in_targets(obs):
    """(T, 2) object array: for each step and block (red, green), the target its centre is within TOLERANCE of,
    or None. obs (T, 6) as the env returns it."""
    out = np.full((len(obs), 2), None, dtype=object)
    for j in range(2):
        block = np.asarray(obs)[:, 2 + 2 * j: 4 + 2 * j]
        for name, centre in TARGETS.items():
            out[np.linalg.norm(block - np.array(centre), axis=1) < TOLERANCE, j] = name
    return out


def touching(obs):
    """(T, 2) bool: the agent's disc within TOUCH px of each block's square, per step."""
    obs = np.asarray(obs, np.float64)
    agent = obs[:, None, :2]                                                   # (T, 1, 2)
    blocks = obs[:, 2:].reshape(len(obs), 2, 2)                                # (T, 2, 2)
    gap = np.maximum(np.abs(agent - blocks) - HALF, 0.0)                       # per axis, outside the square
    return np.linalg.norm(gap, axis=-1) <= AGENT_RADIUS + TOUCH


def modes(obs):
    """One rollout's Table 1 and Table 2 outcomes from its states obs (T+1, 6):
    reached (blocks the agent touched), first ('red', 'green' or None: the block touched first; a tie goes to
    the nearer), pushed (blocks that entered some target), both (at some step the two sat in different targets),
    target {block: the first target it entered, or None}."""
    touch = touching(obs)
    reached = touch.any(0)
    first = None
    if reached.any():
        t = int(np.argmax(touch.any(1)))
        if touch[t].all():
            d = [np.linalg.norm(obs[t, :2] - obs[t, 2 + 2 * j: 4 + 2 * j]) for j in range(2)]
            first = BLOCKS[int(np.argmin(d))]
        else:
            first = BLOCKS[int(np.argmax(touch[t]))]
    where = in_targets(obs)
    target = {b: next((w for w in where[:, j] if w is not None), None) for j, b in enumerate(BLOCKS)}
    both = any(set(w) == set(BLOCKS) for w in where)
    return {"reached": int(reached.sum()), "first": first, "pushed": sum(t is not None for t in target.values()),
            "both": both, "target": target}


# ---------------------------------------------------------------- the scripted oracle

ORDERS = [(first, swap) for first in BLOCKS for swap in (False, True)]       # the four modes


class BlockPushOracle:
    """The demonstrator: two independent fair coins per episode (which block first; whether the blocks go to
    their own colour's targets or swapped), kept for the whole episode. It pushes each block along the line to
    its target from a point behind it, and walks around blocks on the way there."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.first, self.swap = BLOCKS[int(rng.integers(2))], bool(rng.integers(2))
        self.order = [self.first, BLOCKS[1 - BLOCKS.index(self.first)]]
        other = {"red": "green", "green": "red"}
        self.goal = {b: TARGETS[other[b] if self.swap else b] for b in BLOCKS}

    def act(self, obs):
        """The action (xy delta, float32) for observation obs (6,)."""
        agent = np.asarray(obs[:2], np.float64)
        blocks = {b: np.asarray(obs[2 + 2 * j: 4 + 2 * j], np.float64) for j, b in enumerate(BLOCKS)}
        todo = [b for b in self.order if np.linalg.norm(blocks[b] - self.goal[b]) >= 0.4 * TOLERANCE]
        if not todo:
            return np.zeros(2, np.float32)
        name = todo[0]                                   # the first block of the chosen order not yet home
        block, goal = blocks[name], np.asarray(self.goal[name])
        d = (goal - block) / np.linalg.norm(goal - block)                      # push direction
        standoff = HALF / np.abs(d).max() + AGENT_RADIUS                       # centre to centre when touching
        rel = agent - block
        along, across = rel @ d, rel[0] * d[1] - rel[1] * d[0]
        if abs(across) < 8.0 and -standoff - 40.0 < along < -standoff + 6.0:   # behind the block, on the line: push
            push = np.clip(np.linalg.norm(goal - block), 4.0, 25.0)
            waypoint = block - d * standoff + d * push
        else:
            waypoint = self.route(agent, block - d * (standoff + 20.0), blocks)
        return np.clip(waypoint - agent, -MAX_DELTA, MAX_DELTA).astype(np.float32)

    @staticmethod
    def route(agent, goal, blocks):
        """The next waypoint of the shortest path from agent to goal that keeps clear of every block: a tiny
        visibility graph over the corners of the blocks' squares grown by the disc and a margin."""
        clear = HALF + AGENT_RADIUS + 10.0
        for b in blocks.values():                        # too close to a block (e.g. one just pushed): back off
            if np.abs(agent - b).max() < clear - 6.0:
                return agent + 20.0 * (agent - b) / np.linalg.norm(agent - b)
        corners = [b + clear * np.array([sx, sy]) for b in blocks.values() for sx in (-1, 1) for sy in (-1, 1)]
        corners = [c for c in corners if all(np.abs(c - b).max() >= clear - 1.0 for b in blocks.values())
                   and np.all((c > AGENT_RADIUS + 5) & (c < ARENA - AGENT_RADIUS - 5))]
        nodes = [agent, goal] + corners
        free = lambda p, q: all(segment_box_distance(p, q, b) >= clear - 6.0 for b in blocks.values())
        cost, previous, todo = {0: 0.0}, {}, {0}
        while todo:                                                            # Dijkstra from the agent
            i = min(todo, key=cost.get)
            todo.remove(i)
            if i == 1:
                break
            for j in range(1, len(nodes)):
                c = cost[i] + np.linalg.norm(nodes[j] - nodes[i])
                if j != i and c < cost.get(j, np.inf) and free(nodes[i], nodes[j]):
                    cost[j], previous[j] = c, i
                    todo.add(j)
        if 1 not in previous:
            return goal                                                        # no clear path: go straight
        j = 1
        while previous[j] != 0:
            j = previous[j]
        return nodes[j]


def segment_box_distance(p, q, centre, samples=24):
    """Smallest Chebyshev-style distance from the segment p-q to the square's centre (sampled; enough here)."""
    t = np.linspace(0.0, 1.0, samples)[:, None]
    points = p + t * (q - p)
    return float(np.abs(points - centre).max(1).min())


# ---------------------------------------------------------------- the demonstrations

NOISE = 4.0           # px, std of the noise on every executed action of a demonstration (labels stay clean)


def demo_policy(seed):
    """The oracle for episode `seed` (two coin flips) as a recording policy: its clean action is the label,
    executed with Gaussian noise (NOISE px) so the data shows recoveries."""
    rng = np.random.default_rng(seed + 1_000_003)          # the noise; the oracle's flips use `seed` itself
    oracle = BlockPushOracle(seed)

    def policy(obs):
        label = oracle.act(obs)
        return label + rng.normal(0.0, NOISE, 2).astype(np.float32), label
    return oracle, policy


def demo_episode(seed):
    """One demonstration; `choice` records the oracle's flips at every step: (green first, swapped)."""
    oracle, policy = demo_policy(seed)
    episode, terminated, _ = record_episode(gym.make("BlockPush2D-v0"), seed, policy)
    del episode["next_obs"]                                # 3 MB less; obs holds every state but the last
    episode["choice"] = np.tile(np.array([oracle.first == "green", oracle.swap], np.int8), (len(episode["obs"]), 1))
    episode["success"] = terminated                        # terminates only with both blocks home
    return episode


# ---------------------------------------------------------------- results: Tables 1 and 2, the figure

def tables(found):
    """Of the modes() of every rollout: Table 1 (R1, R2: one / both blocks reached; P1, P2: one / both pushed into
    targets) and Table 2 (the block reached first; each block's target) as fractions of all rollouts, each with its
    95 % Wilson interval, and the entropy in nats of the four orders (first block x assignment) over the rollouts
    that finished one."""
    n = len(found)
    counts = {"R1": sum(m["reached"] >= 1 for m in found), "R2": sum(m["reached"] == 2 for m in found),
              "P1": sum(m["pushed"] >= 1 for m in found), "P2": sum(m["both"] for m in found),
              **{f"first_{b}": sum(m["first"] == b for m in found) for b in BLOCKS},
              **{f"{b}_to_{t}": sum(m["target"][b] == t for m in found) for b in BLOCKS for t in BLOCKS}}
    orders = [(m["first"], m["target"]["red"]) for m in found if m["both"] and m["first"]]   # (sorted below: a set's
    # iteration order changes from process to process, and with it the last bit of a sum)
    return {"blockpush": {key: c / n for key, c in counts.items()},
            "blockpush_ci95": {key: wilson(c, n) for key, c in counts.items()},
            "order_entropy_nats": entropy_nats([orders.count(o) for o in sorted(set(orders), key=str)])}


def metrics(trajectories):
    """Tables 1 and 2 over the rollouts, and each rollout's first block and targets (modes() once per rollout)."""
    found = [modes(t["obs"]) for t in trajectories]
    return tables(found), [{"first": m["first"], "target": m["target"]} for m in found]


def figure(plt, trajectories, title):
    """Fig. 2 in the spirit of Block push: one panel per order (first block x targets), with each rollout's block
    paths in the blocks' colours and the agent's in grey; rollouts that finish no order are counted in the title."""
    import matplotlib.patches as patches
    fig, axes = plt.subplots(2, 2, figsize=(5, 5.3))
    found = [modes(t["obs"]) for t in trajectories]
    colour = {"red": "tab:red", "green": "tab:green"}
    for ax, (first, swap) in zip(axes.flat, ORDERS):
        mine = [t for t, m in zip(trajectories, found) if m["both"] and m["first"] == first
                and (m["target"]["red"] == "green") == swap]
        for name, (x, y) in TARGETS.items():
            ax.add_patch(patches.Rectangle((x - HALF, y - HALF), 2 * HALF, 2 * HALF, fill=False, ec=colour[name], lw=2))
        for t in mine:
            ax.plot(t["obs"][:, 0], t["obs"][:, 1], color="0.6", alpha=0.15, lw=0.8)
            for j, name in enumerate(BLOCKS):
                ax.plot(t["obs"][:, 2 + 2 * j], t["obs"][:, 3 + 2 * j], color=colour[name], alpha=0.3, lw=1)
        ax.set_title(f"{first} first, {'swapped' if swap else 'own colours'}: {len(mine) / len(found):.0%}", fontsize=8)
        ax.set_xlim(0, ARENA); ax.set_ylim(0, ARENA); ax.set_aspect("equal")
        ax.set_xticks([]); ax.set_yticks([])
    unfinished = sum(not (m["both"] and m["first"]) for m in found)
    fig.suptitle(f"{title}; {unfinished / len(found):.0%} finish no order", fontsize=9)
    return fig


def oracle(seed):
    """The oracle without the demonstrations' noise, as evaluate.py --expert runs it: it reads the observation."""
    chosen = BlockPushOracle(seed)
    return lambda env, obs: chosen.act(obs)


# Table 4's block-push column (k 24, h 5, 4 layers x 4 heads x 72), except: batch 256, lr 2e-3, cosine, compiled,
# dropout 0 (as PushT), epochs to fit 15 min on one core; alpha 10 (the offset term is small in z-scored units).
RECORD = Env(name="blockpush", make=lambda **options: gym.make("BlockPush2D-v0", **options), demo_episode=demo_episode,
             expert=oracle, metrics=metrics, figure=figure,
             score=("home {:.0f}/2", lambda env, info: sum(w is not None for w in (info or env.unwrapped.info())["in_target"].values())),
             k_sweep=(1, 4, 8, 24, 48),
             settings=dict(obs_dim=6, act_dim=2, k=24, context=5, n_layer=4, n_head=4, n_embd=72, dropout=0.0,
                           epochs=20, batch_size=256, lr=2e-3, schedule="cosine", compile=True, alpha=10.0,
                           rbc_layers=4, rbc_width=256))
