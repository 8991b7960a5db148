"""
The conditional normalizing flow baseline of Sec. 3.2 (App. B), after PARROT (Singh et al., "PARROT: Data-Driven
Behavioral Priors for Reinforcement Learning", ICLR 2021): an invertible map f(.; o) from actions to a latent z of the
same size, with a learned prior N(mu(o), sigma(o)) on z ("improves the quality of the rollouts, however slightly").

    log p(a | o) = log N(f(a; o); mu(o), sigma(o)) + log |det df/da|                  (change of variables)

f is a stack of affine couplings (Dinh et al., Real NVP): each keeps half of the dimensions, x1, and maps the other half
x2 -> x2 * exp(s) + t with (s, t) an MLP of (x1, o), so log |det| = sum(s) and the inverse is exact. The halves swap
from one coupling to the next. (With one action dimension the kept half is empty: each coupling is an affine map
conditioned on o alone.) Trained by maximum likelihood; acting samples z from the prior and returns f^-1(z; o).
"""

import math

import torch
import torch.nn as nn

from variants.normalised import Normalised, mlp, noise

COUPLINGS = 4       # PARROT stacks more (and image features); four suffice for 2-D actions here
MAX_SCALE = 2.0     # s = MAX_SCALE * tanh(.): each coupling scales by at most e^2, so f^-1 stays well conditioned


def gaussian_log_prob(z, mean, log_std):
    """log N(z; mean, diag exp(log_std)^2), summed over the last dimension."""
    return (-0.5 * ((z - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


class Coupling(nn.Module):
    """One affine coupling on the dimensions `change` given the others and o."""

    def __init__(self, act_dim, obs_dim, change, layers, width):
        super().__init__()
        self.keep = [d for d in range(act_dim) if d not in change]
        self.change = list(change)
        self.net = mlp(len(self.keep) + obs_dim, 2 * len(self.change), layers, width)
        nn.init.zeros_(self.net[-1].weight); nn.init.zeros_(self.net[-1].bias)      # starts as the identity

    def scale_shift(self, x, o):
        s, t = self.net(torch.cat([x[:, self.keep], o], -1)).chunk(2, -1)
        return MAX_SCALE * torch.tanh(s / MAX_SCALE), t

    def forward(self, x, o):
        """x (B, D) -> (y (B, D), log |det dy/dx| (B,))."""
        s, t = self.scale_shift(x, o)
        y = x.clone()
        y[:, self.change] = x[:, self.change] * s.exp() + t
        return y, s.sum(-1)

    def inverse(self, y, o):
        s, t = self.scale_shift(y, o)                                   # y's kept half equals x's
        x = y.clone()
        x[:, self.change] = (y[:, self.change] - t) * (-s).exp()
        return x


class Flow(Normalised):
    def __init__(self, config):
        super().__init__(config)
        D, layers, width = self.act_dim, config["n_layer"], config["n_embd"]
        halves = [list(range(D // 2, D)), list(range(D // 2))] if D > 1 else [[0], [0]]
        self.couplings = nn.ModuleList(Coupling(D, self.obs_dim, halves[i % 2], layers, width) for i in range(COUPLINGS))
        self.prior = mlp(self.obs_dim, 2 * D, layers, width)             # o -> mu, log sigma of z

    def forward(self, actions, o):
        """f: normalised actions (B, D), normalised o (B, obs_dim) -> z (B, D), log |det df/da| (B,)."""
        z, log_det = actions, torch.zeros(len(actions), device=actions.device)
        for coupling in self.couplings:
            z, ld = coupling(z, o)
            log_det = log_det + ld
        return z, log_det

    def inverse(self, z, o):
        for coupling in reversed(self.couplings):
            z = coupling.inverse(z, o)
        return z

    def log_prob(self, obs, actions):
        """log p(a | o) in normalised action units: obs (B, obs_dim), actions (B, D) in env units -> (B,)."""
        o = self.normalize_obs(obs)
        mean, log_std = self.prior(o).chunk(2, -1)
        z, log_det = self(self.normalize_actions(actions), o)
        return gaussian_log_prob(z, mean, log_std.clamp(-7, 5)) + log_det

    def loss(self, obs, actions, mask=None):
        """Negative log-likelihood of the window's last step: obs (B, 1, obs_dim), actions (B, 1, D) in env units."""
        assert self.fitted, "call fit_bins(obs, actions) before training: the normalisation is not set"
        return self.parts(-self.log_prob(obs[:, -1], actions[:, -1]).mean())

    @torch.inference_mode()
    def sample(self, obs, temperature=1.0, generator=None):
        """obs (B, T, obs_dim) -> a = f^-1(z) with z ~ N(mu(o), (temperature * sigma(o))^2), (B, D) in env units
        (temperature 0: z = mu(o))."""
        o = self.normalize_obs(obs[:, -1])
        mean, log_std = self.prior(o).chunk(2, -1)
        eps = noise(generator, len(obs), (self.act_dim,)).to(o.device)
        z = mean + temperature * log_std.clamp(-7, 5).exp() * eps
        return self.unnormalize_actions(self.inverse(z, o))
