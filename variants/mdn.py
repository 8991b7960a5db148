"""
GPT-MDN (Table 3): the GPT trunk with a mixture of k diagonal Gaussians in place of the fixed bins. The bin head
gives the mixture weights, the offset head the means (the centres stay 0, so BeT.sample returns a sampled
component's mean, as BeT acts) and a third head the log std devs; trained by the mixture's negative log-likelihood.
The paper gives no details; this is the smallest reading of "GPT with a mixture density head".
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from bet import BeT, predicted_positions


def mdn_nll(logits, means, log_stds, target):
    """Mean over positions of -log sum_j pi_j N(target; mu_j, diag sigma_j^2), where pi = softmax(logits).
    logits (..., k), means and log_stds (..., k, D), target (..., D) -> scalar."""
    z = (target.unsqueeze(-2) - means) / log_stds.exp()                               # (..., k, D)
    log_normal = (-0.5 * z ** 2 - log_stds - 0.5 * math.log(2 * math.pi)).sum(-1)     # (..., k) log N per component
    return -torch.logsumexp(F.log_softmax(logits, dim=-1) + log_normal, dim=-1).mean()


def no_centers(actions, k, seed=0):
    """GPT-MDN learns its means: its centres stay 0."""
    return torch.zeros(k, actions.shape[1], dtype=actions.dtype)


class GPTMDN(BeT):
    def __init__(self, trunk, obs_dim, act_dim, k, context, n_embd, alpha, gamma):
        super().__init__(trunk, obs_dim, act_dim, k, context, n_embd, alpha, gamma, offsets=True, fit_centers=no_centers)
        self.scale_head = nn.Linear(n_embd, k * act_dim)                   # the log std devs

    def loss(self, obs, actions, mask=None):
        """The mixture's NLL is the whole loss (no bins, no offsets); parts as BeT.loss returns them."""
        assert self.fitted, "call fit_bins(obs, actions) before training: the normalisation is not set"
        h = self.trunk(self.normalize_obs(obs))                             # (B, T', n_embd)
        logits = self.bin_head(h)                                           # (B, T', k)
        means = self.offset_head(h).view(*h.shape[:2], self.k, self.act_dim)            # (B, T', k, D)
        log_stds = self.scale_head(h).view_as(means).clamp(-7.0, 5.0)      # clamped: no 1/0
        actions, mask = predicted_positions(logits.shape[1], actions, mask)
        targets = self.normalize_actions(actions)                           # (B, T', D)
        if mask is not None:                                                 # the positions mask (B, T) keeps
            logits, means, log_stds, targets = logits[mask], means[mask], log_stds[mask], targets[mask]
        zero = torch.zeros((), device=obs.device)
        return mdn_nll(logits, means, log_stds, targets), {"focal": zero, "offset": zero}
