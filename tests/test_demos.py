"""End to end: train.py and evaluate.py on the point-mass and CartPole demos (smoke tests, bad input,
and the slow test that reproduces the README's targets)."""

import dataclasses
import json
import os
import time

import numpy as np
import pytest

import train
from plumbing import demofiles

pytestmark = pytest.mark.needs_solutions   # end to end: the handout (coursework.py) cannot run these

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_KEYS = {"success_rate", "mean_return", "episodes", "seconds"}


@pytest.fixture
def run(capfd, monkeypatch):
    """Run one of the CLIs as `python script args` does (its __main__ block, cwd ROOT), in this process to spare a
    torch import per call; return (exit code, stdout, stderr). test_reliability runs each script as a real process."""
    from test_reliability import run_here
    return lambda script, *args: run_here(script, *args, capfd=capfd, monkeypatch=monkeypatch)


@pytest.mark.parametrize("env, extra_keys", [
    ("pointmass1", {"routes", "single_route"}),
    ("pointmass2", {"routes", "single_route"}),
    ("cartpole", {"min_return"}),
])
def test_train_then_evaluate_smoke(tmp_path, env, extra_keys, run):
    t0 = time.time()
    train.main(["--env", env, "--epochs", "2", "--episodes", "3", "--out", str(tmp_path)])
    for name in ("model.pt", "train_log.json", "eval.json"):
        assert (tmp_path / name).exists(), name
    results = json.loads((tmp_path / "eval.json").read_text())
    assert RESULT_KEYS | extra_keys <= set(results) and results["episodes"] == 3
    log = json.loads((tmp_path / "train_log.json").read_text())
    assert [h["epoch"] for h in log["history"]] == [1, 2] and np.isfinite(log["history"][-1]["loss"])
    code, out, err = run("evaluate.py", tmp_path / "model.pt", "--episodes", 4, "--seed", 7,
                         "--json", tmp_path / "again.json", "--plot", tmp_path / "plots")
    assert code == 0, err
    again = json.loads((tmp_path / "again.json").read_text())
    assert RESULT_KEYS | extra_keys <= set(again) and again["episodes"] == 4 and again["seed"] == 7
    assert (tmp_path / "plots" / f"{env}-bet-loss.png").exists()
    if env.startswith("pointmass"):
        assert abs(sum(again["routes"].values()) - 1) < 1e-9 or again["success_rate"] < 1
        assert (tmp_path / "plots" / f"{env}-bet-rollouts.png").exists()
    assert time.time() - t0 < 60


def test_mse_policy_and_ablation_flags(tmp_path):
    train.main(["--env", "pointmass1", "--policy", "mse", "--epochs", "1", "--episodes", "2", "--out", str(tmp_path / "mse")])
    train.main(["--env", "pointmass1", "--no-offsets", "--trunk", "mlp", "--context", "1", "--k", "2",
                "--epochs", "1", "--episodes", "0", "--out", str(tmp_path / "ablated")])
    from plumbing import runs
    mse = runs.load_model(tmp_path / "mse" / "model.pt")
    rbc = train.env_config("pointmass1")                       # RBC (Sec. 3.2): one bin, an MLP on the current observation
    assert mse.config["k"] == 1 and mse.config["trunk"] == "mlp" and mse.meta["policy"] == "mse"
    assert (mse.context, mse.config["n_layer"], mse.config["n_embd"]) == (1, rbc.rbc_layers, rbc.rbc_width)
    ablated = runs.load_model(tmp_path / "ablated" / "model.pt")
    assert (ablated.config["offsets"], ablated.config["trunk"], ablated.context, ablated.k) == (False, "mlp", 1, 2)
    assert not (tmp_path / "ablated" / "eval.json").exists()          # --episodes 0 skips evaluation
    cfg = train.config_from_args(train.parse_args(["--env", "pointmass1", "--discretizer", "uniform"]))
    for k, grid_bins in [(1, 1), (2, 4), (4, 4), (5, 9), (24, 25), (48, 49)]:      # smallest grid with >= k bins
        assert train.build_model(dataclasses.replace(cfg, k=k), "bet").k == grid_bins


def test_bench_prints_its_numbers_as_json(run):
    code, out, err = run("tools.bench", "--env", "pointmass2", "--steps", 3, "--repeats", 3, "--episodes", 2, "--all-cores")
    assert code == 0, err
    result = json.loads(out)
    if (os.cpu_count() or 1) > 1:
        assert result["all_cores"]["train_samples_per_second"] > 0 and result["all_cores"]["over_threads"] > 0
    assert result["train_samples_per_second"] > 0 and set(result["ms_per_action"]) == {"1", "64"}
    split = result["evaluation"]
    assert split["episodes"] == 2 and split["policy_seconds"] > 0 and split["env_seconds"] > 0
    code, _, err = run("tools.bench", "--env", "pointmass2", "--steps", 0)
    assert code == 2 and err.startswith("error: --steps must be at least 1")


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


def test_flags_override_config_fields():
    """Every flag whose dest is a Config field overrides it; the others keep the env's table row."""
    args = train.parse_args(["--env", "pusht", "--batch-size", "7", "--rbc-width", "9", "--no-offsets",
                             "--episodes", "3", "--eval-seed", "11", "--gamma", "0.5", "--no-compile", "--dropout", "0.2"])
    cfg = train.config_from_args(args)
    assert (cfg.batch_size, cfg.rbc_width, cfg.offsets, cfg.eval_episodes, cfg.eval_seed, cfg.gamma, cfg.compile,
            cfg.dropout) == (7, 9, False, 3, 11, 0.5, False, 0.2)
    table = train.env_config("pusht")
    assert dataclasses.replace(cfg, batch_size=table.batch_size, rbc_width=table.rbc_width, offsets=True, eval_episodes=100,
                               eval_seed=100000, gamma=2.0, compile=table.compile, dropout=table.dropout) == table
    run_flags = {"help", "env", "policy", "data", "collect", "workers", "seed", "device", "out", "resume"}
    fields = {f.name for f in dataclasses.fields(train.Config)}
    assert {a.dest for a in train.parser()._actions} - run_flags <= fields      # no flag is silently ignored


def test_every_training_window_is_used(monkeypatch):
    """One epoch visits every window exactly once, including each episode's last one."""
    import data, torch
    from bet import BeT
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    seen = []
    original = BeT.loss
    def spy(self, obs, actions):
        seen.append(obs[:, -1].clone())                               # the window's last (current) step
        return original(self, obs, actions)
    monkeypatch.setattr(BeT, "loss", spy)
    cfg = train.config_from_args(train.parse_args(["--env", "pointmass1", "--epochs", "1"]))
    train.train(train.build_model(cfg, "bet"), demos, cfg, seed=0, log=lambda *a: None)
    current = torch.cat(seen)
    assert len(current) == len(demos["obs"])
    got = sorted(map(tuple, current.numpy().round(6).tolist()))
    assert got == sorted(map(tuple, demos["obs"].round(6).tolist()))


# ---------------------------------------------------------------- bad input: one clear line, nothing overwritten

def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], lines[0]


def test_bad_input_gives_one_line_and_keeps_existing_files(tmp_path, run):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.pt").write_bytes(b"previous run")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    code, _, err = run("train.py", "--env", "pointmass1", "--data", corrupt, "--out", out)
    assert_one_line_error(code, err, "corrupt.npz", "not a readable .npz")
    code, _, err = run("train.py", "--env", "pointmass1", "--data", tmp_path / "missing.npz", "--out", out)
    assert_one_line_error(code, err, "missing.npz", "not found", "--collect")
    np.savez(tmp_path / "wrong.npz", obs=np.zeros((5, 3)), actions=np.zeros((5, 2)), episode_ends=np.array([5]))
    code, _, err = run("train.py", "--env", "pointmass1", "--data", tmp_path / "wrong.npz", "--out", out)
    assert_one_line_error(code, err, "wrong.npz", "'obs' has shape (5, 3)")
    assert (out / "model.pt").read_bytes() == b"previous run"
    code, _, err = run("train.py", "--env", "moon")
    assert_one_line_error(code, err, "unknown env 'moon'")


def test_evaluate_rejects_mismatched_env_and_bad_checkpoint(tmp_path, run):
    train.main(["--env", "cartpole", "--epochs", "1", "--episodes", "0", "--out", str(tmp_path)])
    code, _, err = run("evaluate.py", tmp_path / "model.pt", "--env", "pointmass1", "--episodes", 2)
    assert_one_line_error(code, err, "4-D observations", "2-D")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    code, _, err = run("evaluate.py", tmp_path / "bad.pt")
    assert_one_line_error(code, err, "bad.pt", "not a readable checkpoint")


def test_help_works(run):
    for script in ("train.py", "evaluate.py", "tools.figures", "tools.ablations", "tools.dagger", "tools.bench"):
        code, out, _ = run(script, "--help")
        assert code == 0 and "usage:" in out


# ---------------------------------------------------------------- the README's targets (slow)

@pytest.mark.slow
def test_readme_targets(tmp_path, capsys):
    """The issue's targets at the default settings, training seed 0, evaluation seeds 100000+."""
    def trained(env, *flags):
        out = tmp_path / "-".join([env, *flags]).replace("--", "")
        t0 = time.time()
        with capsys.disabled():                      # the runs' progress lines reach the terminal as they come
            train.main(["--env", env, "--out", str(out), *flags])
        return json.loads((out / "eval.json").read_text()), time.time() - t0

    r, seconds = trained("pointmass1")
    assert r["success_rate"] >= 0.95 and all(0.3 <= f <= 0.7 for f in r["routes"].values()) and seconds <= 60
    r, _ = trained("pointmass1", "--policy", "mse")
    assert r["success_rate"] <= 0.5 or max(r["routes"].values()) >= 0.95          # MSE collapses
    r, seconds = trained("pointmass2")
    assert r["single_route"] >= 0.9 and seconds <= 60
    r1, _ = trained("pointmass2", "--context", "1")
    assert r1["single_route"] <= r["single_route"] - 0.3                          # history matters
    r, seconds = trained("cartpole")
    assert r["mean_return"] >= 495 and r["episodes"] == 100 and seconds <= 120
