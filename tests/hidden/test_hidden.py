"""Hidden coursework tests (instructor-only: `python -m tools.coursework handout` leaves tests/hidden/ out).
Other shapes, seeds and edge cases than the public tests, one group per exercise."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tools import dagger
import data
import kmeans
from bet import focal_loss, offset_loss
from helpers import bet_model
from mingpt import CausalSelfAttention, GPTConfig


# ---------------------------------------------------------------- windows

@pytest.mark.ex_windows
@pytest.mark.parametrize("context", [1, 3, 7])
def test_windows_match_a_loop_on_uneven_episodes(context):
    ends = np.array([1, 4, 12, 13, 20])                       # episodes of 1, 3, 8, 1 and 7 steps
    index = data.window_index(ends, context)
    starts = np.concatenate([[0], ends[:-1]])
    expected = []
    for s, e in zip(starts, ends):
        for t in range(s, e):
            expected.append([max(s, t - context + 1 + j) for j in range(context)])
    assert np.array_equal(index, np.array(expected))


# ---------------------------------------------------------------- kmeans_codec

@pytest.mark.ex_kmeans_codec
def test_codec_on_batched_3d_actions():
    g = torch.Generator().manual_seed(7)
    centers = torch.randn(6, 3, generator=g)
    actions = torch.randn(2, 3, 4, 3, generator=g, dtype=torch.float64)
    bins, residuals = kmeans.encode(actions, centers)
    assert bins.shape == (2, 3, 4) and residuals.shape == (2, 3, 4, 3)
    brute = ((actions[..., None, :].float() - centers) ** 2).sum(-1).argmin(-1)
    assert torch.equal(bins, brute)
    assert torch.allclose(kmeans.decode(bins, residuals, centers).double(), actions, atol=1e-6)
    assert torch.allclose(residuals.double(), actions - centers[bins].double(), atol=1e-6)


# ---------------------------------------------------------------- focal_loss

@pytest.mark.ex_focal_loss
@pytest.mark.parametrize("gamma", [0.5, 3.0])
def test_focal_loss_other_gammas_and_shapes(gamma):
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(5, 7, 11, generator=g)
    target = torch.randint(11, (5, 7), generator=g)
    p = F.softmax(logits, -1).gather(-1, target[..., None]).squeeze(-1)
    expected = (-(1 - p) ** gamma * torch.log(p)).mean()
    assert torch.allclose(focal_loss(logits, target, gamma), expected, atol=1e-6)


@pytest.mark.ex_focal_loss
def test_focal_loss_is_finite_for_confident_logits():
    logits = torch.tensor([[200.0, -200.0], [-200.0, 200.0]], requires_grad=True)
    loss = focal_loss(logits, torch.tensor([1, 1]), 2.0)       # one row badly wrong, one right
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all() and loss > 1.0


# ---------------------------------------------------------------- offset_loss

@pytest.mark.ex_offset_loss
def test_offset_loss_matches_a_loop_with_3d_actions():
    g = torch.Generator().manual_seed(5)
    pred = torch.randn(3, 4, 6, 3, generator=g, requires_grad=True)
    bins = torch.randint(6, (3, 4), generator=g)
    residuals = torch.randn(3, 4, 3, generator=g)
    total = sum(((pred[b, t, bins[b, t]] - residuals[b, t]) ** 2).sum() for b in range(3) for t in range(4)) / 12
    loss = offset_loss(pred, bins, residuals)
    assert torch.allclose(loss, total, atol=1e-5)
    loss.backward()
    assert (pred.grad.abs().sum(-1) > 0).sum() == 12            # one offset per position gets a gradient


# ---------------------------------------------------------------- attention

@pytest.mark.ex_attention
def test_attention_equals_a_per_head_loop_for_a_short_window():
    torch.manual_seed(0)
    attn = CausalSelfAttention(GPTConfig(input_dim=2, block_size=6, n_layer=1, n_head=3, n_embd=12, dropout=0.0)).eval()
    x = torch.randn(2, 4, 12)                                   # T = 4 < block_size: the mask must be cut to 4 x 4
    q, k, v = attn.qkv(x).split(12, dim=2)
    heads = []
    for h in range(3):
        qh, kh, vh = (t[..., 4 * h:4 * h + 4] for t in (q, k, v))
        scores = qh @ kh.transpose(1, 2) / 2.0
        scores = scores + torch.triu(torch.full((4, 4), float("-inf")), 1)
        heads.append(scores.softmax(-1) @ vh)
    expected = attn.proj(torch.cat(heads, -1))
    assert torch.allclose(attn(x), expected, atol=1e-6)


# ---------------------------------------------------------------- sample

class PadTrunk(torch.nn.Module):
    def forward(self, x):
        return F.pad(x, (0, 2))                                  # (B, T, 2) -> (B, T, 4)


def sampling_model(k=5):
    """A BeT whose trunk returns its input padded to width 4, so logits and offsets vary by position."""
    model = bet_model(2, 2, k=k, context=3, n_layer=1, n_head=1, n_embd=4).eval()
    model.trunk = PadTrunk()
    g = torch.Generator().manual_seed(12)
    with torch.no_grad():
        model.bin_head.weight.copy_(3 * torch.randn(k, 4, generator=g))
        model.offset_head.weight.copy_(torch.randn(2 * k, 4, generator=g))
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        model.centers.copy_(torch.randn(k, 2, generator=g))
        model.act_mean.copy_(torch.tensor([1.0, -2.0])); model.act_std.copy_(torch.tensor([0.5, 3.0]))
        model.fitted.fill_(True)
    return model


@pytest.mark.ex_sample
def test_sample_uses_the_last_position_and_each_rows_generator():
    model = sampling_model()
    obs = torch.randn(32, 3, 2, generator=torch.Generator().manual_seed(2))
    actions = model.sample(obs, 0.7, [torch.Generator().manual_seed(100 + i) for i in range(32)])
    logits, offsets = model(obs)
    for i in range(32):
        u = torch.rand(1, generator=torch.Generator().manual_seed(100 + i))
        cdf = F.softmax(logits[i, -1] / 0.7, -1).cumsum(-1)
        b = min(int((cdf <= u).sum()), 4)
        expected = (model.centers[b] + offsets[i, -1, b]) * model.act_std + model.act_mean
        assert torch.allclose(actions[i], expected, atol=1e-5), i


@pytest.mark.ex_sample
def test_sample_at_temperature_zero_is_the_argmax_bin():
    model = sampling_model()
    obs = torch.randn(6, 3, 2, generator=torch.Generator().manual_seed(4))
    logits, offsets = model(obs)
    b = logits[:, -1].argmax(-1)
    expected = (model.centers[b] + offsets[torch.arange(6), -1, b]) * model.act_std + model.act_mean
    assert torch.allclose(model.sample(obs, 0.0), expected, atol=1e-5)


# ---------------------------------------------------------------- dagger

@pytest.mark.ex_dagger
def test_aggregate_three_rounds_in_a_row():
    def rounds(n_steps, seed):
        return dict(obs=np.full((sum(n_steps), 1), seed, np.float32), actions=np.zeros((sum(n_steps), 1), np.float32),
                    episode_ends=np.cumsum(n_steps), seeds=np.arange(seed, seed + len(n_steps)))
    D = dagger.aggregate(dagger.aggregate(rounds([3], 0), rounds([2, 2], 10)), rounds([1, 4], 20))
    assert list(D["episode_ends"]) == [3, 5, 7, 8, 12] and list(D["seeds"]) == [0, 10, 11, 20, 21]
    assert [e["obs"][0, 0] for e in data.split_episodes(D)] == [0, 10, 10, 20, 20]


@pytest.mark.ex_dagger
def test_labelled_rollouts_with_half_beta_execute_both_policies(monkeypatch):
    """beta 0.5 on a learner that always pushes left: some executed pushes are the expert's right pushes,
    so the trajectory differs from both beta 0 and beta 1."""
    monkeypatch.setattr(dagger.evaluate, "bet_policy", lambda model, t, seed: (
        lambda history, ids, envs_: np.zeros((len(ids), 1), np.float32)))
    learner = type("Learner", (), {"context": 2})()
    runs = {b: dagger.labelled_rollouts(learner, "cartpole", 1, 5000, b, 1.0, horizon=40)[0] for b in (0.0, 0.5, 1.0)}
    assert len(runs[1.0]["obs"]) == 40                                 # the expert balances for 40 steps
    assert len(runs[0.0]["obs"]) < 40                                  # always left: the pole falls
    assert not np.array_equal(runs[0.5]["obs"][:len(runs[0.0]["obs"])], runs[0.0]["obs"][:len(runs[0.5]["obs"])])
    assert math.isclose(runs[0.5]["actions"].sum() + (1 - runs[0.5]["actions"]).sum(), len(runs[0.5]["obs"]))
