"""
A scripted PushT expert: a small push-primitive planner that reads the true state of gym-pusht.

The planner, in one paragraph: from the current block pose, enumerate push primitives (a contact
point on the T's outline, pushed along its inward normal by some depth); predict each push's effect
with a short lookahead in a private copy of gym-pusht's physics; score the predicted pose against the
goal (position + angle error while far, coverage once close); navigate around the T to the push's
start point; on arrival re-choose the depth from the true state; push along a straight line; re-plan.
If no single push helps, look two pushes ahead. Everything the expert commands is a target position
at most ~50 px ahead of the agent, moving smoothly, so its actions look like teleoperation and are
predictable from the last few observations (which makes it easier for a Behavior Transformer to imitate).

Sections: geometry of the T, push primitives, effect prediction (physics lookahead), navigation,
the expert (choosing a push, following it: coarse pushes, then fine alignment), demonstrations.

Why a physics lookahead rather than an analytic push model: gym-pusht's block has no momentum
(space damping 0 zeroes its velocity every substep) and its contacts are frictionless, so a push's
outcome depends only on the disk's path. Simulating that path in a copy of the same pymunk world
(built with gym-pusht's own constructors) handles the walls and costs about 0.5 ms per candidate. Two
uses: a sweep of every candidate with the disk moving straight at constant speed (cheap, to choose the
contact), and, on arrival at the chosen contact, a replay of the exact PD-controlled execution from the
true agent position and velocity (to choose the depth; its predictions match the env to ~1e-9 px).

Interface: PushTExpert(seed, explore).act(env) -> action, .reset(seed); it reads the true state from
env.unwrapped and re-plans whenever its plan no longer fits that state, so it also labels states it did
not steer into (DAgger). envs/pusht.py records its demonstrations.
"""

import numpy as np
import pymunk
from gym_pusht.envs.pusht import PushTEnv


# -----------------------------------------------------------------------------
# geometry of the T
#
# Body frame of the block (the frame of block.position / block.angle): the T is two boxes, the bar
# x in [-60, 60], y in [0, 30], and the stem x in [-15, 15], y in [30, 120]. The centre of gravity
# is (0, 45). World = R(angle) @ body + position, the same convention as pymunk's local_to_world.

BAR = np.array([-60.0, 60.0, 0.0, 30.0])    # x0, x1, y0, y1
STEM = np.array([-15.0, 15.0, 30.0, 120.0])
COG = np.array([0.0, 45.0])
T_AREA = 120 * 30 + 30 * 90
GOAL_POSE = np.array([256.0, 256.0, np.pi / 4])   # gym-pusht's goal_pose (x, y, angle)
AGENT_RADIUS = 15.0
ARENA = (0.0, 512.0)                        # the legal action box; the walls sit at 5 and 506
SUCCESS_COVERAGE = 0.95
KEYPOINTS_BODY = np.array([[-60, 0], [60, 0], [60, 30], [-60, 30],       # pymunk's vertex order, as
                           [-15, 30], [15, 30], [15, 120], [-15, 120]], dtype=np.float64)  # gym-pusht reports them


def wrap_angle(angle):
    """Wrap an angle (or array of angles) to (-pi, pi], so angle errors never jump by 2 pi."""
    return np.pi - np.mod(np.pi - np.asarray(angle, dtype=np.float64), 2 * np.pi)


def cross2(a, b):
    """z-component of the cross product of 2-D vectors: the signed distance of a from the line along unit b."""
    return a[0] * b[1] - a[1] * b[0]


def rotation(angle):
    """2x2 rotation matrix of `angle` radians (counter-clockwise in pymunk's coordinates)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def body_to_world(points, pose):
    """Map body-frame points (..., 2) of a block at pose (x, y, angle) to world coordinates."""
    return np.asarray(points, dtype=np.float64) @ rotation(pose[2]).T + np.asarray(pose[:2], dtype=np.float64)


def world_to_body(points, pose):
    """Inverse of body_to_world."""
    return (np.asarray(points, dtype=np.float64) - np.asarray(pose[:2], dtype=np.float64)) @ rotation(pose[2])


def in_box(points, box, margin=0.0):
    """Boolean mask: which body-frame points (..., 2) lie in `box` (x0, x1, y0, y1) grown by `margin`."""
    p = np.asarray(points, dtype=np.float64)
    return ((p[..., 0] >= box[0] - margin) & (p[..., 0] <= box[1] + margin)
            & (p[..., 1] >= box[2] - margin) & (p[..., 1] <= box[3] + margin))


def point_in_T(points_body, margin=0.0):
    """Boolean mask: which body-frame points lie in the T (closed set), optionally grown by `margin`."""
    return in_box(points_body, BAR, margin) | in_box(points_body, STEM, margin)


def box_corners(box):
    """The 4 corners of an axis-aligned box, counter-clockwise."""
    x0, x1, y0, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def keypoints(pose):
    """The 8 keypoints (8, 2) of gym-pusht's observation for a block at pose: the bar's corners, then the stem's."""
    return body_to_world(KEYPOINTS_BODY, pose)


def _clip_convex(subject, clipper):
    """Sutherland-Hodgman: the part of convex polygon `subject` inside convex CCW polygon `clipper`."""
    out = list(subject)
    for i in range(len(clipper)):
        if not out:
            break
        a, b = clipper[i], clipper[(i + 1) % len(clipper)]
        edge = b - a
        inside = lambda p: edge[0] * (p[1] - a[1]) - edge[1] * (p[0] - a[0]) >= 0
        pts, out = out, []
        for j in range(len(pts)):
            p, q = pts[j], pts[(j + 1) % len(pts)]
            if inside(q):
                if not inside(p):
                    out.append(_intersect(p, q, a, b))
                out.append(q)
            elif inside(p):
                out.append(_intersect(p, q, a, b))
    return out


def _intersect(p, q, a, b):
    """Intersection of segment p-q with the infinite line through a-b."""
    d1, d2 = q - p, b - a
    t = (d2[0] * (p[1] - a[1]) - d2[1] * (p[0] - a[0])) / (d1[0] * d2[1] - d1[1] * d2[0])
    return p + t * d1


def _area(poly):
    """Shoelace area of a polygon given as a list of points."""
    if len(poly) < 3:
        return 0.0
    p = np.array(poly)
    return 0.5 * abs(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1)))


def coverage(pose, goal=GOAL_POSE):
    """Fraction of the goal T covered by the block at `pose`: gym-pusht's success measure, without shapely."""
    blocks = [body_to_world(box_corners(b), pose) for b in (BAR, STEM)]
    goals = [body_to_world(box_corners(b), goal) for b in (BAR, STEM)]
    return sum(_area(_clip_convex(b, g)) for b in blocks for g in goals) / T_AREA


ANGLE_WEIGHT = 130.0  # px per radian of angle error


def pose_cost(poses, goal=GOAL_POSE, angle_weight=None):
    """Distance of pose(s) from the goal: centre-of-gravity distance (px) + angle_weight * |angle error| (rad)."""
    angle_weight = ANGLE_WEIGHT if angle_weight is None else angle_weight
    poses = np.atleast_2d(poses)
    c, s = np.cos(poses[:, 2]), np.sin(poses[:, 2])
    cog = poses[:, :2] + np.stack([c * COG[0] - s * COG[1], s * COG[0] + c * COG[1]], axis=1)
    goal_cog = body_to_world(COG, goal)
    return np.linalg.norm(cog - goal_cog, axis=1) + angle_weight * np.abs(wrap_angle(poses[:, 2] - goal[2]))


# -----------------------------------------------------------------------------
# push primitives
#
# A push is (contact point on the outline, outward normal, depth): the disk starts `standoff` px out
# along the normal and moves straight in until its centre is `depth` px past first touch. Contact
# points are spread along the 8 edges of the outline, except where the disk (radius 15) cannot reach
# them: next to the stem under the bar, and next to the bar along the stem.

EDGES = [  # name, first point, last point, outward normal, number of contact points
    ("bar_top",         (-56, 0),   (56, 0),    (0, -1), 9),
    ("bar_right",       (60, 4),    (60, 26),   (1, 0),  3),
    ("bar_under_right", (58, 30),   (38, 30),   (0, 1),  3),
    ("stem_right",      (15, 52),   (15, 116),  (1, 0),  7),
    ("stem_bottom",     (11, 120),  (-11, 120), (0, 1),  3),
    ("stem_left",       (-15, 116), (-15, 52),  (-1, 0), 7),
    ("bar_under_left",  (-38, 30),  (-58, 30),  (0, 1),  3),
    ("bar_left",        (-60, 26),  (-60, 4),   (-1, 0), 3),
]
EDGE_NAMES = [e[0] for e in EDGES]


def contact_points():
    """All candidate contacts in the body frame: (points (K, 2), outward normals (K, 2), edge index (K,))."""
    points, normals, edge = [], [], []
    for i, (_, a, b, n, k) in enumerate(EDGES):
        for t in np.linspace(0.0, 1.0, k):
            points.append((1 - t) * np.array(a) + t * np.array(b))
            normals.append(n)
            edge.append(i)
    return np.array(points, dtype=np.float64), np.array(normals, dtype=np.float64), np.array(edge)


CONTACTS, NORMALS, CONTACT_EDGE = contact_points()


def nearest_edge(point_world, pose):
    """Index into EDGES of the outline edge nearest to a world point (e.g. the agent while it pushes)."""
    q = world_to_body(point_world, pose)
    best, best_d = 0, np.inf
    for i, (_, a, b, _, _) in enumerate(EDGES):
        a, b = np.array(a, float), np.array(b, float)
        t = np.clip(np.dot(q - a, b - a) / np.dot(b - a, b - a), 0, 1)
        d = np.linalg.norm(q - (a + t * (b - a)))
        if d < best_d:
            best, best_d = i, d
    return best


def first_push_edge(states):
    """Name of the edge the agent is touching the first time the block moves, from an episode's (T, 5) states."""
    states = np.asarray(states, dtype=np.float64)
    moved = np.flatnonzero(np.abs(np.diff(states[:, 2:], axis=0)).max(axis=1) > 1e-6)
    if len(moved) == 0:
        return None
    t = moved[0] + 1  # the first state after the block moved; the agent is still in contact
    return EDGE_NAMES[nearest_edge(states[t, :2], states[t, 2:])]


# -----------------------------------------------------------------------------
# effect prediction: a physics lookahead in a private copy of gym-pusht's world

SIM_DT = 0.01  # gym-pusht's physics substep
MAX_PUSH_STEPS = 25  # a push that has not reached its end after this many env steps is abandoned


class PushSimulator:
    """A private pymunk world built with gym-pusht's own constructors (same walls, T, mass, inertia, disk)."""

    def __init__(self):
        self.space = pymunk.Space()
        self.space.gravity = 0, 0
        self.space.damping = 0.0  # as in gym-pusht: the block's velocity is zeroed every substep
        walls = [((5, 506), (5, 5)), ((5, 5), (506, 5)), ((506, 5), (506, 506)), ((5, 506), (506, 506))]
        self.space.add(*[PushTEnv.add_segment(self.space, a, b, 2) for a, b in walls])
        self.block, _ = PushTEnv.add_tee(self.space, (256, 300), 0)
        self.disk = PushTEnv.add_circle(self.space, (-100, -100), AGENT_RADIUS)

    def push(self, pose, start, direction, n_substeps, speed):
        """Block poses (n_substeps, 3) while the disk moves from `start` along `direction` at `speed` px/s."""
        # Angle before position: setting the angle rotates about the centre of gravity.
        self.block.angle = float(pose[2])
        self.block.position = float(pose[0]), float(pose[1])
        self.block.velocity = 0, 0
        self.block.angular_velocity = 0
        self.disk.position = float(start[0]), float(start[1])
        self.disk.velocity = float(direction[0] * speed), float(direction[1] * speed)
        poses = np.empty((n_substeps, 3))
        for k in range(n_substeps):
            self.space.step(SIM_DT)
            p = self.block.position
            poses[k] = p[0], p[1], self.block.angle
        return poses

    def env_step(self, action):
        """One gym-pusht env step: 10 substeps of the PD controller (kp 100, kv 20) pulling the disk to `action`."""
        for _ in range(10):
            p, v = self.disk.position, self.disk.velocity
            ax = 100.0 * (action[0] - p[0]) - 20.0 * v[0]
            ay = 100.0 * (action[1] - p[1]) - 20.0 * v[1]
            self.disk.velocity = v[0] + ax * SIM_DT, v[1] + ay * SIM_DT
            self.space.step(SIM_DT)

    def execute_push(self, agent, velocity, pose, line_start, line_end, lead, done):
        """Block pose after the expert executes this push from the true agent state, step by step as in the env."""
        self.block.angle = float(pose[2])
        self.block.position = float(pose[0]), float(pose[1])
        self.block.velocity = 0, 0
        self.block.angular_velocity = 0
        self.disk.position = float(agent[0]), float(agent[1])
        self.disk.velocity = float(velocity[0]), float(velocity[1])
        for _ in range(MAX_PUSH_STEPS):
            disk = np.array(self.disk.position)
            if np.linalg.norm(disk - line_end) < done:
                break
            self.env_step(push_target(disk, line_start, line_end, lead))
        p = self.block.position
        return np.array([p[0], p[1], self.block.angle])


def push_target(agent, line_start, line_end, lead):
    """Action during a push: `lead` px beyond the agent's projection on the push line, stopping at its end."""
    length = np.linalg.norm(line_end - line_start)
    u = (line_end - line_start) / length
    return line_start + np.clip(np.dot(agent - line_start, u) + lead, 0.0, length) * u


def predict_pushes(pose, contacts, normals, depth_max, speed, clearance=8.0):
    """Predicted block poses along each candidate push, and the push depth each substep corresponds to.

    The disk starts `clearance` px off the contact (no touch for a few substeps, so no contact state
    carries over between candidates) and moves in at `speed` until `depth_max` px past first touch.
    Returns (poses (K, S, 3), depths (S,)). A fresh world per call makes this a pure function of pose.
    """
    sim = PushSimulator()
    step = speed * SIM_DT
    n = int(np.ceil((clearance + depth_max) / step))
    depths = (np.arange(n) + 1) * step - clearance
    contacts_w = body_to_world(contacts, pose)
    normals_w = np.atleast_2d(normals) @ rotation(pose[2]).T
    poses = np.stack([sim.push(pose, c + nw * (AGENT_RADIUS + clearance), -nw, n, speed)
                      for c, nw in zip(contacts_w, normals_w)])
    return poses, depths


# -----------------------------------------------------------------------------
# navigation: shortest collision-free paths around the T, inside the arena
#
# The obstacle is the T inflated by the disk radius plus a margin, taken as two grown boxes (square
# corners, a conservative Minkowski sum). Paths run on a visibility graph over the grown boxes' corners.

NAV_MARGIN = 5.0
NAV_GROW = AGENT_RADIUS + NAV_MARGIN


def segment_hits_box(p0, p1, box, grow):
    """Whether the body-frame segment p0-p1 passes through the open box grown by `grow` (slab test)."""
    lo = np.array([box[0] - grow, box[2] - grow])
    hi = np.array([box[1] + grow, box[3] + grow])
    d = p1 - p0
    t0, t1 = 0.0, 1.0
    for i in range(2):
        if abs(d[i]) < 1e-12:
            if p0[i] <= lo[i] or p0[i] >= hi[i]:
                return False
        else:
            a, b = (lo[i] - p0[i]) / d[i], (hi[i] - p0[i]) / d[i]
            t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
            if t0 >= t1 - 1e-9:
                return False
    return True


def segment_blocked(p0, p1, pose, grow=NAV_GROW):
    """Whether the disk moving from world point p0 to p1 would come within the margin of the T at pose."""
    q0, q1 = world_to_body(p0, pose), world_to_body(p1, pose)
    return segment_hits_box(q0, q1, BAR, grow) or segment_hits_box(q0, q1, STEM, grow)


def in_arena(points, margin=0.0):
    """Boolean mask: which world points are legal action targets (inside the arena by `margin`)."""
    p = np.asarray(points)
    return np.all((p >= ARENA[0] + margin) & (p <= ARENA[1] - margin), axis=-1)


def escape_point(agent, pose):
    """The nearest point outside the inflated T, for an agent that is touching or close to the block."""
    q = world_to_body(agent, pose)
    angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    for dist in np.arange(1.0, 80.0, 1.0):
        cand = q + dist * dirs
        ok = ~point_in_T(cand, NAV_GROW + 0.5) & in_arena(body_to_world(cand, pose), 1.0)
        if ok.any():
            return body_to_world(cand[np.argmax(ok)], pose)
    return None


class Navigator:
    """Shortest paths from the agent to any goal around the T at `pose` (Dijkstra on a visibility graph)."""

    def __init__(self, agent, pose):
        self.pose = pose
        start = np.asarray(agent, dtype=np.float64)
        prefix = [start]
        if point_in_T(world_to_body(start, pose), NAV_GROW):  # in contact: step out first
            out = escape_point(start, pose)
            prefix = [start, out] if out is not None else [start]
        corners = np.concatenate([box_corners(np.array(b) + [-g, g, -g, g])
                                  for b in (BAR, STEM) for g in [NAV_GROW + 1.0]])
        corners = corners[~point_in_T(corners, NAV_GROW)]
        corners = body_to_world(corners, pose)
        corners = corners[in_arena(corners)]
        self.nodes = np.concatenate([prefix[-1][None], corners])
        self.prefix = prefix[:-1]
        self.prefix_len = sum(np.linalg.norm(b - a) for a, b in zip(prefix[:-1], prefix[1:]))
        n = len(self.nodes)
        self.dist = np.full(n, np.inf)
        self.prev = np.full(n, -1)
        self.dist[0] = self.prefix_len
        done = np.zeros(n, bool)
        for _ in range(n):  # Dijkstra on a graph of at most 9 nodes
            i = int(np.argmin(np.where(done, np.inf, self.dist)))
            if not np.isfinite(self.dist[i]):
                break
            done[i] = True
            for j in range(n):
                if not done[j] and not segment_blocked(self.nodes[i], self.nodes[j], pose):
                    d = self.dist[i] + np.linalg.norm(self.nodes[j] - self.nodes[i])
                    if d < self.dist[j]:
                        self.dist[j], self.prev[j] = d, i
        self.reachable = np.flatnonzero(np.isfinite(self.dist))

    def _last_node(self, goal):
        """(path length, last graph node before the goal) of the shortest path to `goal`."""
        best, best_i = np.inf, -1
        for i in self.reachable:
            d = self.dist[i] + np.linalg.norm(goal - self.nodes[i])
            if d < best and not segment_blocked(self.nodes[i], goal, self.pose):
                best, best_i = d, i
        return best, best_i

    def length(self, goal):
        """Length of the shortest path to `goal`, inf if there is none."""
        return self._last_node(np.asarray(goal, dtype=np.float64))[0]

    def path(self, goal):
        """The waypoints (start, ..., goal) of the shortest path, or None if `goal` is unreachable."""
        goal = np.asarray(goal, dtype=np.float64)
        d, i = self._last_node(goal)
        if i < 0:
            return None
        nodes = [goal]
        while i >= 0:
            nodes.append(self.nodes[i])
            i = self.prev[i]
        return self.prefix + nodes[::-1]


def carrot(path, agent, lead, pose=None):
    """The point `lead` px along the polyline `path`; if `pose` is given, the farthest such point
    (up to lead) that the agent can reach in a straight line without touching the T."""
    agent = np.asarray(agent, dtype=np.float64)
    targets, left = [], lead
    for a, b in zip(path[:-1], path[1:]):
        seg = np.linalg.norm(b - a)
        for f in np.linspace(0.0, 1.0, 6)[1:]:
            if f * seg > left:
                break
            targets.append(a + f * (b - a))
        if seg >= left:
            targets.append(a + (b - a) * left / max(seg, 1e-9))
            break
        left -= seg
    best = path[1] if len(path) > 1 else path[0]
    origin = agent if pose is None or not point_in_T(world_to_body(agent, pose), AGENT_RADIUS + 2.0) else path[1]
    for t in targets:
        if pose is None or not segment_blocked(origin, t, pose, AGENT_RADIUS + 2.0):
            best = t
        else:
            break
    return best


# -----------------------------------------------------------------------------
# the expert: choose a push, navigate to it, push, re-plan; fine alignment near the goal

NAV_LEAD = 50.0          # px: the action target runs at most this far ahead of the agent
COARSE = dict(speed=200.0, depth_min=4.0, depth_max=100.0, path_weight=0.06, lead=50.0, done=3.0, depth_step=2.0)
FINE = dict(speed=100.0, depth_min=1.0, depth_max=10.0, path_weight=2e-5, lead=20.0, done=0.5, depth_step=0.5)
FINE_COVERAGE = 0.80     # switch to small pushes scored by coverage above this coverage
FINISH_COST = 12.0       # coarse pushes predicted to end this close to the goal are checked for success...
FINISH_COVERAGE = 0.955  # ...and count as perfect if they reach this coverage
STANDOFF = 30.0          # how far out along the normal a push starts, so the disk arrives aligned
ARRIVE = 20.0            # start pushing once the agent is this close to the push's start point...
ARRIVE_OFFSET = 6.0      # ...and at most this far from the push line (or within ARRIVE_OFFSET of the start)


def read_state(env):
    """(agent position, agent velocity, block pose (x, y, angle)) read from the unwrapped gym-pusht env."""
    u = env.unwrapped
    return (np.array(u.agent.position, dtype=np.float64), np.array(u.agent.velocity, dtype=np.float64),
            np.array([u.block.position[0], u.block.position[1], u.block.angle], dtype=np.float64))


def state_vector(env):
    """[agent x, agent y, block x, block y, block angle mod 2 pi]: the dataset's 5-D `state`, as gym-pusht's obs_type="state"."""
    agent, _, pose = read_state(env)
    return [agent[0], agent[1], pose[0], pose[1], pose[2] % (2 * np.pi)]


def standoff_for(contact_w, normal_w):
    """Push start offset along the normal: STANDOFF, shortened where the arena ends (None if too little room)."""
    for s in (STANDOFF, 15.0, NAV_MARGIN + 2.0):
        if in_arena(contact_w + normal_w * (AGENT_RADIUS + s), 1.0):
            return s
    return None


class PushTExpert:
    """Scripted PushT expert. act(env) -> action (2,) for the env's current true state; reset() between episodes.

    It keeps a current push plan between calls but checks it against the true state on every call and
    re-plans when it no longer fits, so it can act from any state (e.g. for DAgger relabelling).
    explore > 0 picks uniformly among pushes whose score is within `explore` (px) of the best one,
    with its own RNG, which makes demonstrations more diverse (multi-modal) and stays reproducible.
    memoryless=True forgets the plan before every call, so the action is a function of the true state
    alone (DAgger's labels, see label()); a push under way is then recognised from the state.
    """

    def __init__(self, seed=0, explore=0.0, memoryless=False):
        self.explore, self.memoryless = explore, memoryless
        self.reset(seed)

    def reset(self, seed=None):
        """Forget the current plan; reseed the exploration RNG (seed None keeps the current RNG)."""
        self.plan = None
        self.tabu, self.tabu_pose = set(), None
        if seed is not None or not hasattr(self, "rng"):
            self.rng = np.random.default_rng(seed)

    # --- choosing a push ---

    def choose_push(self, agent, pose, goal):
        """Best push from this state: coarse scoring by pose error, fine scoring by coverage near the goal."""
        if self.tabu_pose is None or np.abs(pose - self.tabu_pose).max() > 1e-6:
            self.tabu, self.tabu_pose = set(), pose.copy()   # contacts found useless, for this block pose only
        fine = coverage(pose, goal) > FINE_COVERAGE
        plan = self._search(agent, pose, goal, fine) if fine else None
        plan = plan or self._search(agent, pose, goal, False) or self._two_push(agent, pose, goal)
        if plan is None and self.tabu:   # everything left was tried from here: forget and try again
            self.tabu = set()
            plan = self._search(agent, pose, goal, False)
        return plan

    def _candidates(self, agent, pose, goal, fine, tabu=()):
        """Every reachable push from this state with its predicted outcome and score (lower is better).

        Returns None if no push is reachable, else dict(index (K,) contact indices, poses (K, S, 3) predicted
        block poses, depths (S,), cost (K, S) predicted error, score (K, S) = cost + path-length penalty,
        ok (K, S) = the push moves the block and improves on the current error), now = the current error.
        """
        cfg = FINE if fine else COARSE
        nav = Navigator(agent, pose)
        contacts_w = body_to_world(CONTACTS, pose)
        normals_w = NORMALS @ rotation(pose[2]).T
        index, nav_len = [], []
        for k in range(len(CONTACTS)):
            s = None if k in tabu else standoff_for(contacts_w[k], normals_w[k])
            if s is not None:
                length = nav.length(contacts_w[k] + normals_w[k] * (AGENT_RADIUS + s))
                if np.isfinite(length):
                    index.append(k), nav_len.append(length + s)
        if not index:
            return None
        index, nav_len = np.array(index), np.array(nav_len)
        poses, depths = predict_pushes(pose, CONTACTS[index], NORMALS[index], cfg["depth_max"], cfg["speed"])
        valid = depths >= cfg["depth_min"]
        poses, depths = poses[:, valid], depths[valid]
        moved = np.abs(poses[:, :, :2] - pose[:2]).max(axis=2) > 0.2
        if fine:  # error = 1 - coverage
            now = 1.0 - coverage(pose, goal)
            cost = np.ones(poses.shape[:2])
            for i, j in zip(*np.nonzero(moved)):
                cost[i, j] = 1.0 - coverage(poses[i, j], goal)
            ok = moved & (cost < now - 0.002)
        else:  # error = pose_cost, and 0 for pushes predicted to finish the task
            now = pose_cost(pose, goal)[0]
            cost = pose_cost(poses.reshape(-1, 3), goal).reshape(poses.shape[:2])
            for i, j in zip(*np.nonzero(moved & (cost < FINISH_COST))):
                if coverage(poses[i, j], goal) > FINISH_COVERAGE:
                    cost[i, j] = 0.0
            ok = moved & (cost < now - 1.0)
        score = cost + cfg["path_weight"] * (nav_len[:, None] + depths[None])
        return dict(index=index, poses=poses, depths=depths, cost=cost, score=score, ok=ok, now=now,
                    moved=moved, nav_len=nav_len)

    def _plan(self, c, i, j, pose, fine):
        """The plan for candidate push (i, j) of _candidates' result `c`."""
        k = c["index"][i]
        return dict(index=k, contact=CONTACTS[k], normal=NORMALS[k], edge=CONTACT_EDGE[k], fine=fine,
                    depth=float(c["depths"][j]), pose=pose.copy(), stage="approach", steps=0,
                    predicted=c["poses"][i, j])

    def _search(self, agent, pose, goal, fine):
        """The best single push (or, with explore > 0, a random one among the near-best), None if none helps."""
        c = self._candidates(agent, pose, goal, fine, self.tabu)
        if c is None or not c["ok"].any():
            return None
        score = np.where(c["ok"], c["score"], np.inf)
        best_depth = score.argmin(axis=1)
        best = score[np.arange(len(score)), best_depth]
        tol = 0.0 if fine else self.explore
        near = np.flatnonzero(best <= best.min() + tol)
        i = near[self.rng.integers(len(near))] if len(near) > 1 else int(best.argmin())
        return self._plan(c, i, best_depth[i], pose, fine)

    def _two_push(self, agent, pose, goal, n_first=4):
        """When no single push helps (the T needs e.g. a pure rotation, which any one push trades against
        translation): try the n_first most promising first pushes and keep the one whose best follow-up ends best."""
        c = self._candidates(agent, pose, goal, False, self.tabu)
        if c is None:
            return None
        cost = np.where(c["moved"] & (c["depths"] >= 10.0)[None], c["cost"], np.inf)
        depth_of = cost.argmin(axis=1)
        order = np.argsort(cost[np.arange(len(cost)), depth_of])[:n_first]
        best, best_total = None, c["now"] - 1.0
        for i in order:
            j = depth_of[i]
            if not np.isfinite(cost[i, j]):
                continue
            k = c["index"][i]
            end = body_to_world(CONTACTS[k] + NORMALS[k] * (AGENT_RADIUS - c["depths"][j]), pose)
            c2 = self._candidates(end, c["poses"][i, j], goal, False)
            if c2 is None or not c2["moved"].any():
                continue
            final = np.where(c2["moved"], c2["cost"], np.inf).min()
            if final < best_total:
                best, best_total = self._plan(c, i, j, pose, False), final
        return best

    def _redepth(self, agent, velocity, pose, goal, line_start, contact_w, normal_w):
        """On arrival, re-choose the push depth by simulating the push's exact execution from the true
        agent state (position and velocity); returns (depth, predicted pose), or None if no depth helps."""
        plan = self.plan
        cfg = FINE if plan["fine"] else COARSE
        sim = PushSimulator()
        depths = np.arange(cfg["depth_min"], cfg["depth_max"] + 1e-9, cfg["depth_step"])
        poses = np.array([sim.execute_push(agent, velocity, pose, line_start,
                                           contact_w + normal_w * (AGENT_RADIUS - d), cfg["lead"], cfg["done"])
                          for d in depths])
        if plan["fine"]:
            gain = np.array([coverage(p, goal) for p in poses]) - coverage(pose, goal)
            if gain.max() <= 0.002:
                return None
            j = int(gain.argmax())
        else:
            cost = pose_cost(poses, goal)
            for j in np.flatnonzero(cost < FINISH_COST):
                if coverage(poses[j], goal) > FINISH_COVERAGE:
                    cost[j] = 0.0
            if cost.min() >= pose_cost(pose, goal)[0] - 1.0:
                return None
            j = int(np.argmin(cost + cfg["path_weight"] * depths))
        return float(depths[j]), poses[j]

    # --- following a plan ---

    def _follow(self, agent, velocity, pose, goal):
        """Action that advances the current plan, or None when the plan is done or no longer fits the state."""
        plan = self.plan
        cfg = FINE if plan["fine"] else COARSE
        if plan["stage"] == "approach":
            moved = np.abs(pose[:2] - plan["pose"][:2]).max() > 1.0 or abs(wrap_angle(pose[2] - plan["pose"][2])) > 0.02
            if moved:
                return None
            contact_w = body_to_world(plan["contact"], pose)
            normal_w = rotation(pose[2]) @ plan["normal"]
            s = standoff_for(contact_w, normal_w)
            if s is None:
                return None
            start = contact_w + normal_w * (AGENT_RADIUS + s)
            offset = np.linalg.norm(agent - start)
            lateral = abs(cross2(agent - start, normal_w))
            if self.memoryless and np.dot(start - agent, normal_w) > 0 and lateral <= ARRIVE_OFFSET:
                # past the start, on the push line: a push under way (its plan was forgotten): push on to
                # the planned depth, without _redepth's lookahead from a start the agent has already left
                end = contact_w + normal_w * (AGENT_RADIUS - plan["depth"])
                if np.dot(end - agent, -normal_w) <= cfg["done"]:
                    return None
                return push_target(agent, start, end, cfg["lead"])
            if offset > ARRIVE_OFFSET and (offset > ARRIVE or lateral > ARRIVE_OFFSET):
                path = Navigator(agent, pose).path(start)
                if path is None:
                    return None
                return carrot(path, agent, NAV_LEAD, pose)
            choice = self._redepth(agent, velocity, pose, goal, start, contact_w, normal_w)
            if choice is None:  # the push does not help from where the agent really arrived: do not retry it
                self.tabu.add(plan["index"])
                return None
            depth, plan["predicted"] = choice
            plan.update(stage="push", line_start=start, depth=depth,
                        line_end=contact_w + normal_w * (AGENT_RADIUS - depth))
        # push stage: a carrot that slides along the straight push line and stops at its end
        plan["steps"] += 1
        a, b = plan["line_start"], plan["line_end"]
        off_line = abs(cross2(agent - a, (b - a) / np.linalg.norm(b - a))) > 2 * ARRIVE_OFFSET
        if np.linalg.norm(agent - b) < cfg["done"] or plan["steps"] > MAX_PUSH_STEPS or off_line:
            return None
        return push_target(agent, plan["line_start"], plan["line_end"], cfg["lead"])

    def act(self, env):
        """The expert's action (target position, float32 (2,)) for the env's current true state."""
        if self.memoryless:
            self.reset(0)
        agent, velocity, pose = read_state(env)
        goal = np.array(env.unwrapped.goal_pose, dtype=np.float64)
        for _ in range(3):
            if self.plan is None:
                self.plan = self.choose_push(agent, pose, goal)
                if self.plan is None:
                    break
            action = self._follow(agent, velocity, pose, goal)
            if action is not None:
                return np.clip(action, *ARENA).astype(np.float32)
            self.plan = None
        # nothing useful to do from here: back off toward the arena centre and re-plan next step
        away = np.array([256.0, 256.0]) - agent
        step = away / max(np.linalg.norm(away), 1e-9) * min(30.0, np.linalg.norm(away))
        return np.clip(agent + step, *ARENA).astype(np.float32)


def label(env):
    """DAgger's expert label for PushT: the action for env's current true state (agent position and
    velocity, block pose), whatever happened before. The demonstrating expert keeps a plan between calls,
    so its action in a state could depend on its own past; this one plans afresh on every call."""
    return PushTExpert(seed=0, memoryless=True).act(env)


# -----------------------------------------------------------------------------
# demonstrations

EXPLORE = 3.0  # px: randomness among near-best pushes in the demonstrations (multi-modality)


def approach_sides(state, episode_ends):
    """Count of the edge pushed first in each episode of a dataset (a rough multi-modality check)."""
    counts = {}
    for s, e in zip(np.concatenate([[0], episode_ends[:-1]]), episode_ends):
        edge = first_push_edge(state[s:e])
        counts[edge] = counts.get(edge, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
