"""BeT math: focal loss, Eq. 2, the trunks (GPT, MLP, TCN, LSTM), Sec. 2.4 sampling, Fig. 2 modes, checkpoints."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kmeans
from bet import focal_loss, offset_loss
from helpers import bet_model
import variants
from variants.mdn import mdn_nll
from mingpt import GPT, GPTConfig, param_groups
from plumbing import runs


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


# ---------------------------------------------------------------- GPT trunk (Sec. 2.2, App. B.4)

@pytest.mark.ex_attention
def test_causality():
    torch.manual_seed(0)
    model = bet_model(3, 2, k=4, context=6, n_layer=2, n_head=2, n_embd=16).eval()
    x = torch.randn(2, 6, 3)
    y = x.clone()
    y[:, 4:] += torch.randn(2, 2, 3)                                        # change only positions 4, 5
    (la, oa), (lb, ob) = model(x), model(y)
    assert torch.allclose(la[:, :4], lb[:, :4], atol=1e-6) and torch.allclose(oa[:, :4], ob[:, :4], atol=1e-6)
    assert not torch.allclose(la[:, 4:], lb[:, 4:], atol=1e-4)             # and the future did change


def test_mlp_trunk_reads_the_whole_stacked_window():
    """App. C.3: one prediction per window, from all `context` frames stacked oldest first; no other length."""
    torch.manual_seed(0)
    model = bet_model(3, 2, k=4, context=6, n_layer=2, n_head=2, n_embd=16, trunk="mlp").eval()
    x = torch.randn(2, 6, 3)
    logits, offsets = model(x)
    assert logits.shape == (2, 1, 4) and offsets.shape == (2, 1, 4, 2)
    stacked = model.trunk.stack(x)                                          # (2, 1, 18)
    assert torch.equal(stacked[:, 0, :3], x[:, 0]) and torch.equal(stacked[:, 0, -3:], x[:, -1])
    for t in range(6):                                                      # every frame of the window matters
        y = x.clone()
        y[:, t] += 1.0
        assert not torch.allclose(model(y)[0], logits, atol=1e-4), t
    with pytest.raises(ValueError, match="context=6"):
        model(x[:, 1:])


# ---------------------------------------------------------------- sequence trunks: GPT, TCN, LSTM (Table 3, App. C.3)

@pytest.mark.parametrize("trunk", [pytest.param("gpt", marks=pytest.mark.needs_solutions), "tcn", "lstm"])
def test_sequence_trunks_are_causal_at_every_position(trunk):
    """Perturb only o_t: the outputs at positions < t stay put, the one at t moves (one output per position)."""
    torch.manual_seed(0)
    model = bet_model(3, 2, k=4, context=6, n_layer=2, n_head=2, n_embd=16, trunk=trunk).eval()
    x = torch.randn(2, 6, 3)
    logits, offsets = model(x)
    assert logits.shape == (2, 6, 4) and offsets.shape == (2, 6, 4, 2)
    for t in range(6):
        y = x.clone()
        y[:, t] += 1.0 + torch.randn(2, 3)
        for new, old in zip(model(y), (logits, offsets)):
            assert torch.allclose(new[:, :t], old[:, :t], atol=1e-6), (t, "the past moved")
            assert not torch.allclose(new[:, t], old[:, t], atol=1e-4), (t, "o_t did not reach position t")


@pytest.mark.parametrize("trunk", ["tcn", "lstm"])
def test_new_trunks_honour_dropout(trunk):
    """With dropout, two training-mode passes differ; in eval mode, or with dropout 0, they are equal."""
    x = torch.randn(4, 5, 3)
    torch.manual_seed(0)
    model = bet_model(3, 2, k=4, context=5, n_layer=2, n_embd=16, dropout=0.5, trunk=trunk).train()
    assert not torch.allclose(model(x)[0], model(x)[0])
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])
    model = bet_model(3, 2, k=4, context=5, n_layer=2, n_embd=16, dropout=0.0, trunk=trunk).train()
    assert torch.equal(model(x)[0], model(x)[0])


@pytest.mark.needs_solutions
def test_gpt_shapes_and_too_long_input():
    gpt = GPT(GPTConfig(input_dim=3, block_size=5, n_layer=1, n_head=2, n_embd=8))
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


# ---------------------------------------------------------------- multi-modality (Fig. 2)

def train(model, obs, actions, steps=300, lr=3e-3):
    model.fit_bins(obs.reshape(-1, obs.shape[-1]), actions.reshape(-1, actions.shape[-1]), seed=0)
    opt = torch.optim.AdamW(param_groups(model, 0.0), lr=lr)
    for _ in range(steps):
        loss, _ = model.loss(obs, actions)
        opt.zero_grad(); loss.backward(); opt.step()
    return model.eval()


@pytest.mark.needs_solutions
def test_bet_keeps_both_modes_where_mse_averages_them():
    torch.manual_seed(0)
    obs = torch.zeros(64, 1, 1)                                             # one observation...
    actions = torch.cat([-torch.ones(32, 1, 1), torch.ones(32, 1, 1)])      # ...two equally likely actions
    common = dict(context=1, n_layer=1, n_head=1, n_embd=16, dropout=0.0)
    bet = train(bet_model(1, 1, k=2, **common), obs, actions)
    mse = train(bet_model(1, 1, k=1, trunk="mlp", **common), obs, actions)      # RBC: one bin, MLP, plain MSE
    a = bet.sample(torch.zeros(4000, 1, 1), generator=torch.Generator().manual_seed(1)).flatten()
    assert (a < -0.9).float().mean() >= 0.3 and (a > 0.9).float().mean() >= 0.3
    assert ((a.abs() - 1).abs() < 0.1).all()                                # every sample lands on a mode
    assert mse.sample(torch.zeros(1, 1, 1)).abs().item() < 0.1             # the mean of the modes: 0


@pytest.mark.needs_solutions
@pytest.mark.parametrize("trunk", ["tcn", "lstm"])
def test_new_trunks_learn_a_mode_from_the_history(trunk):
    """Two modes, told apart by the window's first observation only (the later ones are 0): the trunk must carry
    o_1 forward. 100 steps take the loss far below its start and the last position acts in the window's mode."""
    torch.manual_seed(0)
    mode = torch.cat([-torch.ones(32), torch.ones(32)])                    # (64,)
    obs = torch.zeros(64, 3, 1)
    obs[:, 0, 0] = mode                                                     # only o_1 tells the mode
    actions = mode[:, None, None].expand(64, 3, 1).clone()                  # every step acts in the mode
    model = bet_model(1, 1, k=2, context=3, n_layer=2, n_embd=16, dropout=0.0, trunk=trunk)
    model.fit_bins(obs.reshape(-1, 1), actions.reshape(-1, 1), seed=0)
    before = model.loss(obs, actions)[0].item()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)           # a model this small trains fastest on one thread (2 spin on a busy machine)
    try:
        model = train(model, obs, actions, steps=100)
    finally:
        torch.set_num_threads(threads)
    after = model.loss(obs, actions)[0].item()
    assert after < 0.05 * before, (before, after)
    test = torch.tensor([[[-1.0], [0.0], [0.0]], [[1.0], [0.0], [0.0]]])
    assert torch.allclose(model.sample(test, temperature=0).flatten(), torch.tensor([-1.0, 1.0]), atol=0.1)


# ---------------------------------------------------------------- normalisation + checkpoints

def fitted_model(**kw):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = bet_model(4, 2, k=5, context=3, n_layer=1, n_head=2, n_embd=8, **kw)
    obs = rng.standard_normal((300, 4)) * [1, 10, 100, 0] + 7
    actions = rng.standard_normal((300, 2)) * [50, 0.1] + [100, 0]
    return model.fit_bins(obs, actions, seed=3), obs, actions


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
@pytest.mark.parametrize("kw", [{}, {"trunk": "mlp"}, {"trunk": "tcn"}, {"trunk": "lstm"}, {"offsets": False},
                                {"head": "mdn"}])
def test_save_load_round_trip(tmp_path, kw):
    model, obs, _ = fitted_model(**kw)
    path = tmp_path / "model.pt"
    runs.save_model(model, path, meta={"env": "test"})
    raw = torch.load(path, weights_only=True)                               # plain, safe-loadable contents
    assert isinstance(raw["config"], dict) and "centers" in raw["state_dict"]
    loaded = runs.load_model(path)
    assert loaded.meta == {"env": "test"} and not loaded.training
    x = torch.tensor(obs[:6], dtype=torch.float32).view(2, 3, 4)
    for a, b in zip(model.eval()(x), loaded(x)):
        assert (a is None and b is None) or torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]            # no temp files left behind


def test_load_rejects_corrupt_and_incomplete_files(tmp_path):
    model, _, _ = fitted_model()
    good = tmp_path / "good.pt"
    runs.save_model(model, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.pt: not a readable checkpoint"):
        runs.load_model(truncated)
    with pytest.raises(ValueError, match="not found"):
        runs.load_model(tmp_path / "missing.pt")
    ckpt = torch.load(good, weights_only=True)
    del ckpt["state_dict"]["centers"]
    torch.save(ckpt, tmp_path / "no_centers.pt")
    with pytest.raises(ValueError, match="lacks centers"):
        runs.load_model(tmp_path / "no_centers.pt")
    ckpt = torch.load(good, weights_only=True)
    ckpt["state_dict"]["centers"] = torch.zeros(7, 2)
    torch.save(ckpt, tmp_path / "bad_shape.pt")
    with pytest.raises(ValueError, match="'centers' has shape"):
        runs.load_model(tmp_path / "bad_shape.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a BeT checkpoint"):
        runs.load_model(tmp_path / "other.pt")


def _wider(ckpt):
    """n_embd doubled in the config and in the heads, not in the trunk."""
    ckpt["config"]["n_embd"] *= 2
    for key in ("bin_head.weight", "offset_head.weight"):
        ckpt["state_dict"][key] = torch.zeros(len(ckpt["state_dict"][key]), ckpt["config"]["n_embd"])


def _deeper(ckpt):
    ckpt["config"]["n_layer"] += 1


@pytest.mark.parametrize("forge", [_wider, _deeper])
@pytest.mark.parametrize("trunk", ["gpt", "mlp", "tcn", "lstm"])
def test_a_config_forged_past_its_trunk_is_refused_before_any_model_is_built(tmp_path, monkeypatch, trunk, forge):
    """A config whose trunk width or depth disagrees with the stored trunk tensors: a ValueError naming a trunk
    tensor, built on the meta device (no memory for what the forged sizes ask for), never on the CPU."""
    model, _, _ = fitted_model(trunk=trunk)
    path = tmp_path / "model.pt"
    runs.save_model(model, path)
    ckpt = torch.load(path, weights_only=True)
    forge(ckpt)
    torch.save(ckpt, path)
    real_build = variants.build
    def build(config):
        assert torch.empty(0).device.type == "meta", "built a model from a forged config on a real device"
        return real_build(config)
    monkeypatch.setattr(variants, "build", build)
    with pytest.raises(ValueError, match="'trunk[.]|lacks trunk[.]"):
        runs.load_model(path)


def test_uniform_discretizer_option():
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, size=(400, 2)) * [3, 1]
    model = bet_model(2, 2, k=9, context=2, n_layer=1, n_head=1, n_embd=8, discretizer="uniform")
    model.fit_bins(rng.standard_normal((400, 2)), actions)
    normalised = torch.as_tensor((actions - actions.mean(0)) / actions.std(0, ddof=1))
    assert torch.allclose(model.centers, kmeans.uniform_centers(normalised, 3).float(), atol=1e-5)
    with pytest.raises(ValueError, match="levels"):
        bet_model(2, 2, k=8, discretizer="uniform")


# ---------------------------------------------------------------- GPT-MDN (Table 3)

def test_mdn_nll_matches_hand_computation():
    # one position, k = 2 components in 1-D: pi = softmax(0, ln 3) = (0.25, 0.75), mu = (0, 1), sigma = (1, 0.5)
    logits, means = torch.tensor([[0.0, math.log(3)]]), torch.tensor([[[0.0], [1.0]]])
    log_stds, target = torch.tensor([[[0.0], [math.log(0.5)]]]), torch.tensor([[0.5]])
    normal = lambda x, mu, sd: math.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    hand = -math.log(0.25 * normal(0.5, 0, 1) + 0.75 * normal(0.5, 1, 0.5))     # -ln(0.0880 + 0.3630) = 0.7963
    assert abs(hand - 0.7963) < 1e-4
    assert abs(mdn_nll(logits, means, log_stds, target).item() - hand) < 1e-6
    # two action dims multiply the densities: with the same numbers in both dims the NLL is that of their product
    two = mdn_nll(logits, means.repeat(1, 1, 2), log_stds.repeat(1, 1, 2), target.repeat(1, 2)).item()
    assert abs(two + math.log(0.25 * normal(0.5, 0, 1) ** 2 + 0.75 * normal(0.5, 1, 0.5) ** 2)) < 1e-6


@pytest.mark.needs_solutions
def test_mdn_learns_two_modes_and_samples_both():
    """Actions +-1 (50/50) at one observation: the mixture's NLL puts two components there, and sampling draws
    both, each within 0.2 of its mode (the chosen component's mean, Sec. 2.4's sampling unchanged)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = bet_model(1, 1, k=4, context=1, n_layer=1, n_head=1, n_embd=16, dropout=0.0, head="mdn")
        obs = torch.zeros(400, 1, 1)
        actions = torch.tensor([1.0, -1.0]).repeat(200).view(400, 1, 1)
        model.fit_bins(obs[:, 0], actions[:, 0])
        assert torch.equal(model.centers, torch.zeros(4, 1))                # no k-means: the means are learned
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(300):
            loss, parts = model.loss(obs, actions)
            opt.zero_grad(); loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)          # as train.train_step clips (Table 5)
            opt.step()
        a = model.sample(torch.zeros(400, 1, 1), generator=torch.Generator().manual_seed(1)).squeeze(1)
    finally:
        torch.set_num_threads(threads)
    assert 0.3 < (a > 0).float().mean() < 0.7
    assert ((a.abs() - 1).abs() < 0.2).float().mean() > 0.95


def test_mdn_needs_offsets_and_kmeans():
    with pytest.raises(ValueError, match="GPT-MDN"):
        bet_model(2, 2, k=4, head="mdn", offsets=False)
    with pytest.raises(ValueError, match="unknown head"):
        bet_model(2, 2, k=4, head="mixture")
