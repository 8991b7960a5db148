"""
Where do CartPole's DAgger labels lie relative to the expert's decision boundary (push right iff g . s > 0)?

    python -m tools.studies.cartpole_margins runs/dagger-cartpole

For round 0 and the BC control's extra demonstrations, and for every DAgger round of every seed in the run
folder: the median margin |g . s| of the labelled states, the share within 0.1 of the boundary, and the share
of "push right" labels. States near the boundary, with both labels, are the ones that teach a classifier
where the boundary is.
"""

import os

import numpy as np

from tools import dagger
from tools import studies
from plumbing import demofiles
from envs import cartpole


def row(name, obs, actions):
    margin = np.abs(obs @ cartpole.GAINS)
    print(f"{name:<26} {len(obs):>6} {np.median(margin):>14.3f} {np.mean(margin < 0.1):>12.2f} {actions.mean():>11.2f}")


def main(argv=None):
    folder = studies.dagger_folder(__spec__.name, __doc__, argv, "cartpole")
    settings = dagger.SETTINGS["cartpole"]
    print(f"{'data':<26} {'labels':>6} {'median |g.s|':>14} {'|g.s| < 0.1':>12} {'push right':>11}")
    demos = dagger.demonstrations("cartpole", settings, 350)
    n0 = settings["labels0"]
    row("round 0 (expert)", demos["obs"][:n0], demos["actions"][:n0])
    row("BC's next 300 (expert)", demos["obs"][n0:n0 + 300], demos["actions"][n0:n0 + 300])
    for seed in sorted(os.listdir(folder)):
        for r in range(1, settings["rounds"] + 1):
            path = os.path.join(folder, seed, f"round{r}.npz")
            if os.path.exists(path):
                d = demofiles.load_demos(path)      # checked: a damaged round is one line
                row(f"DAgger {seed} round {r}", d["obs"], d["actions"])


if __name__ == "__main__":
    studies.run(main)
