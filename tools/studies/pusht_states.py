"""
Which PushT states does DAgger label, and how do their labels compare with the expert's own episodes?

    python -m tools.studies.pusht_states runs/dagger-pusht

For the demonstrations (all, and round 0's) and each round's D_r of each seed, from the saved 18-D observations
(16 T keypoint coordinates, then the agent position) and labels:
- how far the T is from its goal: the mean distance (px) of its 8 keypoints to where they sit at the goal,
  its median and the share of states within 20 px (the final, precise pushes);
- how far the agent is from the T: the distance (px) from the agent to the keypoints' centroid;
- how often the label turns back: the share of steps whose target direction (label - agent position)
  differs by more than 90 degrees from the previous step's, a sign of labels that switch plans;
- how often the label points against the motion: the share of moving steps whose target direction differs by
  more than 90 degrees from where the agent then moved (the executed action's effect). In an expert's own
  episodes the label is the executed action; in DAgger's, this is where the labeller disagrees with the learner;
and for each round's rollouts that failed (ran to the step limit), where the T ended: does the learner get near
the goal and fail there, or fail far from it?
"""

import os

import numpy as np

import data
import envs
from tools import dagger
from tools import studies
from plumbing import demofiles


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
    turns, against = [], []
    for episode in data.split_episodes(dict(obs=obs, actions=direction, episode_ends=demos["episode_ends"])):
        d = episode["actions"]
        if len(d) > 1:
            turns += list(cosine(d[1:], d[:-1]) < 0)
            motion = episode["obs"][1:, 16:] - episode["obs"][:-1, 16:]         # where the executed action took it
            moving = (np.linalg.norm(motion, axis=-1) > 1.0) & (np.linalg.norm(d[:-1], axis=-1) > 1.0)
            against += list(cosine(d[:-1], motion)[moving] < 0)
    print(f"{name:<28} {len(obs):>7} {np.median(to_goal):>12.0f} {np.mean(to_goal < 20):>10.3f} "
          f"{np.median(to_block):>13.0f} {np.mean(turns):>12.3f} {np.mean(against):>15.3f}")


def cosine(a, b):
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-9)


def failures(name, demos, goal, limit):
    """Rollouts that ran to the step limit (failures): how many, and how far their T ended from its goal."""
    ends = demos["episode_ends"]
    lengths = np.diff(np.concatenate([[0], ends]))
    last = demos["obs"][ends[lengths >= limit] - 1, :16].reshape(-1, 8, 2)
    to_goal = np.linalg.norm(last - goal, axis=-1).mean(-1)
    print(f"{name:<28} {len(lengths):>9} {len(last):>9} "
          + (f"{np.median(to_goal):>12.0f} {np.mean(to_goal < 20):>8.2f} {np.mean(to_goal < 40):>8.2f}" if len(last) else ""))


def main(argv=None):
    folder = studies.dagger_folder(__spec__.name, __doc__, argv, "pusht")
    settings = dagger.SETTINGS["pusht"]
    n0 = settings["labels0"]
    goal = goal_keypoints()
    print(f"{'data':<28} {'labels':>7} {'T to goal':>12} {'< 20 px':>10} {'agent to T':>13} {'turns back':>12} "
          f"{'against motion':>15}")
    demos = dagger.demonstrations("pusht", settings, n0, os.path.join(folder, "demos.npz"))
    describe("demonstrations, all", demos, goal)
    describe(f"demonstrations, first {n0:,}", dagger.first_transitions(demos, n0), goal)
    rounds = [(seed, r, os.path.join(folder, seed, f"round{r}.npz")) for seed in sorted(os.listdir(folder))
              if seed.startswith("seed") for r in range(1, settings["rounds"] + 1)]
    rounds = [(seed, r, demofiles.load_demos(path)) for seed, r, path in rounds if os.path.exists(path)]
    for seed, r, d in rounds:
        describe(f"DAgger {seed} round {r}", d, goal)
    own = os.path.join("runs", "dagger-pusht-diagnosis", "labeller_demos.npz")      # made by pusht_second_expert
    if os.path.exists(own):
        describe("the labeller's own episodes", demofiles.load_demos(own), goal)
    env = envs.make("pusht")
    limit = settings["horizon"] or env.spec.max_episode_steps
    env.close()
    print(f"\n{'failed rollouts (T at the end)':<28} {'rollouts':>9} {'failed':>9} {'T to goal':>12} "
          f"{'< 20 px':>8} {'< 40 px':>8}")
    for seed, r, d in rounds:
        failures(f"DAgger {seed} round {r}", d, goal, limit)


if __name__ == "__main__":
    studies.run(main)
