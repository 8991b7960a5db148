"""
The two baselines of Sec. 3.2 that need no training (Sec. 3.2, App. B.1), as policies train.py and evaluate.py
run like BeT:

    Nearest Neighbour (NN)  stores every (observation, action) pair of the demonstrations and executes the action
                            of the stored observation nearest to the current one.
    LWR (k-NN with locally weighted regression)  averages the actions of the k = 5 nearest stored observations,
                            weighted by exp(-||o - o'||) normalised to sum to 1.

Distances are Euclidean, on observations normalised by the demonstrations' per-dimension mean and std (App. B.1's
"representation space" is the observation itself here). Both act on the current observation alone (context 1) and
are deterministic: the temperature and generators of BeT.sample are accepted and ignored.
"""

import numpy as np
import torch
import torch.nn as nn

NEIGHBOURS = {"nn": 1, "lwr": 5}     # train.py's --policy name -> neighbours averaged (App. B.1: k = 5 for LWR)
BLOCK = 256                          # query rows per block of distances: (BLOCK, N) floats at a time


class NearestNeighbours(nn.Module):
    """NN (neighbours=1) or LWR (neighbours>1) over `size` stored pairs. The stored pairs and the normalisation are
    registered buffers, so a checkpoint holds everything needed to act."""

    def __init__(self, obs_dim, act_dim, neighbours=1, size=0):
        super().__init__()
        if neighbours < 1 or size < 0:
            raise ValueError(f"neighbours must be at least 1 and size at least 0 (got {neighbours}, {size})")
        self.config = dict(policy="nn" if neighbours == 1 else "lwr", obs_dim=obs_dim, act_dim=act_dim,
                           neighbours=neighbours, size=size)
        self.obs_dim, self.act_dim, self.neighbours, self.context = obs_dim, act_dim, neighbours, 1
        self.register_buffer("obs", torch.zeros(size, obs_dim))          # (N, obs_dim) normalised
        self.register_buffer("actions", torch.zeros(size, act_dim))      # (N, act_dim) in env units
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, obs, actions):
        """App. B.1's training: record the observation normalisation, then store every (o, a) pair.
        obs (N, obs_dim), actions (N, act_dim) in env units."""
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        actions = torch.as_tensor(np.asarray(actions), dtype=torch.float32)
        if obs.shape != (len(obs), self.obs_dim) or actions.shape != (len(obs), self.act_dim):
            raise ValueError(f"fit needs obs (N, {self.obs_dim}) and actions (N, {self.act_dim}), got "
                             f"{tuple(obs.shape)} and {tuple(actions.shape)}")
        if len(obs) < self.neighbours:
            raise ValueError(f"{self.neighbours} neighbours need at least as many stored pairs, got {len(obs)}")
        std = obs.double().std(0)
        self.obs_mean.copy_(obs.double().mean(0))
        self.obs_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))   # 1 for constant dimensions
        device = self.obs_mean.device
        self.obs = self.normalize_obs(obs.to(device))      # the same float32 operations as a query's
        self.actions = actions.to(device)
        self.config["size"] = len(obs)
        self.fitted.fill_(True)
        return self

    def normalize_obs(self, obs):
        return (obs - self.obs_mean) / self.obs_std

    @torch.no_grad()
    def weights(self, obs):
        """obs (B, obs_dim) in env units -> (weights, index), both (B, n): the n = `neighbours` nearest stored
        observations, nearest first, and their weights exp(-distance) normalised to sum to 1 per row (as a softmax
        of minus the distances, so that far queries do not underflow to 0/0). For n = 1: the nearest, weight 1."""
        if not self.fitted:
            raise RuntimeError("call fit(obs, actions) first: no demonstrations are stored")
        query = self.normalize_obs(obs.to(self.obs.dtype))                              # (B, obs_dim)
        distances, index = [], []
        for block in query.split(BLOCK):    # exact differences, not the matrix-product shortcut (0 on a stored o)
            d = torch.cdist(block, self.obs, compute_mode="donot_use_mm_for_euclid_dist")    # (b, N)
            d, i = d.topk(self.neighbours, dim=1, largest=False)                         # (b, n) nearest first
            distances.append(d)
            index.append(i)
        return torch.softmax(-torch.cat(distances), dim=1), torch.cat(index)

    @torch.inference_mode()
    def sample(self, obs, temperature=1.0, generator=None):
        """The rollout step, with BeT.sample's signature: obs (B, T, obs_dim), the last T observations of each
        episode -> actions (B, act_dim) in env units, from the last observation alone. temperature and generator
        are ignored: the baseline is deterministic."""
        w, index = self.weights(obs[:, -1])                                             # (B, n), (B, n)
        return (w[..., None] * self.actions[index]).sum(1)                              # (B, act_dim)
