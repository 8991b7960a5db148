"""
Behavior Transformer (BeT): Shafiullah, Cui, Altanzaya & Pinto, NeurIPS 2022.

    observations (B, T, obs_dim)  --normalise-->  trunk (minGPT, Sec. 2.2)  --> (B, T, n_embd)
        --bin head-->     logits  (B, T, k)       categorical over k-means bins, focal loss (Sec. 2.2)
        --offset head-->  offsets (B, T, k, D)    one residual per bin, masked MT-loss (Sec. 2.3, Eq. 2)
    test time (Sec. 2.4): sample a bin from the last position, add that bin's offset.

The k-means centres and the observation/action normalisation statistics are registered buffers, so a checkpoint
holds everything needed to act. k-means runs on normalised (z-scored) actions, so offsets are of one scale in
every environment (alpha is still set per env: 10 on PushT and Block push). The trunk is passed in (mingpt.GPT
for BeT; variants/ builds Table 3's other trunks, heads and discretisers, and the Sec. 3.2 baselines, from their
names).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

import kmeans


def focal_loss(logits, target, gamma=2.0):
    """Focal loss (Sec. 2.2, App. B.2): mean over positions of -(1 - p_t)^gamma * log p_t,
    where p_t is the probability of the true bin. gamma=0 is cross-entropy.
    logits (..., k), target (...) int64 -> scalar."""
    # Exercise focal_loss (Sec. 2.2): take log p_t from log_softmax (stable), then weight it by (1 - p_t)^gamma.
    ### BEGIN SOLUTION focal_loss
    logp = F.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)   # (...) log p_t
    return (-(1 - logp.exp()) ** gamma * logp).mean()
    ### END SOLUTION


def offset_loss(pred_offsets, bins, residuals):
    """Masked multi-task loss, Eq. 2: mean over positions of ||<a> - <a_hat^(floor(a))>||^2, summed
    over action dims. Only the true bin's offset is selected, so no other offset gets a gradient. (App. B.2 prints
    the bracket as I[<a> = j], a typo: the selector is the bin, I[floor(a) = j], as Eq. 2 in Sec. 2.3 has it.)
    pred_offsets (..., k, D), bins (...), residuals (..., D) -> scalar."""
    # Exercise offset_loss (Eq. 2): select each position's offset for its true bin, then a squared error.
    ### BEGIN SOLUTION offset_loss
    index = bins[..., None, None].expand(*bins.shape, 1, pred_offsets.shape[-1])      # (..., 1, D)
    chosen = pred_offsets.gather(-2, index).squeeze(-2)                                # (..., D)
    return ((chosen - residuals) ** 2).sum(-1).mean()
    ### END SOLUTION


def predicted_positions(n, actions, mask=None):
    """The targets of the last n window positions, the ones the trunk predicts, and their part of the mask:
    actions (B, T, D), mask (B, T) bool or None -> (B, n, D), (B, n) or None."""
    return actions[:, actions.shape[1] - n:], None if mask is None else mask[:, mask.shape[1] - n:]


def _scale(x):
    """Per-dimension std of (N, D) data, with 1 for constant dimensions (nothing to scale)."""
    std = x.std(0)
    return torch.where(std > 1e-6, std, torch.ones_like(std))


class BeT(nn.Module):
    """BeT policy: a trunk over a window of observations, a bin head and a per-bin offset head.
    trunk: (B, T, obs_dim) -> (B, T', n_embd); offsets=False is Table 3's "No offsets" (the action is the bin
    centre); fit_centers(actions (N, D), k, seed) -> (k, D) is k-means (Sec. 2.1) unless an ablation swaps it."""

    def __init__(self, trunk, obs_dim, act_dim, k, context, n_embd, alpha, gamma, offsets=True, fit_centers=kmeans.fit):
        super().__init__()
        self.k, self.act_dim, self.context, self.alpha, self.gamma = k, act_dim, context, alpha, gamma
        self.fit_centers = fit_centers
        # what a checkpoint must carry besides the weights (Sec. 2.1: the centres are fixed after fitting)
        self.register_buffer("centers", torch.zeros(k, act_dim))     # (k, D) in normalised action units
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.register_buffer("act_mean", torch.zeros(act_dim))
        self.register_buffer("act_std", torch.ones(act_dim))
        self.register_buffer("fitted", torch.tensor(False))
        self.trunk = trunk
        self.bin_head = nn.Linear(n_embd, k)
        self.offset_head = nn.Linear(n_embd, k * act_dim) if offsets else None

    # ---- data-dependent set-up (Algorithm 1, "Learn k-means encoder/decoder") ----

    @torch.no_grad()
    def fit_normalisation(self, obs, actions):
        """Record the dataset's per-dimension obs/action mean and std; returns obs, actions as float64 tensors."""
        obs, actions = torch.as_tensor(obs, dtype=torch.float64), torch.as_tensor(actions, dtype=torch.float64)
        self.obs_mean.copy_(obs.mean(0)); self.obs_std.copy_(_scale(obs))
        self.act_mean.copy_(actions.mean(0)); self.act_std.copy_(_scale(actions))
        return obs, actions

    @torch.no_grad()
    def fit_bins(self, obs, actions, seed=0):
        """Record obs/action normalisation from the dataset, then fit the k centres on normalised actions."""
        obs, actions = self.fit_normalisation(obs, actions)
        normalised = (actions - self.act_mean.double()) / self.act_std.double()
        self.centers.copy_(self.fit_centers(normalised, self.k, seed=seed))
        self.fitted.fill_(True)
        return self

    def normalize_obs(self, obs):
        return (obs - self.obs_mean) / self.obs_std

    def normalize_actions(self, actions):
        return (actions - self.act_mean) / self.act_std

    def unnormalize_actions(self, actions):
        return actions * self.act_std + self.act_mean

    # ---- model ----

    def forward(self, obs):
        """obs (B, T, obs_dim) in env units -> logits (B, T', k), offsets (B, T', k, D) or None, one per position
        the trunk predicts: T' = T for the GPT, 1 (the window's last step) for Table 3's MLP trunk."""
        h = self.trunk(self.normalize_obs(obs))                              # (B, T', n_embd)
        logits = self.bin_head(h)                                            # (B, T', k)
        if self.offset_head is None:
            return logits, None
        return logits, self.offset_head(h).view(*h.shape[:2], self.k, self.act_dim)   # (B, T', k, D)

    def loss(self, obs, actions, mask=None):
        """Algorithm 1's training loss, focal(bins) + alpha * MT-loss(offsets) (App. B.2), averaged over every
        position the trunk predicts (or, given mask (B, T) bool, over the positions it marks).
        obs (B, T, obs_dim), actions (B, T, D) in env units.
        Returns (total, parts) with parts = {'focal': ..., 'offset': ...} detached."""
        assert self.fitted, "call fit_bins(obs, actions) before training: the k-means centres are not set"
        logits, offsets = self(obs)                                          # (B, T', k), (B, T', k, D)
        actions, mask = predicted_positions(logits.shape[1], actions, mask)  # (B, T', D) the targets of those positions
        if mask is not None:                                                 # (M, k), (M, k, D), (M, D): kept positions
            logits, actions = logits[mask], actions[mask]
            offsets = None if offsets is None else offsets[mask]
        bins, residuals = kmeans.encode(self.normalize_actions(actions), self.centers)   # (B, T), (B, T, D)
        focal = focal_loss(logits, bins, self.gamma)
        if offsets is None:                  # the "No offsets" ablation: the bin head alone
            return focal, {"focal": focal.detach(), "offset": torch.zeros((), device=obs.device)}
        offset = offset_loss(offsets, bins, residuals)
        return focal + self.alpha * offset, {"focal": focal.detach(), "offset": offset.detach()}

    @torch.inference_mode()
    def sample(self, obs, temperature=1.0, generator=None):
        """Algorithm 1's rollout step (Sec. 2.4): obs (B, T, obs_dim), the last T observations of each
        episode -> actions (B, D) in env units. Samples a bin from the last position's categorical
        (temperature 0 = argmax), then decodes it with that bin's offset (kmeans.decode).
        `generator` is one torch.Generator for the batch, or a list of B, one per row: then row i's draw
        depends on its own generator only (evaluate gives each episode its own)."""
        training = self.training
        logits, offsets = self.eval()(obs)                                   # (B, T', k), (B, T', k, D) or None
        self.train(training)                                                 # (sampling never uses dropout)
        if isinstance(generator, (list, tuple)):
            u = torch.cat([torch.rand(1, generator=g) for g in generator])   # (B,) one uniform draw per row
        else:
            u = torch.rand(len(obs), generator=generator)                    # (B,)
        u = u.to(obs.device)                                                 # drawn on the CPU, for any device
        # Exercise sample (Sec. 2.4): from the last position, pick a bin (argmax at temperature 0, else the first
        # bin whose cumulative probability exceeds u), take that bin's offset, decode, return in env units.
        ### BEGIN SOLUTION sample
        logits = logits[:, -1]                                               # (B, k)
        if temperature == 0:
            bins = logits.argmax(-1)
        else:                          # inverse-CDF sampling: the first bin whose cumulative probability exceeds u
            cdf = F.softmax(logits / temperature, dim=-1).cumsum(-1)         # (B, k)
            bins = torch.searchsorted(cdf, u[:, None], right=True).squeeze(1).clamp(max=self.k - 1)   # (B,)
        if offsets is None:
            residuals = torch.zeros(len(bins), self.act_dim, device=obs.device)
        else:
            residuals = offsets[torch.arange(len(bins)), -1, bins]           # (B, D) the chosen bin's offset
        return self.unnormalize_actions(kmeans.decode(bins, residuals, self.centers))
        ### END SOLUTION
