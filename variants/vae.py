"""
The VAE baseline of Sec. 3.2 (App. B), after SPIRL (Pertsch et al., "Accelerating Reinforcement Learning with Learned
Skill Priors", CoRL 2020): a chunk of H = 10 actions is compressed into one latent z of 10 dimensions, and a
state-conditioned prior predicts the mean and std of z from the observation. At test time z is drawn from the prior and
the decoder's 10 actions are executed open loop (evaluate.bet_policy plays them one a step), as the paper does.

    encoder  q(z | a_t..a_t+H-1)    an MLP over the chunk -> mu_q, log sigma_q
    decoder  p(a_t..a_t+H-1 | z)    an MLP -> the chunk's mean; a Gaussian of fixed std DECODER_STD
    prior    p(z | o_t)             an MLP -> mu_p, log sigma_p

Trained by the ELBO of p(a_t..a_t+H-1 | o_t) with the learned prior in the KL term (one objective for all three nets):

    -ELBO = E_q[ -log p(a | z) ] + BETA * KL( q(z | a) || p(z | o) )        (one sample of z, reparameterised)

SPIRL encodes with an LSTM, weighs the KL by a small beta and trains the prior apart, on a stopped-gradient q; one
ELBO with MLPs is the smallest model with the three parts the paper names.
"""

import math

import torch

from variants.normalised import Normalised, mlp, noise

HORIZON, LATENT = 10, 10     # App. B: "T = 10 actions", "a latent of 10 dimensions"
DECODER_STD = 0.1            # the decoder's Gaussian std, in normalised action units
BETA = 1.0                   # the KL weight (1: the true ELBO)


def gaussian_kl(mean_q, log_std_q, mean_p, log_std_p):
    """KL(N(mean_q, diag sigma_q^2) || N(mean_p, diag sigma_p^2)), summed over the last dimension (closed form)."""
    var_q, var_p = (2 * log_std_q).exp(), (2 * log_std_p).exp()
    return (log_std_p - log_std_q + (var_q + (mean_q - mean_p) ** 2) / (2 * var_p) - 0.5).sum(-1)


def negative_elbo(chunk, decoded, mean_q, log_std_q, mean_p, log_std_p, decoder_std=DECODER_STD, beta=BETA):
    """Per-row -ELBO: chunk and decoded (B, H, D), the posterior's and the prior's (B, LATENT) -> (B,). The
    reconstruction term is -log N(chunk; decoded, decoder_std^2 I), every constant kept."""
    nll = (0.5 * ((chunk - decoded) / decoder_std) ** 2 + math.log(decoder_std) + 0.5 * math.log(2 * math.pi))
    return nll.flatten(1).sum(-1) + beta * gaussian_kl(mean_q, log_std_q, mean_p, log_std_p)


class VAE(Normalised):
    horizon = HORIZON           # the loss sees a_t .. a_t+H-1 (train.train's windows), the policy plays them
    chunk = HORIZON

    def __init__(self, config):
        super().__init__(config)
        layers, width, D = config["n_layer"], config["n_embd"], self.act_dim
        self.encoder = mlp(HORIZON * D, 2 * LATENT, layers, width)
        self.decoder = mlp(LATENT, HORIZON * D, layers, width)
        self.prior = mlp(self.obs_dim, 2 * LATENT, layers, width)

    def gaussians(self, obs, chunk):
        """Normalised o (B, obs_dim), chunk (B, H, D) -> (mean_q, log_std_q, mean_p, log_std_p), each (B, LATENT)."""
        mean_q, log_std_q = self.encoder(chunk.flatten(1)).chunk(2, -1)
        mean_p, log_std_p = self.prior(obs).chunk(2, -1)
        return mean_q, log_std_q.clamp(-7, 5), mean_p, log_std_p.clamp(-7, 5)

    def decode(self, z):
        return self.decoder(z).view(len(z), HORIZON, self.act_dim)                   # (B, H, D)

    def loss(self, obs, actions, mask=None):
        """obs (B, H, obs_dim), actions (B, H, D) in env units: the steps t .. t+H-1 (clamped at the episode's end)."""
        assert self.fitted, "call fit_bins(obs, actions) before training: the normalisation is not set"
        chunk = self.normalize_actions(actions)                                       # (B, H, D)
        mean_q, log_std_q, mean_p, log_std_p = self.gaussians(self.normalize_obs(obs[:, 0]), chunk)
        z = mean_q + log_std_q.exp() * torch.randn_like(mean_q)                      # reparameterised sample
        return self.parts(negative_elbo(chunk, self.decode(z), mean_q, log_std_q, mean_p, log_std_p).mean())

    @torch.inference_mode()
    def sample(self, obs, temperature=1.0, generator=None):
        """obs (B, T, obs_dim) -> a chunk of H actions (B, H, D) in env units, from z ~ N(mu_p, (temperature *
        sigma_p)^2) given the last observation."""
        mean_p, log_std_p = self.prior(self.normalize_obs(obs[:, -1])).chunk(2, -1)
        eps = noise(generator, len(obs), (LATENT,)).to(obs.device)
        z = mean_p + temperature * log_std_p.clamp(-7, 5).exp() * eps
        return self.unnormalize_actions(self.decode(z))
