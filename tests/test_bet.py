"""bet.py, BeT itself: the focal loss (Sec. 2.2), the offset loss (Eq. 2), sampling (Sec. 2.4), the two modes of
Fig. 2, normalisation and fit_bins, and the loss at every position."""

import math

import pytest
import torch
import torch.nn.functional as F

import kmeans
from bet import focal_loss, offset_loss
from helpers import bet_model, fitted_model, train_briefly


# ---------------------------------------------------------------- focal loss (Sec. 2.2)

@pytest.mark.ex_focal_loss
def test_focal_gamma0_is_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 5, 7, generator=g)
    target = torch.randint(7, (4, 5), generator=g)
    expected = F.cross_entropy(logits.reshape(-1, 7), target.reshape(-1))
    assert torch.allclose(focal_loss(logits, target, gamma=0.0), expected, atol=1e-6)


@pytest.mark.ex_focal_loss
def test_focal_gamma2_matches_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    target = torch.tensor([0, 1])
    # by hand: p_t = exp(z_t) / sum_j exp(z_j); loss_t = -(1 - p_t)^2 ln p_t; mean over the 2 rows
    p0 = math.exp(2) / (math.exp(2) + 1 + math.exp(-1))          # 0.84380
    p1 = math.exp(0.5) / (2 * math.exp(0.5) + math.exp(3))        # 0.07051
    hand = (-(1 - p0) ** 2 * math.log(p0) - (1 - p1) ** 2 * math.log(p1)) / 2
    assert abs(hand - 1.14767) < 1e-4   # on paper: (0.024400*0.169840 + 0.863952*2.651994) / 2
    assert abs(focal_loss(logits, target, gamma=2.0).item() - hand) < 1e-6


@pytest.mark.ex_focal_loss
def test_focal_gradcheck_float64():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    target = torch.randint(5, (3, 4), generator=g)
    assert torch.autograd.gradcheck(lambda z: focal_loss(z, target, gamma=2.0), (logits,))


@pytest.mark.ex_focal_loss
def test_focal_gradient_smaller_than_ce_when_well_classified():
    # the property Sec. 2.2 states: flatter for large p_t, i.e. well-classified examples push less
    for logits_row, target in [([4.0, 0.0, 0.0], 0), ([0.0, 0.0, 3.0], 2)]:
        z1 = torch.tensor([logits_row], requires_grad=True)
        z2 = torch.tensor([logits_row], requires_grad=True)
        t = torch.tensor([target])
        focal_loss(z1, t, gamma=2.0).backward()
        F.cross_entropy(z2, t).backward()
        assert F.softmax(z2, -1)[0, target] > 0.8
        assert z1.grad.norm() < 0.1 * z2.grad.norm()


# ---------------------------------------------------------------- offset loss (Sec. 2.3, Eq. 2)

@pytest.mark.ex_offset_loss
def test_offset_loss_matches_hand_computation():
    pred = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [9.0, 9.0]],
                         [[3.0, -1.0], [7.0, 7.0], [8.0, 8.0]]])            # (2, k=3, D=2)
    bins = torch.tensor([1, 0])
    residuals = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    # row 0: ||(0,0)-(1,2)||^2 = 5 ; row 1: ||(1,1)-(3,-1)||^2 = 8 ; mean = 6.5
    assert offset_loss(pred, bins, residuals).item() == pytest.approx(6.5)


@pytest.mark.ex_offset_loss
def test_offset_loss_gradient_only_on_true_bin():
    g = torch.Generator().manual_seed(2)
    pred = torch.randn(4, 6, 5, 3, generator=g, requires_grad=True)        # (B, T, k, D)
    bins = torch.randint(5, (4, 6), generator=g)
    residuals = torch.randn(4, 6, 3, generator=g)
    offset_loss(pred, bins, residuals).backward()
    mask = F.one_hot(bins, 5).bool()                                        # (B, T, k)
    assert torch.all(pred.grad[~mask] == 0)                                 # exactly zero, not just small
    assert torch.all(pred.grad[mask].abs().sum(-1) > 0)


# ---------------------------------------------------------------- sampling (Sec. 2.4)

class ZeroTrunk(torch.nn.Module):
    """A trunk that outputs zeros (B, T, width): the heads then give their biases, whatever the input."""

    def __init__(self, width):
        super().__init__()
        self.width = width

    def forward(self, x):
        return torch.zeros(*x.shape[:2], self.width)


def fixed_output_model(logits, offsets, act_mean=(0.5, -1.0), act_std=(2.0, 3.0)):
    """A BeT whose heads ignore the input: bin logits = `logits`, offsets = `offsets` (k, 2). Its trunk is
    ZeroTrunk, so these tests need no attention (a separate coursework exercise)."""
    k = len(logits)
    model = bet_model(2, 2, k=k, context=2, n_layer=1, n_head=1, n_embd=4)
    model.trunk = ZeroTrunk(4)
    with torch.no_grad():
        model.centers.copy_(torch.arange(2 * k, dtype=torch.float32).view(k, 2))
        model.act_mean.copy_(torch.tensor(act_mean)); model.act_std.copy_(torch.tensor(act_std))
        model.fitted.fill_(True)
        model.bin_head.weight.zero_(); model.bin_head.bias.copy_(torch.tensor(logits))
        model.offset_head.weight.zero_(); model.offset_head.bias.copy_(torch.as_tensor(offsets).flatten())
    return model


@pytest.mark.ex_sample
@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_bin_frequencies_match_softmax(temperature):
    logits = torch.tensor([1.0, 0.0, -0.5, 2.0])
    model = fixed_output_model(logits.tolist(), torch.zeros(4, 2))
    n = 20000
    actions = model.sample(torch.zeros(n, 2, 2), temperature=temperature, generator=torch.Generator().manual_seed(0))
    bins, _ = kmeans.encode(model.normalize_actions(actions), model.centers)
    freq = torch.bincount(bins, minlength=4).float() / n
    expected = F.softmax(logits / temperature, -1)
    # binomial std <= sqrt(0.25 / 20000) = 0.0035; allow 4 std
    assert torch.allclose(freq, expected, atol=0.014), (freq, expected)


@pytest.mark.ex_sample
def test_temperature_near_zero_is_argmax():
    model = fixed_output_model([0.3, 0.5, 0.2], torch.zeros(3, 2))
    actions = model.sample(torch.zeros(500, 1, 2), temperature=1e-4, generator=torch.Generator().manual_seed(0))
    bins, _ = kmeans.encode(model.normalize_actions(actions), model.centers)
    assert torch.all(bins == 1)
    assert torch.equal(model.sample(torch.zeros(3, 1, 2), temperature=0), actions[:3])


@pytest.mark.ex_sample
def test_action_is_center_plus_that_bins_offset():
    offsets = torch.tensor([[0.1, -0.2], [0.3, 0.4], [-0.25, 0.05]])
    model = fixed_output_model([-50.0, -50.0, 50.0], offsets)               # bin 2, surely
    action = model.sample(torch.zeros(1, 2, 2))[0]
    expected = (model.centers[2] + offsets[2]) * model.act_std + model.act_mean   # then un-normalised
    assert torch.allclose(action, expected, atol=1e-6)
    model.offset_head = None                                                # the "no offsets" ablation
    assert torch.allclose(model.sample(torch.zeros(1, 2, 2))[0], model.centers[2] * model.act_std + model.act_mean)


@pytest.mark.needs_solutions
def test_sampling_leaves_the_training_mode_as_it_was():
    """BeT.sample switches to eval mode only when it has to, and restores training mode afterwards."""
    import torch
    from helpers import bet_model
    model = bet_model(2, 2, k=2, context=2, n_layer=1, n_head=1, n_embd=8, dropout=0.5)
    model.fitted.fill_(True)
    x = torch.randn(3, 2, 2)
    a = model.sample(x, 0)
    assert model.training                                      # restored
    assert torch.equal(a, model.eval().sample(x, 0)) and not model.training   # dropout was off in both


# ---------------------------------------------------------------- multi-modality (Fig. 2)

@pytest.mark.needs_solutions
def test_bet_keeps_both_modes_where_mse_averages_them():
    torch.manual_seed(0)
    obs = torch.zeros(64, 1, 1)                                             # one observation...
    actions = torch.cat([-torch.ones(32, 1, 1), torch.ones(32, 1, 1)])      # ...two equally likely actions
    common = dict(context=1, n_layer=1, n_head=1, n_embd=16, dropout=0.0)
    bet = train_briefly(bet_model(1, 1, k=2, **common), obs, actions)
    mse = train_briefly(bet_model(1, 1, k=1, trunk="mlp", **common), obs, actions)      # RBC: one bin, MLP, plain MSE
    a = bet.sample(torch.zeros(4000, 1, 1), generator=torch.Generator().manual_seed(1)).flatten()
    assert (a < -0.9).float().mean() >= 0.3 and (a > 0.9).float().mean() >= 0.3
    assert ((a.abs() - 1).abs() < 0.1).all()                                # every sample lands on a mode
    assert mse.sample(torch.zeros(1, 1, 1)).abs().item() < 0.1             # the mean of the modes: 0


# ---------------------------------------------------------------- normalisation and the loss

def test_fit_bins_normalises_then_runs_kmeans():
    model, obs, actions = fitted_model()
    assert torch.allclose(model.obs_std, torch.tensor([1.0, 10, 100, 1]), rtol=0.15)   # constant dim -> 1
    normalised = (actions - actions.mean(0)) / actions.std(0, ddof=1)
    assert torch.allclose(model.centers, kmeans.fit(normalised, 5, seed=3).float(), atol=1e-4)


@pytest.mark.needs_solutions
def test_loss_requires_fitted_bins_and_covers_every_position():
    model = bet_model(2, 2, k=3, context=4, n_layer=1, n_head=1, n_embd=8)
    with pytest.raises(AssertionError, match="fit_bins"):
        model.loss(torch.zeros(1, 4, 2), torch.zeros(1, 4, 2))
    model, obs, actions = fitted_model(dropout=0.0)
    o = torch.tensor(obs[:12], dtype=torch.float32).view(3, 4, 4)[:, :3]
    a = torch.tensor(actions[:12], dtype=torch.float32).view(3, 4, 2)[:, :3]
    total, parts = model.loss(o, a)
    logits, offsets = model(o)
    bins, res = kmeans.encode(model.normalize_actions(a), model.centers)
    by_position = [focal_loss(logits[:, t], bins[:, t]) + model.alpha * offset_loss(offsets[:, t], bins[:, t], res[:, t])
                   for t in range(3)]
    assert torch.allclose(total, torch.stack(by_position).mean(), atol=1e-5)


@pytest.mark.needs_solutions
def test_a_loss_mask_keeps_only_the_positions_it_marks():
    """--mask-padding's loss: with a mask keeping every position it is the plain loss; keeping only the last
    position, it is focal + alpha * Eq. 2 of that position alone."""
    model, obs, actions = fitted_model()
    model.eval()                                                               # (no dropout: two calls agree)
    obs = torch.as_tensor(obs[:24], dtype=torch.float32).view(8, 3, 4)       # (B, h, obs_dim)
    actions = torch.as_tensor(actions[:24], dtype=torch.float32).view(8, 3, 2)   # (B, h, D)
    every = torch.ones(obs.shape[:2], dtype=torch.bool)
    assert torch.allclose(model.loss(obs, actions, every)[0], model.loss(obs, actions)[0], atol=1e-6)
    last = torch.zeros_like(every)
    last[:, -1] = True
    logits, offsets = model(obs)
    bins, residuals = kmeans.encode(model.normalize_actions(actions[:, -1]), model.centers)
    by_hand = focal_loss(logits[:, -1], bins, model.gamma) + model.alpha * offset_loss(offsets[:, -1], bins, residuals)
    assert torch.allclose(model.loss(obs, actions, last)[0], by_hand, atol=1e-6)
