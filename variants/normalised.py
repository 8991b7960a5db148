"""
What the three generative baselines of Sec. 3.2 (VAE, Flow, IBC: variants/vae.py, flow.py, ibc.py) share with BeT: the
demonstrations' observation and action normalisation (BeT's own methods), kept as buffers so that a checkpoint holds
everything needed to act; an MLP builder; and per-episode noise, so that an episode's draws depend only on its own
generator (as BeT.sample's).
"""

import torch
import torch.nn as nn

from bet import BeT


def mlp(inputs, outputs, layers, width):
    """`layers` hidden ReLU layers of `width`, then a linear output: (..., inputs) -> (..., outputs)."""
    sizes = [inputs] + [width] * layers
    hidden = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
    return nn.Sequential(*hidden, nn.Linear(sizes[-1], outputs))


def noise(generator, rows, shape, uniform=False):
    """(rows, *shape) standard normal (or uniform [0, 1)) draws: from one generator, or row i from generator[i]."""
    draw = torch.rand if uniform else torch.randn
    if isinstance(generator, (list, tuple)):
        return torch.cat([draw(1, *shape, generator=g) for g in generator])
    return draw(rows, *shape, generator=generator)


class Normalised(nn.Module):
    """A policy on z-scored observations and actions. `config` holds policy, obs_dim, act_dim, n_layer, n_embd.
    context = 1: each baseline acts on the current observation, as in App. B.1 (the paper's baselines see no history).
    horizon: how many steps from t the loss needs (train.train gives it the window t .. t + horizon - 1)."""
    context, horizon = 1, 1

    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        self.obs_dim, self.act_dim = config["obs_dim"], config["act_dim"]
        self.register_buffer("obs_mean", torch.zeros(self.obs_dim))
        self.register_buffer("obs_std", torch.ones(self.obs_dim))
        self.register_buffer("act_mean", torch.zeros(self.act_dim))
        self.register_buffer("act_std", torch.ones(self.act_dim))
        self.register_buffer("fitted", torch.tensor(False))

    # BeT's normalisation, one definition (bet.py): the same buffers, the same statistics
    fit_normalisation = BeT.fit_normalisation
    normalize_obs, normalize_actions, unnormalize_actions = BeT.normalize_obs, BeT.normalize_actions, \
        BeT.unnormalize_actions

    def fit_bins(self, obs, actions, seed=0):
        """The name train.train calls (BeT fits its bins here); a baseline has no bins, only the normalisation."""
        self.fit_normalisation(obs, actions)
        self.fitted.fill_(True)
        return self

    def parts(self, loss):
        """The loss and train.train's {'focal', 'offset'} parts: a baseline has neither (0 each; its loss is logged)."""
        zero = torch.zeros((), device=loss.device)
        return loss, {"focal": zero, "offset": zero}
