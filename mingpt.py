"""
The GPT trunk of BeT (Sec. 2.2, App. B.4): minGPT "almost as-is", except that the token
embedding is replaced by a linear projection of continuous observations.

    (B, T, input_dim) --Linear + learned position embedding--> n_layer pre-LayerNorm blocks
    (causal self-attention, MLP) --> LayerNorm --> (B, T, n_embd)

Position t attends to positions <= t only, so the output at t depends on o_1..o_t (the history).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class GPTConfig:              # (the values: train.Config, one per env, with App. B's beside them)
    input_dim: int
    block_size: int           # longest window (context length h) the model accepts
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where each position sees only itself and the past."""

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_drop = nn.Dropout(config.dropout)
        self.resid_drop = nn.Dropout(config.dropout)
        self.register_buffer("future", torch.ones(config.block_size, config.block_size).triu(1).bool(),
                             persistent=False)                   # (h, h) True above the diagonal: s > t

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                                # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))   # (B, nh, T, hs)
        # written out rather than F.scaled_dot_product_attention, so torch.compile can fuse it (docs/history/experiments.md)
        # Exercise attention (Vaswani et al. 2017, Eq. 1): scaled scores, the causal mask (self.future), softmax,
        # dropout on the weights (self.attn_drop), then the weighted sum of the values.
        ### BEGIN SOLUTION attention
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])            # (B, nh, T, T)
        att = att.masked_fill(self.future[:T, :T], float("-inf")).softmax(-1)   # position t sees s <= t only
        y = self.attn_drop(att) @ v                                          # (B, nh, T, hs)
        ### END SOLUTION
        y = y.transpose(1, 2).contiguous().view(B, T, C)                     # (B, T, C)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    """A pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.dropout),
        )

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return x


class GPT(nn.Module):
    """Causal transformer over a window of continuous observations."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.input_proj = nn.Linear(config.input_dim, config.n_embd)   # replaces minGPT's token embedding
        self.pos_emb = nn.Parameter(torch.zeros(1, config.block_size, config.n_embd))
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.Sequential(*[Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():      # GPT-2's scaled init of the residual projections
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, x):
        B, T, _ = x.shape
        if T > self.config.block_size:
            raise ValueError(f"input has {T} steps but the model's block_size (context) is {self.config.block_size}")
        h = self.drop(self.input_proj(x) + self.pos_emb[:, :T])    # (B, T, n_embd)
        return self.ln_f(self.blocks(h))                           # (B, T, n_embd)


def param_groups(model, weight_decay):
    """minGPT's optimizer groups: weight decay on Linear weights only; biases, LayerNorm weights and
    the position embedding are not decayed. Works on any module (BeT passes itself, heads included)."""
    decay = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if id(p) in decay], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decay], "weight_decay": 0.0},
    ]
