"""
The trunks of Table 3's ablations (App. C.3), each of the GPT's width and depth, each a drop-in for mingpt.GPT:
(B, T, obs_dim) normalised observations -> (B, T', n_embd) features, one per position the trunk predicts.
"""

import torch.nn as nn
import torch.nn.functional as F


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
