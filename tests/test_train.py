"""train.py: training end to end on the point-mass and CartPole demos, its flags and Config, the compiled loss,
--ema, threads and devices, the data checks it makes, and the slow test that reproduces the README's targets."""

import contextlib
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import data
import evaluate
import train
from bet import BeT
from helpers import ROOT, cli, one_error_line
from plumbing import demofiles
from plumbing import runs
from tools import ablations

RESULT_KEYS = {"success_rate", "mean_return", "episodes", "seconds"}


# ---------------------------------------------------------------- end to end

@pytest.mark.needs_solutions
@pytest.mark.parametrize("env, extra_keys", [
    ("pointmass1", {"routes", "single_route"}),
    ("pointmass2", {"routes", "single_route"}),
    ("cartpole", {"min_return"}),
])
def test_train_then_evaluate_writes_model_log_results_and_plots(tmp_path, env, extra_keys, run):
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
    assert f"wrote {tmp_path / 'plots' / f'{env}-bet-loss.png'}" in out                 # every file it writes, a line
    if env.startswith("pointmass"):
        assert f"wrote {tmp_path / 'plots' / f'{env}-bet-rollouts.png'}" in out
        assert abs(sum(again["routes"].values()) - 1) < 1e-9 or again["success_rate"] < 1
        assert (tmp_path / "plots" / f"{env}-bet-rollouts.png").exists()
    assert time.time() - t0 < 60


@pytest.mark.needs_solutions
def test_mse_policy_and_ablation_flags_build_the_models_they_name(tmp_path):
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


@pytest.mark.needs_solutions
def test_every_training_window_is_used(monkeypatch):
    """One epoch visits every window exactly once, including each episode's last one."""
    import data, torch
    from bet import BeT
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    seen = []
    original = BeT.loss
    def spy(self, obs, actions, mask=None):
        seen.append(obs[:, -1].clone())                               # the window's last (current) step
        return original(self, obs, actions, mask)
    monkeypatch.setattr(BeT, "loss", spy)
    cfg = train.config_from_args(train.parse_args(["--env", "pointmass1", "--epochs", "1"]))
    train.train(train.build_model(cfg, "bet"), demos, cfg, seed=0, log=lambda *a: None)
    current = torch.cat(seen)
    assert len(current) == len(demos["obs"])
    got = sorted(map(tuple, current.numpy().round(6).tolist()))
    assert got == sorted(map(tuple, demos["obs"].round(6).tolist()))


@pytest.mark.needs_solutions
def test_ema_saves_the_moving_average_of_the_weights_after_every_step(monkeypatch):
    """--ema d: the trained model holds e_1 = w_1, e_t = d e_(t-1) + (1 - d) w_t over the weights after each step."""
    import dataclasses
    cfg = dataclasses.replace(train.env_config("pointmass1"), epochs=2, batch_size=16, ema=0.6, compile=False)
    rng = np.random.default_rng(0)
    demos = {"obs": rng.normal(size=(40, 2)).astype(np.float32), "actions": rng.normal(size=(40, 2)).astype(np.float32),
             "episode_ends": np.array([20, 40])}
    snapshots, step = [], train.train_step
    def recorded(model, *args):
        out = step(model, *args)
        snapshots.append([p.detach().clone() for p in model.parameters()])
        return out
    monkeypatch.setattr(train, "train_step", recorded)
    torch.manual_seed(0)
    model = train.build_model(cfg)
    train.train(model, demos, cfg, seed=0, log=lambda *a: None)
    average = snapshots[0]
    for weights in snapshots[1:]:
        average = [0.6 * e + 0.4 * w for e, w in zip(average, weights)]
    assert len(snapshots) == 6                                    # 40 windows / 16 = 3 steps an epoch
    assert all(torch.allclose(p, e, atol=1e-6) for p, e in zip(model.parameters(), average))
    assert not all(torch.allclose(p, w, atol=1e-6) for p, w in zip(model.parameters(), snapshots[-1]))


@pytest.mark.needs_solutions
def test_training_stops_at_the_first_non_finite_loss(tmp_path, monkeypatch):
    """A diverging run names the epoch and step, and writes nothing (an earlier model.pt stays)."""
    out = tmp_path / "run"
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    model = train.build_model(train.env_config("pointmass1")).fit_bins(demos["obs"], demos["actions"])
    runs.save_model(model, out / "model.pt", meta={"env": "pointmass1"})
    previous = (out / "model.pt").read_bytes()
    original, calls = BeT.loss, []
    def diverge(self, obs, actions, mask=None):
        loss, parts = original(self, obs, actions, mask)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 30 else loss), parts
    monkeypatch.setattr(BeT, "loss", diverge)
    with pytest.raises(ValueError, match="diverged: the loss is nan at epoch 2, step 30"):
        train.main(["--env", "pointmass1", "--epochs", "3", "--episodes", "0", "--out", str(out)])
    assert (out / "model.pt").read_bytes() == previous
    assert sorted(os.listdir(out)) == ["model.pt", "train_state.pt"]   # the last finished epoch, for --resume


# ---------------------------------------------------------------- flags, data checks, threads and devices

@pytest.mark.needs_solutions
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


def test_an_unknown_policy_is_one_error_line(capsys, tmp_path):
    one_error_line(*cli(train, "--env", "pointmass1", "--policy", "knn", "--out", tmp_path / "o"), "--policy", "knn")
    assert capsys.readouterr().out == "" and not (tmp_path / "o").exists()


def test_k_above_the_distinct_actions_is_one_error_line(tmp_path):
    import train
    from plumbing import runs
    actions = np.array([[0.0, 0.0], [1.0, 1.0]] * 10, np.float32)
    runs.save_demos(tmp_path / "two.npz", dict(obs=np.zeros((20, 2), np.float32) + np.arange(20)[:, None], actions=actions,
                                               episode_ends=np.array([10, 20]), seeds=np.array([0, 1])))
    with pytest.raises(ValueError, match="only 2 distinct actions to cluster; lower --k"):
        train.main(["--env", "pointmass2", "--data", str(tmp_path / "two.npz"), "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


@pytest.mark.needs_solutions
def test_training_uses_the_free_cores_by_default_and_ablation_runs_one_thread_each(tmp_path, monkeypatch):
    """0 threads = the cores other work leaves free: every core when idle, one fewer per busy core, never 0."""
    config = lambda *flags: train.config_from_args(train.parse_args(["--env", *flags]))
    assert config("pusht").threads == 0 and config("pointmass1").threads == 1      # 0 = the free cores
    monkeypatch.setattr(runs, "cores", lambda: 2)
    for busy, threads in ((0.0, 2), (0.6, 1), (1.0, 1), (2.0, 1)):
        monkeypatch.setattr(runs, "busy_cores", lambda: busy)
        assert runs.training_threads(0)[0] == threads and runs.training_threads(3) == (3, None)
    monkeypatch.setattr(runs, "busy_cores", lambda: 0.0)
    assert config("pusht", "--threads", "1").threads == 1
    seen_threads = []
    monkeypatch.setattr(torch, "set_num_threads", seen_threads.append)
    with pytest.raises(ValueError):       # stops at the data check, after the thread count is set
        train.main(["--env", "pusht", "--data", str(tmp_path / "none.npz"), "--out", str(tmp_path / "x")])
    assert seen_threads[:1] == [runs.cores()]
    seen = []
    monkeypatch.setattr(train, "main", lambda argv: seen.append(argv))
    monkeypatch.setattr(ablations, "_read", lambda path: {"success_rate": 1.0})
    args = ablations.parser().parse_args(["--env", "pointmass1", "--runs", str(tmp_path), "--workers", "2"])
    ablations.run("pointmass1", [], 0, args)
    assert seen and seen[0][seen[0].index("--threads") + 1] == "1"


@pytest.mark.needs_solutions
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the CUDA path is untested on real hardware")
def test_cuda_trains_evaluates_and_benches(tmp_path):
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "2", "--device", "cuda", "--out", str(tmp_path / "r")])
    code, err = cli(evaluate, tmp_path / "r" / "model.pt", "--episodes", 4, "--device", "cuda")
    assert code == 0, err
    from tools import bench
    with contextlib.redirect_stdout(io.StringIO()) as out:
        bench.main(["--env", "pointmass1", "--device", "cuda", "--steps", "2", "--repeats", "2", "--episodes", "2"])
    assert json.loads(out.getvalue())["device"] == "cuda"


# ---------------------------------------------------------------- the compiled loss

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


@pytest.mark.needs_solutions
def test_compiling_says_when_it_starts_and_ends(monkeypatch):
    """torch.compile's first call (about 30 s of silence on PushT) is announced, with its time; later calls are not."""
    import dataclasses
    import shutil
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)               # the lines, not the compiler, on trial
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    cfg = dataclasses.replace(train.env_config("pointmass1"), compile=True, batch_size=4)
    model = train.build_model(cfg).fit_bins(np.random.default_rng(0).normal(size=(50, 2)), np.random.default_rng(1).normal(size=(50, 2)))
    lines = []
    loss = train.loss_function(model, cfg, log=lines.append)
    for _ in range(3):
        loss(torch.zeros(4, model.context, 2), torch.zeros(4, model.context, 2))
    assert len(lines) == 2 and lines[0].startswith("compiling the loss") and "done in" in lines[1], lines


@pytest.mark.needs_solutions
def test_a_compile_that_fails_says_so_once_and_trains_eagerly(monkeypatch):
    """torch's code generator failed under ATEN_CPU_CAPABILITY=default on Block push (a C++ compile error in
    generated code): training must go on eagerly with one note, not end in a traceback."""
    import dataclasses
    import shutil
    def failing(fn, **kwargs):
        def compiled(*args):
            calls.append("compiled")
            raise torch._dynamo.exc.BackendCompilerFailed(fn, RuntimeError("C++ compile error"), None)
        return compiled
    calls, lines = [], []
    monkeypatch.setattr(torch, "compile", failing)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    cfg = dataclasses.replace(train.env_config("pointmass1"), compile=True, batch_size=4)
    model = train.build_model(cfg).fit_bins(np.random.default_rng(0).normal(size=(50, 2)), np.random.default_rng(1).normal(size=(50, 2)))
    loss = train.loss_function(model, cfg, log=lines.append)
    batch = torch.zeros(4, model.context, 2), torch.zeros(4, model.context, 2)
    results = [loss(*batch)[0] for _ in range(3)]
    assert calls == ["compiled"], "after one failure the compiled function is not tried again"
    assert all(torch.equal(r, model.loss(*batch)[0]) for r in results)
    assert sum(line.startswith("note: torch.compile failed") for line in lines) == 1, lines

# ---------------------------------------------------------------- the README's targets (slow)

@pytest.mark.needs_solutions
@pytest.mark.slow
def test_default_runs_reach_the_readme_targets(tmp_path, capsys):
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

