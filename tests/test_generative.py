"""The generative baselines of Sec. 3.2 (App. B): the maths of the VAE (KL, ELBO), the flow (change of variables,
exact inverse) and IBC (InfoNCE, derivative-free argmin), and their path through train.py, checkpoints and rollouts."""

import json
import math
import os

import numpy as np
import pytest
import torch

import data
import evaluate
import train
import variants
from helpers import cli, one_error_line
from plumbing import runs
from variants import flow as flow_module
from variants import ibc as ibc_module
from variants import vae as vae_module


def build(policy, obs_dim=3, act_dim=2, n_layer=2, n_embd=16):
    torch.manual_seed(0)
    return variants.build(variants.generative_config(policy, obs_dim, act_dim, n_layer, n_embd))


def two_route_data(n=400, seed=0):
    """o ~ N(0, 1) in 3-D; the action is (1, 1) or (-1, -1) (a fair coin), plus a little noise: two modes."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 3, generator=g)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    return obs, sign[:, None] * torch.ones(n, 2) + 0.05 * torch.randn(n, 2, generator=g)


# ---------------------------------------------------------------- the flow (PARROT): change of variables, inverse

def perturbed_flow(act_dim):
    """A flow whose couplings are not the identity (they start as it): every weight drawn at random."""
    model = build("flow", act_dim=act_dim).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("act_dim", [1, 2, 3])
def test_flow_log_likelihood_is_the_change_of_variables_with_a_numerical_jacobian(act_dim):
    model = perturbed_flow(act_dim)
    obs, actions = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, act_dim, dtype=torch.float64)
    log_p = model.log_prob(obs, actions)                                                  # (4,)
    for i in range(4):
        o = model.normalize_obs(obs[i:i + 1])
        f = lambda a: model(a[None], o)[0][0]                                             # (D,) -> (D,)
        a, h = model.normalize_actions(actions[i]), 1e-6
        jac = torch.stack([(f(a + h * e) - f(a - h * e)) / (2 * h) for e in torch.eye(act_dim, dtype=a.dtype)], 1)
        mean, log_std = model.prior(o)[0].chunk(2)
        z = f(a)
        base = torch.distributions.Normal(mean, log_std.exp()).log_prob(z).sum()
        assert abs(jac.det().abs().log().item()) > 1e-3, "the test needs a flow that changes volume"
        assert torch.allclose(log_p[i], base + jac.det().abs().log(), atol=1e-6)


@pytest.mark.parametrize("act_dim", [1, 2, 3])
def test_flow_inverse_undoes_forward(act_dim):
    model = perturbed_flow(act_dim)
    o, a = torch.randn(50, 3, dtype=torch.float64), 3 * torch.randn(50, act_dim, dtype=torch.float64)
    z, _ = model(a, o)
    assert not torch.allclose(z, a)
    assert torch.allclose(model.inverse(z, o), a, atol=1e-10)


def test_flow_samples_are_the_inverse_of_prior_draws():
    """sample() at temperature 0 returns f^-1(mu(o)): the action whose latent is the prior's mean."""
    model = perturbed_flow(2).float()
    model.fit_bins(torch.randn(20, 3), torch.randn(20, 2))
    obs = torch.randn(5, 1, 3)
    a = model.sample(obs, temperature=0.0)
    o = model.normalize_obs(obs[:, -1])
    z, _ = model(model.normalize_actions(a), o)
    assert torch.allclose(z, model.prior(o).chunk(2, -1)[0], atol=1e-4)


# ---------------------------------------------------------------- the VAE (SPIRL): KL, ELBO

def test_vae_kl_is_the_closed_form_for_two_diagonal_gaussians():
    # by hand, 1-D: KL(N(0, 1) || N(1, 2^2)) = log 2 + (1 + 1) / 8 - 1/2
    kl = vae_module.gaussian_kl(torch.zeros(1), torch.zeros(1), torch.ones(1), torch.tensor([math.log(2.0)]))
    assert kl.item() == pytest.approx(math.log(2) + 0.25 - 0.5, abs=1e-6)
    # and torch.distributions' own closed form, summed over 10 independent dimensions
    mq, lq, mp, lp = torch.randn(4, 4, 10, dtype=torch.float64).unbind(0)
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mq, lq.exp()),
                                                 torch.distributions.Normal(mp, lp.exp())).sum(-1)
    assert torch.allclose(vae_module.gaussian_kl(mq, lq, mp, lp), expected, atol=1e-12)
    assert torch.allclose(vae_module.gaussian_kl(mq, lq, mq, lq), torch.zeros(4, dtype=torch.float64))


def test_vae_negative_elbo_equals_a_hand_computation():
    # one row, a chunk of 2 steps x 1 dimension, a 1-D latent
    chunk, decoded = torch.tensor([[[1.0], [2.0]]]), torch.tensor([[[0.5], [2.0]]])
    sigma = 0.5
    nll = 0.5 * (0.5 / sigma) ** 2 + 2 * (math.log(sigma) + 0.5 * math.log(2 * math.pi))   # -log N, both steps
    kl = math.log(2) + (1 + 1) / 8 - 0.5                                                     # as above
    value = vae_module.negative_elbo(chunk, decoded, torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1),
                                     torch.tensor([[math.log(2.0)]]), decoder_std=sigma, beta=1.0)
    assert value.item() == pytest.approx(nll + kl, abs=1e-6)


def test_vae_loss_is_the_negative_elbo_of_one_reparameterised_sample():
    model = build("vae")
    obs, actions = torch.randn(6, 10, 3), torch.randn(6, 10, 2)
    model.fit_bins(obs.reshape(-1, 3), actions.reshape(-1, 2))
    torch.manual_seed(5)
    loss, parts = model.loss(obs, actions)
    torch.manual_seed(5)
    chunk = model.normalize_actions(actions)
    mq, lq, mp, lp = model.gaussians(model.normalize_obs(obs[:, 0]), chunk)
    z = mq + lq.exp() * torch.randn_like(mq)
    assert torch.allclose(loss, vae_module.negative_elbo(chunk, model.decode(z), mq, lq, mp, lp).mean())
    assert parts["focal"] == 0 and parts["offset"] == 0


def test_vae_trains_on_chunks_that_start_at_each_step_and_stop_at_the_episode_end():
    ends = np.array([3, 7])
    chunks = data.action_chunks(ends, 4)
    assert chunks.tolist() == [[0, 1, 2, 2], [1, 2, 2, 2], [2, 2, 2, 2],
                               [3, 4, 5, 6], [4, 5, 6, 6], [5, 6, 6, 6], [6, 6, 6, 6]]


def test_vae_plays_its_decoded_chunk_open_loop():
    """evaluate.bet_policy asks the VAE for a chunk once every H steps per episode and plays it in order."""
    model = build("vae", obs_dim=2)
    model.fit_bins(torch.randn(30, 2), torch.randn(30, 2))
    calls, sample = [], model.sample
    model.sample = lambda obs, t, g: calls.append(len(obs)) or sample(obs, t, g)
    policy = evaluate.bet_policy(model.eval(), 1.0, seed=0)
    first = torch.randn(3, 1, 2)
    played = [policy(first, np.arange(3), None) for _ in range(vae_module.HORIZON + 1)]
    assert len(calls) == 2, "one call for the first chunk of the 3 episodes, one when it is spent"
    expected = evaluate.bet_policy(model, 1.0, seed=0)                   # the same draws, from the start
    chunk = runs.in_fixed_batches(lambda b, g: sample(b, 1.0, g), first, [torch.Generator().manual_seed(i) for i in range(3)])
    assert np.allclose(np.stack(played[:vae_module.HORIZON], 1), chunk.numpy())
    assert expected is not None


# ---------------------------------------------------------------- IBC: InfoNCE, the derivative-free optimiser

def test_info_nce_equals_a_hand_computation():
    energies = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, -1.0]])
    by_hand = [-math.log(math.exp(-1) / (math.exp(-1) + math.exp(-2) + math.exp(-3))),
               -math.log(math.exp(-0.5) / (2 * math.exp(-0.5) + math.exp(1.0)))]
    assert ibc_module.info_nce(energies).item() == pytest.approx(sum(by_hand) / 2, abs=1e-6)


def test_an_info_nce_step_lowers_the_demonstrated_actions_energy_against_its_counter_examples():
    model = build("ibc")
    obs, actions = two_route_data(64)
    model.fit_bins(obs, actions)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    g = lambda: torch.Generator().manual_seed(1)
    negatives = torch.rand(64, ibc_module.COUNTER_EXAMPLES, 2, generator=g()) * 2 - 1
    def gap():   # the demonstrated action's energy minus the mean counter-example's
        with torch.no_grad():
            e = model.energy(obs, torch.cat([model.to_box(actions)[:, None], negatives], 1))
        return (e[:, 0] - e[:, 1:].mean(1)).mean().item()
    before = gap()
    loss, _ = model.loss(obs[:, None], actions[:, None], generator=g())
    opt.zero_grad(); loss.backward(); opt.step()
    assert gap() < before - 1e-4


def test_derivative_free_optimiser_finds_a_quadratics_minimum():
    centre = torch.tensor([[0.3, -0.6], [-0.9, 0.1]])                         # two problems at once
    energy = lambda x: ((x - centre[:, None]) ** 2).sum(-1)                  # (B, S)
    found = ibc_module.optimise(energy, 2, 2, torch.Generator().manual_seed(0))
    assert torch.allclose(found, centre, atol=0.1), found          # the default's resolution: the last noise, 0.08
    found = ibc_module.optimise(energy, 2, 2, torch.Generator().manual_seed(0), samples=4096, iterations=8)
    assert torch.allclose(found, centre, atol=0.02), found          # more samples and rounds: closer
    # one generator per row: row i depends on its own generator only (two computations: equal up to rounding)
    alone = ibc_module.optimise(lambda x: ((x - centre[1]) ** 2).sum(-1), 1, 2, [torch.Generator().manual_seed(7)])
    both = ibc_module.optimise(energy, 2, 2, [torch.Generator().manual_seed(3), torch.Generator().manual_seed(7)])
    assert torch.allclose(alone[0], both[1], atol=1e-5)


def test_ibc_box_maps_the_demonstrations_inside_minus_one_one():
    model = build("ibc")
    obs, actions = two_route_data(100)
    model.fit_bins(obs, actions)
    x = model.to_box(actions)
    assert x.min() > -1 and x.max() < 1 and x.min() < -0.85 and x.max() > 0.85
    assert torch.allclose(model.from_box(x), actions, atol=1e-5)


# ---------------------------------------------------------------- through train.py, checkpoints and rollouts

def demos_of(obs, actions, episodes=10):
    n = len(obs)
    return {"obs": obs.numpy(), "actions": actions.numpy(), "episode_ends": np.linspace(n // episodes, n, episodes).astype(np.int64)}


def small_config(**changes):
    return train.Config(**{**dict(obs_dim=3, act_dim=2, epochs=3, batch_size=64, lr=3e-3, rbc_layers=2, rbc_width=32),
                           **changes})


@pytest.mark.needs_solutions            # train.train builds windows (the exercise 'windows')
def test_ibc_keeps_the_epoch_of_lowest_validation_loss_and_never_trains_on_it():
    demos, cfg = demos_of(*two_route_data(400)), small_config(epochs=6)
    model = train.build_model(cfg, "ibc")
    history = train.train(model, demos, cfg, seed=0, log=lambda *a: None)
    _, validation = data.hold_out(demos, ibc_module.HELD_OUT, 0)
    assert all("validation" in h for h in history) and len(validation["episode_ends"]) == 1
    assert model.eval().validation_loss(validation) == pytest.approx(min(h["validation"] for h in history), abs=1e-6)


@pytest.mark.needs_solutions            # train.train builds windows (the exercise 'windows')
def test_ibc_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    demos, cfg = demos_of(*two_route_data(200)), small_config(epochs=3)
    torch.manual_seed(0)
    whole = train.build_model(cfg, "ibc")
    train.train(whole, demos, cfg, seed=0, log=lambda *a: None)
    state = runs.TrainingState(str(tmp_path), {"epochs": 3}, resuming=False)
    torch.manual_seed(0)
    first = train.build_model(cfg, "ibc")
    train.train(first, demos, small_config(epochs=2), seed=0, log=lambda *a: None, state=state)
    torch.manual_seed(1)                      # (its weights come from the saved state)
    resumed = train.build_model(cfg, "ibc")
    train.train(resumed, demos, cfg, seed=0, log=lambda *a: None,
                state=runs.TrainingState(str(tmp_path), {"epochs": 3}, resuming=True))
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.needs_solutions            # train.train builds windows (the exercise 'windows')
@pytest.mark.parametrize("policy", ["vae", "flow", "ibc"])
def test_baseline_checkpoints_round_trip_and_act(policy, tmp_path):
    demos, cfg = demos_of(*two_route_data(200)), small_config(epochs=1)
    model = train.build_model(cfg, policy)
    train.train(model, demos, cfg, seed=0, log=lambda *a: None)
    path = str(tmp_path / "model.pt")
    runs.save_model(model, path)
    loaded = runs.load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    obs = torch.randn(4, 1, 3)
    gens = lambda: [torch.Generator().manual_seed(i) for i in range(4)]
    a, b = model.eval().sample(obs, 1.0, gens()), loaded.sample(obs, 1.0, gens())
    assert torch.equal(a, b) and torch.isfinite(a).all()
    assert a.shape == ((4, vae_module.HORIZON, 2) if policy == "vae" else (4, 2))


def test_a_forged_baseline_checkpoint_is_refused_in_one_line(tmp_path):
    model = build("flow").float()
    model.fit_bins(torch.randn(20, 3), torch.randn(20, 2))
    ckpt = variants.checkpoint(model)
    ckpt["config"]["n_embd"] = 10 ** 9                          # would allocate gigabytes if built for real
    torch.save(ckpt, tmp_path / "forged.pt")
    code, err = cli(evaluate, tmp_path / "forged.pt", "--episodes", "1")
    one_error_line(code, err, "forged.pt")


@pytest.mark.needs_solutions            # train.train builds windows (the exercise 'windows')
def test_train_py_trains_and_evaluates_each_baseline(tmp_path):
    """python train.py --env pointmass1 --policy ibc|vae|flow: trains, saves, evaluates (one epoch, 4 episodes)."""
    for policy in ("vae", "flow", "ibc"):
        out = tmp_path / policy
        code, err = cli(train, "--env", "pointmass1", "--policy", policy, "--epochs", "1", "--episodes", "4",
                        "--out", out)
        assert code == 0, err
        assert os.path.exists(out / "model.pt") and os.path.exists(out / "eval.json")
        assert runs.load_model(str(out / "model.pt")).config["policy"] == policy


@pytest.mark.slow
@pytest.mark.needs_solutions
def test_ibc_reaches_both_routes_of_pointmass1(tmp_path):
    """The issue's target: an energy model keeps both modes (docs/ablations/pointmass1: 14 / 86 % for seed 0)."""
    code, err = cli(train, "--env", "pointmass1", "--policy", "ibc", "--out", tmp_path / "ibc")
    assert code == 0, err
    results = json.load(open(tmp_path / "ibc" / "eval.json"))
    assert results["success_rate"] >= 0.95 and min(results["routes"].values()) >= 0.05, results["routes"]
