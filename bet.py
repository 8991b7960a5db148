"""
Behavior Transformer (BeT): Shafiullah, Cui, Altanzaya & Pinto, NeurIPS 2022.

    observations (B, T, obs_dim)  --normalise-->  trunk (minGPT, Sec. 2.2)  --> (B, T, n_embd)
        --bin head-->     logits  (B, T, k)       categorical over k-means bins, focal loss (Sec. 2.2)
        --offset head-->  offsets (B, T, k, D)    one residual per bin, masked MT-loss (Sec. 2.3, Eq. 2)
    test time (Sec. 2.4): sample a bin from the last position, add that bin's offset.

The k-means centres and the observation/action normalisation statistics are registered buffers,
so a checkpoint holds everything needed to act. k-means runs on normalised actions, so one offset
weight alpha serves every environment.

The paper's ablations (Table 3) are options of this one model:
    offsets=False  the action is the bin centre ("No offsets")
    k=1            a single bin, i.e. no binning: the focal term is 0 and Eq. 2 is plain MSE
    context=1      no history
    trunk="mlp"    an MLP over the stacked window, same width and depth (App. C.3)
    trunk="tcn"    a causal temporal convolution over the window, same width and depth (Table 3, App. C.3)
    trunk="lstm"   an LSTM over the window, same width and depth (Table 3, App. C.3)
    discretizer="uniform"   a uniform grid instead of k-means centres ("Unif. quant."), same offsets
    head="mdn"     GPT-MDN (Table 3): k learned Gaussians in place of the fixed bins; the bin head gives the
                   mixture weights, the offset head the means (centres stay 0), trained by their NLL
and the MSE behaviour-cloning baseline (RBC, Sec. 3.2) is k=1 with trunk="mlp" and context=1.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import kmeans
from mingpt import GPT, GPTConfig


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


def mdn_nll(logits, means, log_stds, target):
    """GPT-MDN's loss (Table 3): mean over positions of -log sum_j pi_j N(target; mu_j, diag sigma_j^2), where
    pi = softmax(logits). logits (..., k), means and log_stds (..., k, D), target (..., D) -> scalar."""
    z = (target.unsqueeze(-2) - means) / log_stds.exp()                               # (..., k, D)
    log_normal = (-0.5 * z ** 2 - log_stds - 0.5 * np.log(2 * np.pi)).sum(-1)         # (..., k) log N per component
    return -torch.logsumexp(F.log_softmax(logits, dim=-1) + log_normal, dim=-1).mean()


def _scale(x):
    """Per-dimension std of (N, D) data, with 1 for constant dimensions (nothing to scale)."""
    std = x.std(0)
    return torch.where(std > 1e-6, std, torch.ones_like(std))


class WindowMLP(nn.Module):
    """The App. C.3 ablation trunk: an MLP over the window's `context` observations stacked into one
    vector (oldest first), with the GPT's width and depth. An MLP has no notion of positions, so it makes
    one prediction per window, for its last step: in training it sees exactly the stack a rollout feeds
    it (both start an episode with its first observation repeated, see data.window_index)."""

    def __init__(self, input_dim, context, n_layer, n_embd, dropout):
        super().__init__()
        self.context = context
        layers, width = [], context * input_dim
        for _ in range(n_layer):
            layers += [nn.Linear(width, n_embd), nn.GELU(), nn.Dropout(dropout)]
            width = n_embd
        self.net = nn.Sequential(*layers)

    def stack(self, x):
        """(B, context, D) window -> (B, 1, context*D): the frames side by side, oldest first."""
        B, T, D = x.shape
        if T != self.context:
            raise ValueError(f"the MLP trunk stacks exactly context={self.context} observations, got {T}")
        return x.reshape(B, 1, T * D)

    def forward(self, x):
        return self.net(self.stack(x))                                      # (B, 1, n_embd)


class TemporalConv(nn.Module):
    """The App. C.3 temporal-convolution trunk: an input projection like the GPT's, then n_layer residual blocks
    x + dropout(GELU(conv(x))), each a Conv1d over time padded on the left only, so the output at t sees o_1..o_t.
    Kernel 3, dilation 2**layer: it sees 2**(n_layer+1)-1 steps, every env row's window (3 >= 2; 31 >= 5 for pusht).
    One prediction per position, like the GPT."""

    kernel_size = 3

    def __init__(self, input_dim, n_layer, n_embd, dropout):
        super().__init__()
        self.input_proj = nn.Linear(input_dim, n_embd)
        self.convs = nn.ModuleList(nn.Conv1d(n_embd, n_embd, self.kernel_size, dilation=2 ** i) for i in range(n_layer))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        h = self.drop(self.input_proj(x)).transpose(1, 2)                   # (B, n_embd, T): Conv1d wants time last
        for conv in self.convs:
            past = F.pad(h, ((self.kernel_size - 1) * conv.dilation[0], 0))  # (B, n_embd, pad + T) zeros before o_1
            h = h + self.drop(F.gelu(conv(past)))                            # (B, n_embd, T)
        return h.transpose(1, 2)                                             # (B, T, n_embd)


class LSTMTrunk(nn.Module):
    """The App. C.3 recurrent trunk: an input projection like the GPT's, then an n_layer LSTM of width n_embd
    (dropout after the projection and between layers). A recurrence reads o_1..o_t only to make its output at t,
    so it is causal by construction. One prediction per position, like the GPT."""

    def __init__(self, input_dim, n_layer, n_embd, dropout):
        super().__init__()
        self.input_proj = nn.Linear(input_dim, n_embd)
        self.drop = nn.Dropout(dropout)
        # nn.LSTM applies its dropout between layers only (and warns when there is no "between": 1 layer)
        self.lstm = nn.LSTM(n_embd, n_embd, num_layers=n_layer, batch_first=True,
                            dropout=dropout if n_layer > 1 else 0.0)

    def forward(self, x):
        h, _ = self.lstm(self.drop(self.input_proj(x)))                     # (B, T, n_embd), from a zero state
        return h


class BeT(nn.Module):
    """BeT policy: a trunk over a window of observations, a bin head and a per-bin offset head."""

    def __init__(self, obs_dim, act_dim, *, k=24, context=5, n_layer=4, n_head=4, n_embd=72,
                 dropout=0.1, alpha=1.0, gamma=2.0, offsets=True, trunk="gpt", discretizer="kmeans", head="bins"):
        super().__init__()
        assert trunk in ("gpt", "mlp", "tcn", "lstm") and discretizer in ("kmeans", "uniform"), (trunk, discretizer)
        assert head == "bins" or (head == "mdn" and offsets and discretizer == "kmeans"), (head, offsets, discretizer)
        if discretizer == "uniform" and round(k ** (1 / act_dim)) ** act_dim != k:
            raise ValueError(f"a uniform grid needs k = levels**{act_dim}, got k={k}")
        self.config = dict(obs_dim=obs_dim, act_dim=act_dim, k=k, context=context, n_layer=n_layer,
                           n_head=n_head, n_embd=n_embd, dropout=dropout, alpha=alpha, gamma=gamma,
                           offsets=offsets, trunk=trunk, discretizer=discretizer, head=head)
        self.k, self.act_dim, self.context = k, act_dim, context
        self.alpha, self.gamma = alpha, gamma
        # what a checkpoint must carry besides the weights (Sec. 2.1: the centres are fixed after fitting)
        self.register_buffer("centers", torch.zeros(k, act_dim))     # (k, D) in normalised action units
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.register_buffer("act_mean", torch.zeros(act_dim))
        self.register_buffer("act_std", torch.ones(act_dim))
        self.register_buffer("fitted", torch.tensor(False))
        if trunk == "gpt":
            self.trunk = GPT(GPTConfig(obs_dim, context, n_layer, n_head, n_embd, dropout))
        elif trunk == "tcn":
            self.trunk = TemporalConv(obs_dim, n_layer, n_embd, dropout)
        elif trunk == "lstm":
            self.trunk = LSTMTrunk(obs_dim, n_layer, n_embd, dropout)
        else:
            self.trunk = WindowMLP(obs_dim, context, n_layer, n_embd, dropout)
        self.bin_head = nn.Linear(n_embd, k)
        self.offset_head = nn.Linear(n_embd, k * act_dim) if offsets else None
        self.scale_head = nn.Linear(n_embd, k * act_dim) if head == "mdn" else None   # GPT-MDN's log std devs

    # ---- data-dependent set-up (Algorithm 1, "Learn k-means encoder/decoder") ----

    @torch.no_grad()
    def fit_bins(self, obs, actions, seed=0):
        """Record obs/action normalisation from the dataset, then fit the k centres on normalised actions
        (k-means, or a uniform grid for the "Unif. quant." ablation)."""
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float64)
        actions = torch.as_tensor(np.asarray(actions), dtype=torch.float64)
        self.obs_mean.copy_(obs.mean(0)); self.obs_std.copy_(_scale(obs))
        self.act_mean.copy_(actions.mean(0)); self.act_std.copy_(_scale(actions))
        normalised = (actions - self.act_mean.double()) / self.act_std.double()
        if self.config["discretizer"] == "uniform":
            self.centers.copy_(kmeans.uniform_centers(normalised, round(self.k ** (1 / self.act_dim))))
        elif self.scale_head is None:        # (GPT-MDN learns its means: its centres stay 0, so decode returns them)
            self.centers.copy_(kmeans.fit(normalised, self.k, seed=seed))
        self.fitted.fill_(True)
        return self

    def normalize_obs(self, obs):
        return (obs - self.obs_mean) / self.obs_std

    def normalize_actions(self, actions):
        return (actions - self.act_mean) / self.act_std

    def unnormalize_actions(self, actions):
        return actions * self.act_std + self.act_mean

    # ---- model ----

    def forward(self, obs, scales=False):
        """obs (B, T, obs_dim) in env units -> logits (B, T', k), offsets (B, T', k, D) or None, one per
        position: T' = T for the GPT, TCN and LSTM trunks, 1 (the window's last step) for the MLP trunk.
        With scales=True (GPT-MDN's loss), also the log std devs (B, T', k, D)."""
        h = self.trunk(self.normalize_obs(obs))                              # (B, T', n_embd)
        logits = self.bin_head(h)                                            # (B, T', k)
        if self.offset_head is None:
            return logits, None
        offsets = self.offset_head(h).view(*h.shape[:2], self.k, self.act_dim)   # (B, T', k, D)
        if scales:
            return logits, offsets, self.scale_head(h).view_as(offsets).clamp(-7.0, 5.0)   # clamped: no 1/0
        return logits, offsets

    def loss(self, obs, actions):
        """Algorithm 1's training loss, focal(bins) + alpha * MT-loss(offsets) (App. B.2), averaged over every
        position the trunk predicts (all T for the GPT, TCN and LSTM, the last for the MLP).
        obs (B, T, obs_dim), actions (B, T, D) in env units.
        Returns (total, parts) with parts = {'focal': ..., 'offset': ...} detached."""
        if not self.fitted:
            raise RuntimeError("call fit_bins(obs, actions) before training: the k-means centres are not set")
        if self.scale_head is not None:      # GPT-MDN: the mixture's NLL is the whole loss (no bins, no offsets)
            logits, means, log_stds = self(obs, scales=True)                 # (B, T', k), (B, T', k, D) x 2
            targets = self.normalize_actions(actions[:, actions.shape[1] - logits.shape[1]:])   # (B, T', D)
            zero = torch.zeros((), device=obs.device)
            return mdn_nll(logits, means, log_stds, targets), {"focal": zero, "offset": zero}
        logits, offsets = self(obs)                                          # (B, T', k), (B, T', k, D)
        actions = actions[:, actions.shape[1] - logits.shape[1]:]            # (B, T', D) the targets of those positions
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
        (temperature 0 = argmax), then decodes it with that bin's offset (kmeans.decode); for GPT-MDN, the
        chosen component's mean (its centre is 0).
        `generator` is one torch.Generator for the batch, or a list of B, one per row: then row i's draw
        depends on its own generator only (evaluate gives each episode its own)."""
        if self.training:              # sampling is always in eval mode (no dropout); restore the mode after
            self.eval()
            try:
                return self.sample(obs, temperature, generator)
            finally:
                self.train()
        logits, offsets = self(obs)                                          # (B, T', k), (B, T', k, D) or None
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

    # ---- checkpoints: a plain dict, self-contained (runs.save_model writes it, runs.load_model checks it) ----

    def checkpoint(self, meta=None):
        """Everything needed to act: config, weights and buffers (centres, normalisation), and a plain `meta` dict."""
        return {"config": dict(self.config), "state_dict": self.state_dict(), "meta": dict(meta or {})}

    @classmethod
    def from_checkpoint(cls, ckpt):
        """The model a checkpoint() dict describes, in eval mode, with its `.meta`."""
        model = cls(**ckpt["config"])
        model.load_state_dict(ckpt["state_dict"])
        model.meta = dict(ckpt.get("meta", {}))
        return model.eval()
