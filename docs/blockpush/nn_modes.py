"""NN on Block push: do the nearest demonstrations keep to one mode (first block, swap) through a rollout?"""
import numpy as np, torch, data, evaluate, blockpush
torch.set_num_threads(1)
d = data.load_demos(data.default_path("blockpush"), 6, 2, extra={"choice": 2})
obs, ends, choice = d["obs"].astype(np.float64), d["episode_ends"], d["choice"]
mean, std = obs.mean(0), np.maximum(obs.std(0), 1e-6)
z = (obs - mean) / std
log = {}
def policy(history, ids, envs_):
    q = (history[:, -1].numpy().astype(np.float64) - mean) / std
    idx = np.argmin(((q[:, None] - z[None]) ** 2).sum(-1), 1)
    for i, j in zip(ids, idx):
        log.setdefault(int(i), []).append(int(j))
    return d["actions"][idx]
traj = evaluate.rollout(policy, "blockpush", 100, 100000)
same, episodes_used, success = [], [], []
for i, t in enumerate(traj):
    m = blockpush.modes(t["obs"])
    steps = np.array(log[i])
    modes = choice[steps]                                             # (T, 2) the nearest demo's coins
    if m["both"]:
        mine = np.array([m["first"] == "green", m["target"]["red"] == "green"])
        same.append((modes == mine).all(1).mean())
    episodes_used.append(len(set(np.searchsorted(ends, steps, side="right"))))
    success.append(t["success"])
print(f"success {np.mean(success):.3f}; steps whose nearest demo has the rollout's own order: {np.mean(same):.3f} "
      f"(min {np.min(same):.3f}); distinct demos followed per rollout: median {np.median(episodes_used):.0f}")
