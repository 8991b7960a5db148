"""mingpt.py, the GPT trunk (Sec. 2.2, App. B.4): attention is the causal softmax of scaled dot products, a BeT's
outputs never see a later observation, shapes and block size, and which parameters weight decay applies to."""

import math

import pytest
import torch
import torch.nn.functional as F

from helpers import bet_model
from mingpt import GPT, CausalSelfAttention, GPTConfig, param_groups


# ---------------------------------------------------------------- attention

@pytest.mark.ex_attention
def test_attention_is_the_causal_softmax_of_scaled_dot_products():
    """Against torch's fused kernel, and against the definition for one head by hand."""
    torch.manual_seed(0)
    attn = CausalSelfAttention(GPTConfig(input_dim=12, block_size=6, n_layer=1, n_head=3, n_embd=12, dropout=0.0)).eval()
    x = torch.randn(2, 5, 12)
    q, k, v = attn.qkv(x).split(12, dim=2)
    heads = lambda t: t.view(2, 5, 3, 4).transpose(1, 2)                        # (B, nh, T, hs)
    fused = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
    expected = attn.proj(fused.transpose(1, 2).reshape(2, 5, 12))
    assert torch.allclose(attn(x), expected, atol=1e-6)
    # head 1 of batch 0, position 3: a softmax over positions 0..3 only
    qh, kh, vh = heads(q)[0, 1], heads(k)[0, 1], heads(v)[0, 1]                 # (T, hs)
    weights = torch.softmax(qh[3] @ kh[:4].T / math.sqrt(4), dim=0)               # (4,)
    assert torch.allclose(fused[0, 1, 3], weights @ vh[:4], atol=1e-6)


@pytest.mark.ex_attention
def test_gpt_outputs_at_a_position_ignore_later_observations():
    torch.manual_seed(0)
    model = bet_model(3, 2, k=4, context=6, n_layer=2, n_head=2, n_embd=16).eval()
    x = torch.randn(2, 6, 3)
    y = x.clone()
    y[:, 4:] += torch.randn(2, 2, 3)                                        # change only positions 4, 5
    (la, oa), (lb, ob) = model(x), model(y)
    assert torch.allclose(la[:, :4], lb[:, :4], atol=1e-6) and torch.allclose(oa[:, :4], ob[:, :4], atol=1e-6)
    assert not torch.allclose(la[:, 4:], lb[:, 4:], atol=1e-4)             # and the future did change


# ---------------------------------------------------------------- the GPT

@pytest.mark.needs_solutions
def test_gpt_gives_one_feature_per_step_and_refuses_windows_past_block_size():
    gpt = GPT(GPTConfig(input_dim=3, block_size=5, n_layer=1, n_head=2, n_embd=8, dropout=0.1))
    assert gpt(torch.randn(2, 5, 3)).shape == (2, 5, 8)
    assert gpt(torch.randn(2, 3, 3)).shape == (2, 3, 8)
    with pytest.raises(ValueError, match="block_size"):
        gpt(torch.randn(2, 6, 3))


def test_param_groups_decay_linear_weights_only():
    model = bet_model(3, 2, k=4, context=5, n_layer=2, n_head=2, n_embd=16)
    decay, no_decay = param_groups(model, 0.1)
    linear_weights = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)}
    assert {id(p) for p in decay["params"]} == linear_weights and decay["weight_decay"] == 0.1
    assert no_decay["weight_decay"] == 0.0
    assert id(model.trunk.pos_emb) in {id(p) for p in no_decay["params"]}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
