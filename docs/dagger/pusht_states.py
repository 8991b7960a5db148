"""
Which PushT states does DAgger label, and how do their labels compare with the expert's own episodes?

    python docs/dagger/pusht_states.py runs/dagger-pusht

For the expert's demonstrations (demos.npz, first 3,000 and all) and each round's D_r of each seed, from the
saved 18-D observations (16 T keypoint coordinates, then the agent position) and labels:
- how far the T is from its goal: the mean distance (px) of its 8 keypoints to where they sit at the goal,
  its median and the share of states within 20 px (the final, precise pushes);
- how far the agent is from the T: the distance (px) from the agent to the keypoints' centroid;
- how often the label turns back: the share of steps whose target direction (label - agent position)
  differs by more than 90 degrees from the previous step's, a sign of labels that switch plans.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import data  # noqa: E402
import envs  # noqa: E402


def goal_keypoints():
    """(8, 2) keypoints of the T at gym-pusht's goal pose."""
    env = envs.make("pusht")
    env.reset(seed=0)
    goal = env.unwrapped.goal_pose
    obs, _ = env.reset(options={"reset_to_state": [50.0, 50.0, goal[0], goal[1], goal[2]]})
    env.close()
    return obs[:16].reshape(8, 2)


def describe(name, demos, goal):
    obs, actions = demos["obs"], demos["actions"]
    keypoints, agent = obs[:, :16].reshape(-1, 8, 2), obs[:, 16:]
    to_goal = np.linalg.norm(keypoints - goal, axis=-1).mean(-1)
    to_block = np.linalg.norm(agent - keypoints.mean(1), axis=-1)
    direction = actions - agent
    turns = []
    for episode in data.split_episodes(dict(obs=obs, actions=direction, episode_ends=demos["episode_ends"])):
        d = episode["actions"]
        if len(d) > 1:
            cos = (d[1:] * d[:-1]).sum(-1) / (np.linalg.norm(d[1:], axis=-1) * np.linalg.norm(d[:-1], axis=-1) + 1e-9)
            turns += list(cos < 0)
    print(f"{name:<28} {len(obs):>7} {np.median(to_goal):>12.0f} {np.mean(to_goal < 20):>10.3f} "
          f"{np.median(to_block):>13.0f} {np.mean(turns):>12.3f}")


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join("runs", "dagger-pusht")
    goal = goal_keypoints()
    print(f"{'data':<28} {'labels':>7} {'T to goal':>12} {'< 20 px':>10} {'agent to T':>13} {'turns back':>12}")
    demos = data.load_demos(os.path.join(folder, "demos.npz"))
    first = {k: v for k, v in demos.items()}
    n0 = 3000
    describe("expert, all", demos, goal)
    import dagger  # noqa: E402  (only for first_transitions)
    describe("expert, first 3,000", dagger.first_transitions(first, n0), goal)
    for seed in sorted(d for d in os.listdir(folder) if d.startswith("seed")):
        for r in range(1, 10):
            path = os.path.join(folder, seed, f"round{r}.npz")
            if os.path.exists(path):
                describe(f"DAgger {seed} round {r}", data.load_demos(path), goal)
