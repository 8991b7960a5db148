"""
How far from the expert's own states do the track's DAgger labels lie, and how big are the corrections they
teach?

    python -m tools.studies.track_states runs/dagger-track

For round 0 (the expert's demonstrations), the BC control's next demonstrations, and every DAgger round of
every seed in the run folder: the median velocity error |v - v*| (v*: the expert's desired velocity at that
place, track.wanted_velocity) and its 90th percentile, the 99th percentile of the lateral offset |d|. The label
is v* - v (clipped), so the velocity error is also the size of the correction taught. The expert's states hold v
close to v*; a learner whose velocity drifted gets labels that cancel the drift.
"""

import os

import numpy as np

from tools import dagger
from tools import studies
from plumbing import demofiles
from envs import track


def errors(obs):
    """(velocity error |v - v*|, lateral offset |d|) of each state (x, y, vx, vy)."""
    rows = []
    for state in np.asarray(obs, np.float64):
        wanted = track.wanted_velocity(state[:2])
        rows.append((np.linalg.norm(state[2:] - wanted), abs(track.track_frame(state[:2])[0])))
    return np.array(rows)


def row(name, obs):
    e = errors(obs)
    print(f"{name:<26} {len(obs):>6} {np.median(e[:, 0]):>9.3f} {np.percentile(e[:, 0], 90):>9.3f} "
          f"{np.percentile(e[:, 1], 99):>9.3f}")


def main(argv=None):
    folder = studies.dagger_folder(__spec__.name, __doc__, argv, "track")
    settings = dagger.SETTINGS["track"]
    print(f"{'data':<26} {'labels':>6} {'|v-v*| 50':>9} {'|v-v*| 90':>9} {'|d| 99':>9}")
    n0 = settings["labels0"]
    demos = dagger.demonstrations("track", settings, 2 * n0, os.path.join(folder, "demos.npz"))
    row("round 0 (expert)", demos["obs"][:n0])
    row(f"BC's next {n0} (expert)", demos["obs"][n0:2 * n0])
    for seed in sorted(s for s in os.listdir(folder) if s.startswith("seed")):
        for r in range(1, settings["rounds"] + 1):
            path = os.path.join(folder, seed, f"round{r}.npz")
            if os.path.exists(path):
                d = demofiles.load_demos(path)      # checked: a damaged round is one line
                row(f"DAgger {seed} round {r}", d["obs"])


if __name__ == "__main__":
    studies.run(main)
