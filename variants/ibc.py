"""
Implicit BC (IBC), the strongest Sec. 3.2 baseline (App. B): Florence et al., "Implicit Behavioral Cloning", CoRL 2021.

    an energy model   E(o, a): an MLP over the observation and an action in the box [-1, 1]^D
    the policy        a* = argmin_a E(o, a)

Training is their InfoNCE: for each demonstrated (o, a), N counter-examples a~_j drawn uniformly from the box, and

    loss = -log( exp(-E(o, a)) / (exp(-E(o, a)) + sum_j exp(-E(o, a~_j))) )     (cross-entropy, the demo at index 0)

Acting is their derivative-free optimiser: draw samples uniformly in the box, then `ITERATIONS` times resample them in
proportion to exp(-E), add Gaussian noise and shrink it; return the lowest-energy sample. App. B: IBC is "quite easy
to overfit" and the paper early-stopped on test performance; here train.train holds out `HELD_OUT` of the episodes and
keeps the epoch of lowest validation InfoNCE (a departure: the evaluation episodes are never looked at).
Sizes: Florence et al.'s defaults are 256 counter-examples and 16384 samples at inference; we use fewer (below) to
train and act on a laptop CPU, with the MLP of the RBC baseline's depth and width.
"""

import torch
import torch.nn.functional as F

from variants.normalised import Normalised, mlp, noise

COUNTER_EXAMPLES = 64          # negatives per demonstrated action in training
SAMPLES, ITERATIONS = 256, 3   # the optimiser's population and its resample-perturb rounds
NOISE, SHRINK = 0.33, 0.5      # the first perturbation's std (box units), and its factor each round
MARGIN = 0.05                  # the box: the demonstrations' action range widened by 5 % on each side
HELD_OUT = 0.1                 # share of the episodes train.train keeps for early stopping


def info_nce(energies):
    """energies (B, 1 + N): column 0 the demonstrated action's, the rest counter-examples' -> scalar mean InfoNCE."""
    return F.cross_entropy(-energies, torch.zeros(len(energies), dtype=torch.long, device=energies.device))


def optimise(energy, rows, dim, generator=None, samples=SAMPLES, iterations=ITERATIONS):
    """Derivative-free argmin over the box [-1, 1]^dim of energy(x (B, S, dim)) -> (B, S), for `rows` problems at once.
    `generator`: one torch.Generator or a list of `rows` (row i draws from its own). Returns (rows, dim)."""
    x = noise(generator, rows, (samples, dim), uniform=True) * 2 - 1                 # (B, S, D) uniform in the box
    sigma = NOISE
    for _ in range(iterations):
        e = energy(x)                                                                # (B, S)
        u = noise(generator, rows, (samples,), uniform=True)                         # (B, S) inverse-CDF draws
        cdf = F.softmax(-e, dim=-1).cumsum(-1)                                       # (B, S)
        pick = torch.searchsorted(cdf, u.contiguous(), right=True).clamp(max=samples - 1)
        x = x.gather(1, pick[..., None].expand(-1, -1, dim))                         # resampled by exp(-E)
        x = (x + sigma * noise(generator, rows, (samples, dim))).clamp(-1, 1)        # perturbed, kept in the box
        sigma *= SHRINK
    best = energy(x).argmin(-1)                                                      # (B,)
    return x[torch.arange(rows), best]                                               # (B, D)


class IBC(Normalised):
    held_out = HELD_OUT            # train.train's validation split for early stopping
    batch_rows = 1                 # evaluate's rows per call: the optimiser's samples already make a large batch

    def __init__(self, config):
        super().__init__(config)
        self.register_buffer("box_low", -torch.ones(self.act_dim))      # normalised action units
        self.register_buffer("box_high", torch.ones(self.act_dim))
        self.energy_net = mlp(self.obs_dim + self.act_dim, 1, config["n_layer"], config["n_embd"])

    @torch.no_grad()
    def fit_bins(self, obs, actions, seed=0):
        """The normalisation, then the action box: the normalised demonstrations' range, widened by MARGIN."""
        super().fit_bins(obs, actions, seed)
        a = self.normalize_actions(torch.as_tensor(actions, dtype=torch.float32))
        low, high = a.min(0).values, a.max(0).values
        width = (high - low).clamp(min=1e-3)
        self.box_low.copy_(low - MARGIN * width); self.box_high.copy_(high + MARGIN * width)
        return self

    def to_box(self, actions):
        """env units -> [-1, 1]^D."""
        return 2 * (self.normalize_actions(actions) - self.box_low) / (self.box_high - self.box_low) - 1

    def from_box(self, x):
        return self.unnormalize_actions((x + 1) / 2 * (self.box_high - self.box_low) + self.box_low)

    def energy(self, obs, x):
        """obs (B, obs_dim) in env units, x (B, S, D) in the box -> E (B, S)."""
        o = self.normalize_obs(obs)[:, None].expand(-1, x.shape[1], -1)               # (B, S, obs_dim)
        return self.energy_net(torch.cat([o, x], -1)).squeeze(-1)

    def loss(self, obs, actions, mask=None, generator=None):
        """InfoNCE on the window's last step: obs (B, 1, obs_dim), actions (B, 1, D) in env units."""
        assert self.fitted, "call fit_bins(obs, actions) before training: the action box is not set"
        positive = self.to_box(actions[:, -1])[:, None]                                # (B, 1, D)
        negatives = torch.rand(len(obs), COUNTER_EXAMPLES, self.act_dim, generator=generator,
                               device=obs.device) * 2 - 1                              # (B, N, D) uniform in the box
        return self.parts(info_nce(self.energy(obs[:, -1], torch.cat([positive, negatives], 1))))

    @torch.no_grad()
    def validation_loss(self, demos):
        """InfoNCE on held-out (o, a) pairs with counter-examples of a fixed seed: one number per epoch, comparable."""
        obs, actions = (torch.as_tensor(demos[k], device=self.obs_mean.device)[:, None] for k in ("obs", "actions"))
        return self.loss(obs, actions, generator=torch.Generator(device=obs.device).manual_seed(0))[0].item()

    @torch.inference_mode()
    def sample(self, obs, temperature=1.0, generator=None):
        """obs (B, T, obs_dim) -> the energy's argmin (B, D) in env units, from the last observation. temperature is
        ignored: the optimiser returns a minimum, and its randomness is the generator's."""
        last = obs[:, -1]
        return self.from_box(optimise(lambda x: self.energy(last, x), len(obs), self.act_dim, generator))
