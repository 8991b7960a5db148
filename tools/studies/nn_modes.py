"""NN on Block push: do the nearest demonstrations keep to one mode (first block, swap) through a rollout?
The project's own nearest-neighbour baseline (variants.baselines.NearestNeighbours) acts; its `weights` names the
stored step it copies.

    python -m tools.studies.nn_modes            # from the repository root"""

import numpy as np, torch

import data, evaluate
from envs import blockpush
from variants.baselines import NearestNeighbours
from plumbing import demofiles
from tools import studies


def main(argv=None):
    studies.parser(__spec__.name, __doc__).parse_args(argv)
    torch.set_num_threads(1)
    d = demofiles.load_demos(data.default_path("blockpush"), 6, 2, extra={"choice": 2})
    nn = NearestNeighbours(6, 2).fit(d["obs"], d["actions"])
    log = {}
    def policy(history, ids, envs_):
        _, index = nn.weights(history[:, -1])                             # (E, 1) the stored step copied
        for i, j in zip(ids, index[:, 0].tolist()):
            log.setdefault(int(i), []).append(j)
        return nn.actions[index[:, 0]].numpy()                            # NN: the nearest step's action
    traj = evaluate.rollout(policy, "blockpush", 100, 100000)
    same, episodes_used, success = [], [], []
    for i, t in enumerate(traj):
        m = blockpush.modes(t["obs"])
        steps = np.array(log[i])
        modes = d["choice"][steps]                                        # (T, 2) the nearest demo's coins
        if m["both"]:
            mine = np.array([m["first"] == "green", m["target"]["red"] == "green"])
            same.append((modes == mine).all(1).mean())
        episodes_used.append(len(set(np.searchsorted(d["episode_ends"], steps, side="right"))))
        success.append(t["success"])
    print(f"success {np.mean(success):.3f}; steps whose nearest demo has the rollout's own order: {np.mean(same):.3f} "
          f"(min {np.min(same):.3f}); distinct demos followed per rollout: median {np.median(episodes_used):.0f}")


if __name__ == "__main__":
    studies.run(main)
