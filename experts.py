"""
Scripted demonstrators (no learning): one `demo_episode_<env>(seed)` per env, recorded by stepping envs.make(...).

Every episode is a dict of per-step arrays plus a flag:
    obs       (T, obs_dim) float32   the observation before actions[t]
    actions   (T, act_dim) float32   the action label for obs[t]
    next_obs  (T, obs_dim) float32   the observation after actions[t] (next_obs[-1] is the final state)
    success   bool
All randomness comes from np.random.default_rng(seed), and the env is reset with the same seed.
"""

import numpy as np

import blockpush
import envs

POINTMASS_ACTION_NOISE = 0.05   # std of the Gaussian noise added to every point-mass action (executed and recorded)
# push right iff gains . (x, x_dot, theta, theta_dot) > 0. Hand-tuned with the LQR sign pattern (all positive:
# a right-leaning or right-moving pole, or a cart right of centre, is corrected by first pushing right); it scores
# 500/500 on seeds 0-99 both clean and with CARTPOLE_FLIP_PROB flips, and keeps |x| < 0.25.
CARTPOLE_GAINS = np.array([1.0, 2.0, 20.0, 3.0])
CARTPOLE_FLIP_PROB = 0.1        # DART-style: execute the opposite push this often, but record the clean label
BLOCKPUSH_NOISE = 4.0           # px, std of the noise on every executed Block push action (labels stay clean)
TRACK_SPEED = 0.25              # the track expert's desired speed along the centre line's tangent
TRACK_GAIN = 0.3                # ... and its desired lateral velocity: minus this fraction of the lateral offset


def unit_step_targets(waypoints):
    """The grid points visited when walking the waypoints with unit steps (or (1,1) diagonal steps), start excluded."""
    targets = []
    for a, b in zip(np.asarray(waypoints[:-1], np.float64), np.asarray(waypoints[1:], np.float64)):
        n = int(np.abs(b - a).max())
        targets += [a + (b - a) * k / n for k in range(1, n + 1)]
    return targets


def record_episode(env_name, seed, policy):
    """Step envs.make(env_name) from reset(seed) with policy(obs) -> (executed action, label) until it ends.
    Returns (episode arrays, terminated, the last step's info) so the caller can decide what success means."""
    env = envs.make(env_name)
    obs, _ = env.reset(seed=seed)
    episode = {"obs": [], "actions": [], "next_obs": []}
    done = False
    while not done:
        executed, label = policy(obs)
        next_obs, _, terminated, truncated, info = env.step(executed)
        episode["obs"].append(obs)
        episode["actions"].append(label)
        episode["next_obs"].append(next_obs)
        obs, done = next_obs, terminated or truncated
    env.close()
    return {key: np.array(value, dtype=np.float32) for key, value in episode.items()}, terminated, info


def demo_pointmass(env_name, seed):
    """App. A demonstrations: pick a route uniformly at random, walk its unit-step grid points with noisy actions.
    The action aims at the next grid point from the current (jittered) position, so noise never accumulates."""
    rng = np.random.default_rng(seed)
    routes = envs.ROUTES[env_name]
    targets = unit_step_targets(routes[list(routes)[rng.integers(len(routes))]])
    step = 0

    def policy(obs):
        nonlocal step
        target = targets[min(step, len(targets) - 1)]  # the next grid point (the goal again if the route is done)
        step += 1
        action = (target - obs + rng.normal(0.0, POINTMASS_ACTION_NOISE, 2)).astype(np.float32)
        return action, action
    episode, terminated, _ = record_episode(env_name, seed, policy)
    episode["success"] = terminated  # point-mass episodes terminate only at the goal
    return episode


def demo_episode_pointmass1(seed):
    """Multipath #1 demonstration: the upper or the lower way around the block, 50/50."""
    return demo_pointmass("pointmass1", seed)


def demo_episode_pointmass2(seed):
    """Multipath #2 demonstration: the diagonal, up-right-up or right-up-right route, 1/3 each."""
    return demo_pointmass("pointmass2", seed)


def cartpole_expert_action(state):
    """Linear state feedback: push right (1.0) iff CARTPOLE_GAINS . state > 0; scores 500 on CartPole-v1."""
    return float(CARTPOLE_GAINS @ np.asarray(state, np.float64) > 0)


def demo_episode_cartpole(seed):
    """CartPole-v1 demonstration: the linear expert's labels, with DART-style random flips of the executed push."""
    rng = np.random.default_rng(seed)

    def policy(obs):
        clean = cartpole_expert_action(obs)
        executed = 1.0 - clean if rng.random() < CARTPOLE_FLIP_PROB else clean
        return np.array([executed], np.float32), np.array([clean], np.float32)
    episode, terminated, _ = record_episode("cartpole", seed, policy)
    episode["success"] = not terminated  # never fell: ran to the 500-step truncation
    return episode


def blockpush_policy(seed):
    """The Block push oracle for episode `seed` (blockpush.BlockPushOracle: two coin flips) as a recording policy:
    its clean action is the label, executed with Gaussian noise (BLOCKPUSH_NOISE px) so the data shows recoveries."""
    rng = np.random.default_rng(seed + 1_000_003)          # the noise; the oracle's flips use `seed` itself
    oracle = blockpush.BlockPushOracle(seed)

    def policy(obs):
        label = oracle.act(obs)
        return label + rng.normal(0.0, BLOCKPUSH_NOISE, 2).astype(np.float32), label
    return oracle, policy


def demo_episode_blockpush(seed):
    """Block push demonstration; `choice` records the oracle's flips at every step: (green first, swapped)."""
    oracle, policy = blockpush_policy(seed)
    episode, terminated, _ = record_episode("blockpush", seed, policy)
    del episode["next_obs"]                                # 3 MB less; obs holds every state but the last
    episode["choice"] = np.tile(np.array([oracle.first == "green", oracle.swap], np.int8), (len(episode["obs"]), 1))
    episode["success"] = terminated                        # terminates only with both blocks home
    return episode


def track_wanted_velocity(pos):
    """The track expert's desired velocity v* at `pos`: TRACK_SPEED along the nearest centre-line tangent
    minus TRACK_GAIN times the lateral offset along its normal (back toward the centre line)."""
    offset, tangent, normal, _ = envs.track_frame(np.asarray(pos, np.float64))
    return TRACK_SPEED * tangent - TRACK_GAIN * offset * normal


def track_label(state):
    """The track expert, a function of the state (x, y, vx, vy) alone: accelerate to the desired velocity
    (track_wanted_velocity). The env clips the action and adds the actuation noise."""
    state = np.asarray(state, np.float64)
    wanted = track_wanted_velocity(state[:2])
    return np.clip(wanted - state[2:], -envs.TRACK["max_action"], envs.TRACK["max_action"]).astype(np.float32)


def demo_episode_track(seed):
    """Track demonstration: the expert drives (its actions are the labels; the env's noise perturbs them)."""
    def policy(obs):
        action = track_label(obs)
        return action, action
    episode, _, info = record_episode("track", seed, policy)
    episode["success"] = info["success"]                  # the env's own rule: past the end, still on the track
    return episode


def pointmass_label(env_name, pos):
    """The point-mass expert's action from position `pos` alone: aim at the next unit-step grid point of
    the nearest demonstrated route (the first route listed wins a tie, so a fork has one label)."""
    best = None
    for waypoints in envs.ROUTES[env_name].values():
        targets = np.array([waypoints[0]] + unit_step_targets(waypoints))   # (S, 2) grid points, start first
        d = np.linalg.norm(targets - pos, axis=1)
        i = int(d.argmin())
        if best is None or d[i] < best[0] - 1e-9:
            best = (d[i], targets[min(i + 1, len(targets) - 1)])
    return (best[1] - pos).astype(np.float32)


def label(env_name, env):
    """DAgger's label: the expert's action for env's current true state, a function of that state alone
    (not of the episode so far), so the learner's states are labelled as the expert would act in them."""
    state = env.unwrapped
    if env_name in envs.POINTMASS:
        return pointmass_label(env_name, state.pos)
    if env_name == "cartpole":
        return np.array([cartpole_expert_action(state.state)], np.float32)
    if env_name == "track":
        return track_label(np.concatenate([state.pos, state.vel]))
    if env_name == "pusht":
        import pusht_expert
        return pusht_expert.label(env)
    raise ValueError(f"no expert labels env '{env_name}'")


def demo_episode_fn(env_name):
    """The scripted expert's demo_episode(seed) for an env (PushT's planner is imported only when needed)."""
    if env_name == "pusht":
        import pusht_expert
        return pusht_expert.demo_episode
    return EPISODE_FNS[env_name]


EPISODE_FNS = {
    "pointmass1": demo_episode_pointmass1,
    "pointmass2": demo_episode_pointmass2,
    "cartpole": demo_episode_cartpole,
    "blockpush": demo_episode_blockpush,
    "track": demo_episode_track,
}
