"""The exercises' contracts that a plausible wrong answer could slip past: attention's softmax axis and its
dropout, sampling by the given uniforms and temperature, windows that end at their own step, the codec's
Euclidean distance, and written-out attention (not torch's fused kernel)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import data
import kmeans
from helpers import bet_model
from mingpt import CausalSelfAttention, GPTConfig


# ---------------------------------------------------------------- attention

def causal_softmax(q, k):
    """softmax over the keys (the last axis) of q k^T / sqrt(d), with key s > query t masked out."""
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf")).softmax(-1)


@pytest.mark.ex_attention
def test_attention_weights_are_a_softmax_over_the_keys():
    """One-hot inputs, identity values and projection: each output row is then query t's attention weights."""
    T = 5
    attn = CausalSelfAttention(GPTConfig(input_dim=T, block_size=T, n_layer=1, n_head=1, n_embd=T, dropout=0.0)).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        attn.qkv.weight.copy_(torch.cat([2 * torch.randn(2 * T, T, generator=g), torch.eye(T)]))
        attn.qkv.bias.zero_(); attn.proj.weight.copy_(torch.eye(T)); attn.proj.bias.zero_()
        weights = attn(torch.eye(T)[None])[0]                               # (T queries, T keys)
        q, k = attn.qkv.weight[:T].T, attn.qkv.weight[T:2 * T].T             # rows: q_t, k_s of e_t
    assert torch.allclose(weights.sum(-1), torch.ones(T), atol=1e-6), \
        f"each query's weights must sum to 1 over the keys (softmax over the last axis); got row sums {weights.sum(-1)}"
    assert torch.all(weights.triu(1) == 0), "query t may not attend to a key s > t (the causal mask)"
    assert torch.allclose(weights, causal_softmax(q, k), atol=1e-5), \
        "the weights must be softmax(q k^T / sqrt(head size)) over the keys s <= t"


@pytest.mark.ex_attention
def test_attention_drops_its_weights_then_its_output_in_training_mode():
    """Dropout on the attention weights (self.attn_drop), then on the projected output (self.resid_drop): with
    the same seed, the same random masks as by hand."""
    torch.manual_seed(0)
    attn = CausalSelfAttention(GPTConfig(input_dim=8, block_size=5, n_layer=1, n_head=2, n_embd=8, dropout=0.5)).train()
    x = torch.randn(3, 5, 8)
    torch.manual_seed(7)
    got = attn(x)
    with torch.no_grad():
        heads = lambda t: t.view(3, 5, 2, 4).transpose(1, 2)                  # (B, nh, T, hs)
        q, k, v = (heads(t) for t in attn.qkv(x).split(8, dim=2))
        torch.manual_seed(7)
        y = F.dropout(causal_softmax(q, k), 0.5, training=True) @ v
        expected = F.dropout(attn.proj(y.transpose(1, 2).reshape(3, 5, 8)), 0.5, training=True)
    assert torch.allclose(got, expected, atol=1e-6), \
        "in training mode, dropout applies to the attention weights (self.attn_drop) before they weight the values"
    assert torch.equal(attn.eval()(x), attn(x)), "in eval mode, no dropout: the output is deterministic"


# ---------------------------------------------------------------- sample

def fixed_logits_model(logits, k_offsets=None):
    """A BeT whose bin head ignores its input (logits = its bias), with distinct centres and zero offsets."""
    k = len(logits)
    model = bet_model(2, 2, k=k, context=2, n_layer=1, n_head=1, n_embd=4).eval()
    with torch.no_grad():
        model.centers.copy_(torch.arange(2 * k, dtype=torch.float32).view(k, 2))
        model.fitted.fill_(True)
        model.bin_head.weight.zero_(); model.bin_head.bias.copy_(torch.tensor(logits))
        model.offset_head.weight.zero_(); model.offset_head.bias.zero_()
    return model


def chosen_bins(model, actions):
    """The bin of each sampled action (offsets are zero, so each action is a centre)."""
    return ((model.normalize_actions(actions)[:, None] - model.centers) ** 2).sum(-1).argmin(-1)


@pytest.mark.ex_sample
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sample_takes_the_first_bin_whose_cdf_exceeds_u(temperature):
    """u = torch.rand(B, generator=g) as BeT.sample draws it; the bin is the first whose cumulative
    softmax(logits / temperature) exceeds u. Not torch.multinomial: a given generator fixes the actions."""
    logits = torch.tensor([1.0, 0.0, -0.5, 2.0, 0.3])
    model = fixed_logits_model(logits.tolist())
    actions = model.sample(torch.zeros(256, 2, 2), temperature, torch.Generator().manual_seed(5))
    u = torch.rand(256, generator=torch.Generator().manual_seed(5))
    cdf = F.softmax(logits / temperature, -1).cumsum(-1)
    expected = (cdf[None] <= u[:, None]).sum(-1).clamp(max=4)
    wrong = (chosen_bins(model, actions) != expected).sum().item()
    assert wrong == 0, f"{wrong} of 256 bins differ from the inverse-CDF draw with u and logits / temperature"


class PositionTrunk(torch.nn.Module):
    """Features that differ by position: the (B, T, 2) observations, the position index and a 1."""

    def forward(self, x):
        B, T, _ = x.shape
        return torch.cat([x, torch.arange(T, dtype=x.dtype)[None, :, None].expand(B, T, 1), torch.ones(B, T, 1)], -1)


@pytest.mark.ex_sample
def test_sample_reads_the_last_positions_bin_and_offset():
    """Every position predicts; the action comes from the last one's categorical and that bin's offset there."""
    model = bet_model(2, 2, k=3, context=3, n_layer=1, n_head=1, n_embd=4).eval()
    model.trunk = PositionTrunk()
    g = torch.Generator().manual_seed(8)
    with torch.no_grad():
        model.bin_head.weight.copy_(2 * torch.randn(3, 4, generator=g))
        model.offset_head.weight.copy_(torch.randn(6, 4, generator=g))
        model.centers.copy_(torch.randn(3, 2, generator=g))
        model.act_std.fill_(2.0); model.fitted.fill_(True)
    obs = torch.randn(6, 3, 2, generator=g)
    logits, offsets = model(obs)
    b = logits[:, -1].argmax(-1)
    expected = model.unnormalize_actions(model.centers[b] + offsets[torch.arange(6), -1, b])
    assert torch.allclose(model.sample(obs, 0), expected, atol=1e-6), \
        "the action is the last position's argmax bin (temperature 0) plus that bin's offset at the last position"


# ---------------------------------------------------------------- windows

@pytest.mark.ex_windows
@pytest.mark.parametrize("context", [1, 3, 6])
def test_every_window_ends_at_its_own_step_and_never_looks_ahead(context):
    ends = np.array([5, 9, 16])
    index = data.window_index(ends, context)
    steps = np.arange(16)
    assert index.shape == (16, context)
    assert np.array_equal(index[:, -1], steps), "row t must end at step t (the current observation is last)"
    assert (index <= steps[:, None]).all() and (np.diff(index, axis=1) >= 0).all(), \
        "a window holds only steps up to t, oldest first: never a future step"


# ---------------------------------------------------------------- kmeans_codec

@pytest.mark.ex_kmeans_codec
def test_encode_uses_the_euclidean_distance():
    """(1, 1) is nearer (0, 0) than (2.45, 1) in L2 (1.414 < 1.45), but not in L1 (2 > 1.45)."""
    centers = torch.tensor([[0.0, 0.0], [2.45, 1.0]])
    bins, residuals = kmeans.encode(torch.tensor([[1.0, 1.0], [2.0, 1.2]]), centers)
    assert bins.tolist() == [0, 1], "the bin is the nearest centre by Euclidean (L2) distance"
    assert torch.allclose(residuals, torch.tensor([[1.0, 1.0], [-0.45, 0.2]]))
