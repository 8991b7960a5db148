"""The speed-ups keep the model's function: the written-out attention is softmax(QK^T/sqrt(d)) with the causal
mask, and the compiled training loss gives the eager loss and gradients."""

import dataclasses
import math
import shutil

import pytest
import torch
import torch.nn.functional as F

import data
import train
from mingpt import CausalSelfAttention, GPTConfig
from plumbing import demofiles


@pytest.mark.ex_attention
def test_attention_is_the_causal_softmax_of_scaled_dot_products():
    """Against torch's fused kernel, and against the definition for one head by hand."""
    torch.manual_seed(0)
    attn = CausalSelfAttention(GPTConfig(n_embd=12, n_head=3, block_size=6, dropout=0.0)).eval()
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


@pytest.mark.needs_solutions
@pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")), reason="no C++ compiler")
@pytest.mark.parametrize("offsets", [True, False])
def test_compiled_loss_gives_the_eager_loss_and_gradients(offsets):
    """train.loss_function's torch.compile path computes the same focal + alpha * Eq. 2 loss, and gradients,
    also for the "No offsets" ablation (whose compiled loss once came out detached from the graph)."""
    cfg = dataclasses.replace(train.env_config("pointmass2"), context=3, compile=True, offsets=offsets)
    demos = demofiles.load_demos(data.default_path("pointmass2"), 2, 2)
    torch.manual_seed(0)
    model = train.build_model(cfg).fit_bins(demos["obs"], demos["actions"]).train()
    index = torch.as_tensor(data.window_index(demos["episode_ends"], cfg.context))[:32]    # (32, h)
    obs, actions = torch.as_tensor(demos["obs"])[index], torch.as_tensor(demos["actions"])[index]
    results = []
    for loss_fn in (model.loss, train.loss_function(model, cfg)):
        model.zero_grad()
        loss, parts = loss_fn(obs, actions)
        loss.backward()
        results.append((loss.detach(), parts["focal"], [p.grad.clone() for p in model.parameters()]))
    (eager, eager_focal, eager_grads), (compiled, compiled_focal, compiled_grads) = results
    assert torch.allclose(eager, compiled, rtol=1e-5) and torch.allclose(eager_focal, compiled_focal, rtol=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(eager_grads, compiled_grads))


def test_loss_function_is_eager_unless_compile_is_set():
    model = train.build_model(train.env_config("pointmass1"))
    assert train.loss_function(model, train.env_config("pointmass1")) == model.loss
