"""The nearest-neighbour and LWR baselines (Sec. 3.2, App. B.1): what they act, and that train.py, evaluate.py and
runs.load_model treat their checkpoints like BeT's."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

import data
import evaluate
from plumbing import runs
import train
from variants.baselines import NearestNeighbours
from test_runs import cli, one_error_line
from plumbing import demofiles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fitted(obs, actions, neighbours):
    return NearestNeighbours(obs.shape[1], actions.shape[1], neighbours).fit(obs, actions)


def test_nn_acts_the_stored_action_on_a_stored_observation():
    g = torch.Generator().manual_seed(0)
    obs, actions = torch.randn(50, 3, generator=g) * 5 + 2, torch.randn(50, 2, generator=g)
    model = fitted(obs, actions, 1)
    rows = torch.tensor([0, 7, 13, 42, 49])
    history = torch.randn(len(rows), 3, 3, generator=g)       # (B, T, obs_dim): only the last step counts
    history[:, -1] = obs[rows]
    assert torch.equal(model.sample(history), actions[rows])
    assert torch.equal(model.sample(obs[rows][:, None], temperature=0.0), actions[rows])


def test_lwr_weights_are_exp_minus_distance_normalised():
    o = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [10.0], [20.0]])        # 1-D, known distances
    a = torch.tensor([[1.0], [2.0], [4.0], [8.0], [16.0], [32.0], [64.0]])
    model = fitted(o, a, 5)
    w, index = model.weights(torch.tensor([[0.4]]))
    d = torch.tensor([0.4, 0.6, 1.6, 2.6, 3.6], dtype=torch.float64) / o.double().std()   # normalised distances
    expected = torch.exp(-d) / torch.exp(-d).sum()
    assert index.tolist() == [[0, 1, 2, 3, 4]]                                    # the 5 nearest, nearest first
    assert torch.allclose(w.double(), expected[None], atol=1e-6)
    sampled = model.sample(torch.tensor([[[0.4]]]))
    assert sampled.item() == pytest.approx((expected * a[:5, 0].double()).sum().item(), abs=1e-5)
    g = torch.Generator().manual_seed(1)
    model = fitted(torch.randn(300, 4, generator=g), torch.randn(300, 2, generator=g), 5)
    w, _ = model.weights(torch.cat([torch.randn(64, 4, generator=g), torch.full((2, 4), 1e4)]))   # far ones too
    assert (w >= 0).all() and torch.allclose(w.sum(1), torch.ones(66), atol=1e-6)


def test_lwr_of_five_equidistant_neighbours_is_their_plain_mean():
    near, far = torch.eye(5), 10 * torch.eye(5)         # symmetric in every dimension: one scale for all
    actions = torch.randn(10, 3, generator=torch.Generator().manual_seed(2))
    model = fitted(torch.cat([near, far]), actions, 5)
    w, index = model.weights(torch.zeros(1, 5))
    assert sorted(index[0].tolist()) == [0, 1, 2, 3, 4]
    assert torch.allclose(model.sample(torch.zeros(1, 1, 5))[0], actions[:5].mean(0), atol=1e-6)


@pytest.mark.parametrize("neighbours", [1, 5])
def test_observations_are_normalised(neighbours):
    """Scaling one observation dimension by 1000 in both the data and the query changes no choice, though the raw
    Euclidean nearest neighbour changes for some queries."""
    g = torch.Generator().manual_seed(3)
    obs, queries = torch.randn(200, 2, generator=g), torch.randn(40, 2, generator=g)
    actions = torch.arange(200.0)[:, None]                                        # the action names the neighbour
    scale = torch.tensor([1000.0, 1.0])
    plain, scaled = fitted(obs, actions, neighbours), fitted(obs * scale, actions, neighbours)
    assert torch.equal(plain.weights(queries)[1], scaled.weights(queries * scale)[1])
    assert torch.allclose(plain.sample(queries[:, None]), scaled.sample((queries * scale)[:, None]), atol=1e-3)
    raw_nearest = torch.cdist(queries * scale, obs * scale).argmin(1)
    assert (raw_nearest != plain.weights(queries)[1][:, 0]).any()                 # the test can tell


@pytest.fixture(scope="module", params=["nn", "lwr"])
def baseline_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / request.param
    train.main(["--env", "pointmass1", "--policy", request.param, "--episodes", "20", "--out", str(out)])
    return request.param, out


def test_train_stores_evaluates_and_the_checkpoint_round_trips(baseline_run, tmp_path):
    policy, out = baseline_run
    results = json.loads((out / "eval.json").read_text())
    assert results["episodes"] == 20 and 0 <= results["success_rate"] <= 1
    assert json.loads((out / "train_log.json").read_text())["history"] == []
    evaluate.main([str(out / "model.pt"), "--episodes", "5", "--json", str(tmp_path / "e.json"),
                   "--plot", str(tmp_path / "plots")])
    assert json.loads((tmp_path / "e.json").read_text())["episodes"] == 5
    assert os.listdir(tmp_path / "plots") == [f"pointmass1-{policy}-rollouts.png"]     # no loss curve: no epochs
    loaded = runs.load_model(out / "model.pt")
    assert loaded.config["policy"] == loaded.meta["policy"] == policy and loaded.context == 1
    cfg = train.env_config("pointmass1")
    demos = demofiles.load_demos(data.default_path("pointmass1"), cfg.obs_dim, cfg.act_dim)
    fresh = train.build_model(cfg, policy).fit(demos["obs"], demos["actions"])
    history = torch.cat([torch.as_tensor(demos["obs"][:64]), torch.randn(64, 2)])[:, None].repeat(1, 2, 1)
    assert torch.equal(loaded.sample(history), fresh.sample(history))
    args = train.parse_args(["--env", "pointmass1", "--policy", policy])
    folder = runs.default_out(args, cfg, cfg, data.default_path("pointmass1"))
    assert folder == os.path.join("runs", f"pointmass1-{policy}")


def forge(out, path, edit):
    ckpt = torch.load(out / "model.pt", weights_only=True)
    edit(ckpt)
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["config"].update(size=c["config"]["size"] + 1), "has shape"),              # more than it stores
    (lambda c: c["config"].update(size=10 ** 9), "more than 10000000"),                   # before allocating
    (lambda c: c["config"].update(size=0), "must be positive integers"),
    (lambda c: c["config"].update(obs_dim=2.0), "must be positive integers"),
    (lambda c: c["config"].update(policy={"nn": "lwr", "lwr": "nn"}[c["config"]["policy"]]), "bad config"),
    (lambda c: c["state_dict"]["actions"].view(-1)[5].fill_(math.nan), "'actions' contains NaN"),
    (lambda c: c["state_dict"]["obs"].view(-1)[0].fill_(math.inf), "'obs' contains NaN or inf"),
    (lambda c: c["state_dict"]["obs_std"].fill_(0.0), "'obs_std' must be positive"),
    (lambda c: c["state_dict"]["fitted"].fill_(False), "stores no demonstrations"),
    (lambda c: c["state_dict"].update(extra=torch.zeros(1)), "unexpected entries extra"),
])
def test_a_forged_baseline_checkpoint_is_refused(baseline_run, tmp_path, edit, message):
    path = forge(baseline_run[1], tmp_path / "forged.pt", edit)
    with pytest.raises(ValueError) as e:
        runs.load_model(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)
    one_error_line(*cli(evaluate, path, "--episodes", 1), message)


def test_an_unknown_policy_is_one_error_line():
    p = subprocess.run([sys.executable, "train.py", "--env", "pointmass1", "--policy", "knn"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    one_error_line(p.returncode, p.stderr, "--policy", "knn")
    assert p.stdout == ""
