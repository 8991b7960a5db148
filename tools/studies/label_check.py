"""
How good and how costly are DAgger's PushT labels (pusht_expert.label, a fresh plan from the state on every call)?

    python -m tools.studies.label_check --episodes 50 --states 500

Prints JSON with
- the labeller as a policy on env seeds 1000.. (tuning seeds): success, mean steps, ms per label;
- its agreement with the demonstrating expert on the states of data/pusht.npz: the distance (px) between
  the label and the action the demonstrator recorded there, restored from the dataset's `state`.
"""

import json
import time

import numpy as np

from tools import dagger, studies
import data
import envs
import evaluate
from envs import pusht_expert
from plumbing import demofiles, runs


def as_policy(episodes, seed):
    """The labeller driving PushT by itself."""
    t0 = time.perf_counter()
    trajectories = evaluate.rollout(dagger.label_policy("pusht"), "pusht", episodes, seed)
    seconds = time.perf_counter() - t0
    steps = sum(len(t["actions"]) for t in trajectories)
    return {"episodes": episodes, "seed": seed, "success_rate": float(np.mean([t["success"] for t in trajectories])),
            "mean_steps": steps / episodes, "ms_per_step": round(1000 * seconds / steps, 1)}


def agreement(demos, states, seed=0):
    """Distance between the label and the demonstrator's action on `states` dataset states picked at random."""
    rows = np.random.default_rng(seed).choice(len(demos["obs"]), states, replace=False)
    env = envs.make("pusht")
    env.reset(seed=0)
    distances, t0 = [], time.perf_counter()
    for i in rows:
        env.reset(options={"reset_to_state": demos["state"][i]})
        distances.append(float(np.linalg.norm(pusht_expert.label(env) - demos["actions"][i])))
    d = np.array(distances)
    return {"states": states, "median_px": float(np.median(d)), "within_5px": float((d < 5).mean()),
            "within_20px": float((d < 20).mean()), "ms_per_label": round(1000 * (time.perf_counter() - t0) / states, 1)}


def main(argv=None):
    p = studies.parser(__spec__.name, __doc__)
    p.add_argument("--episodes", type=int, default=50,
                   help="episodes of the labeller as a policy (default: %(default)s)")
    p.add_argument("--states", type=int, default=500, help="dataset states to label (default: %(default)s)")
    args = p.parse_args(argv)
    demos = demofiles.load_demos(data.default_path("pusht"), 18, 2, extra={"state": 5})
    runs.check_counts(("--episodes", args.episodes, 1, runs.MAX_EPISODES),
                      ("--states", args.states, 1, len(demos["obs"])))           # at most the states the data holds
    print(json.dumps({"as_policy": as_policy(args.episodes, 1000), "agreement": agreement(demos, args.states)}, indent=1))


if __name__ == "__main__":
    studies.run(main)
