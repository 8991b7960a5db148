"""Bad input is refused before any work, results always belong to their model, training resumes exactly,
and ablations.py leaves no worker behind."""

import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import time
import traceback
import warnings

import numpy as np
import pytest
import torch

from tools import ablations
import data
import train
from bet import BeT
from plumbing import runs
from envs import pusht
from plumbing import demofiles

pytestmark = pytest.mark.needs_solutions   # end to end: the handout (coursework.py) cannot run these

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def command(script):
    """How `python` runs a script: a paper module by its file (train.py), a tool as a module (tools.ablations)."""
    return [os.path.join(ROOT, script)] if script.endswith(".py") else ["-m", script]


def run(script, *args):
    p = subprocess.run([sys.executable, *command(script), *map(str, args)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    return p.returncode, p.stdout, p.stderr


QUIET = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)   # Python hides these by default


def run_here(script, *args, capfd, monkeypatch):
    """`python script args` run in this process (no torch import to wait for): the script's own
    `if __name__ == "__main__"` block (runpy), with sys.argv set and cwd=ROOT as `run` has it; (exit code, stdout,
    stderr). A warning that `python` would print (its default filters) is appended to stderr as it would appear
    there, and an escaping exception as its traceback with exit code 1. The SIGTERM handler runs.cli installs,
    torch's thread count and its RNG state are put back afterwards."""
    path = os.path.join(ROOT, script) if script.endswith(".py") else os.path.join(ROOT, *script.split(".")) + ".py"
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", [path, *map(str, args)])
    sigterm, threads, rng = signal.getsignal(signal.SIGTERM), torch.get_num_threads(), torch.get_rng_state()
    capfd.readouterr()
    code, extra = 0, ""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
                extra = "" if e.code is None or isinstance(e.code, int) else f"{e.code}\n"
            except Exception:
                code, extra = 1, traceback.format_exc()
    finally:
        if sigterm is not None:                  # None: a handler not set from Python, left as it is
            signal.signal(signal.SIGTERM, sigterm)
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)
    out, err = capfd.readouterr()
    shown = [w for w in caught if not issubclass(w.category, QUIET)
             or (issubclass(w.category, DeprecationWarning) and w.filename == path)]     # default::DeprecationWarning:__main__
    err += extra + "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in shown)
    return code, out, err


class InProcessPool:
    """What ablations.train_all asks of multiprocessing's spawn Pool (a context manager with imap_unordered), run
    in this process: no worker to spawn, which costs a torch import each. For the tests of which runs are reused
    or retrained; test_ablations' smoke and workers tests and the signal tests below keep the real pool."""

    def __init__(self, processes):
        self.processes = processes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, func, tasks):
        return map(func, tasks)


@pytest.fixture
def pool_in_process(monkeypatch):
    """ablations.py's runs trained in this process (see InProcessPool); torch's thread count put back afterwards."""
    import types
    monkeypatch.setattr(ablations, "multiprocessing", types.SimpleNamespace(
        get_context=lambda method: types.SimpleNamespace(Pool=InProcessPool)))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def snapshot(folder):
    """Every file below `folder`, with its bytes."""
    return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(folder) for f in files}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """An earlier, finished run (model, log, eval) and a few bad files next to it."""
    root = tmp_path_factory.mktemp("reliability")
    run_dir = root / "run"
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "2", "--out", str(run_dir)])
    (root / "a_file").write_text("not a folder")
    (root / "notes.txt").write_text("not JSON")
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    np.savez(root / "complex.npz", obs=demos["obs"].astype(np.complex64), actions=demos["actions"],
             episode_ends=demos["episode_ends"])
    np.savez(root / "huge.npz", obs=demos["obs"].astype(np.float64) * 1e39, actions=demos["actions"],
             episode_ends=demos["episode_ends"])
    model = runs.load_model(run_dir / "model.pt")
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    ckpt["config"]["k"] = 2_000_000                        # a 2-million-bin config on 2-bin weights
    torch.save(ckpt, root / "forged.pt")
    torch.save({"config": "k=2", "state_dict": {}}, root / "edited.pt")
    assert model.k == 2
    np.save(root / "one_array.npy", demos["obs"])
    np.savez(root / "empty.npz", obs=np.zeros((0, 2), np.float32), actions=np.zeros((0, 2), np.float32),
             episode_ends=np.zeros(0, np.int64))
    (root / "forged_state").mkdir()
    torch.save({"command": "x"}, root / "forged_state" / "train_state.pt")
    nan = torch.load(run_dir / "model.pt", weights_only=True)
    nan["state_dict"]["centers"][0, 0] = float("nan")
    torch.save(nan, root / "nan.pt")
    (root / "hot").mkdir()
    hot = torch.load(run_dir / "model.pt", weights_only=True)
    hot["meta"]["temperature"] = "hot"
    torch.save(hot, root / "hot" / "model.pt")
    (root / "badlog").mkdir()
    shutil.copy(run_dir / "model.pt", root / "badlog" / "model.pt")
    (root / "badlog" / "train_log.json").write_text('{"x": 1}')
    other = torch.load(run_dir / "model.pt", weights_only=True)    # a run of another env in a runs folder
    other["meta"]["env"] = "pointmass2"
    (root / "other_runs" / "BeT-seed0").mkdir(parents=True)
    torch.save(other, root / "other_runs" / "BeT-seed0" / "model.pt")
    (root / "other_table").mkdir()
    (root / "other_table" / "ablations.json").write_text('{"env": "cartpole"}')
    (root / "notes.png").write_text("not a PNG")
    (root / "text.gif").write_text("not a GIF")
    std0 = torch.load(run_dir / "model.pt", weights_only=True)
    std0["state_dict"]["obs_std"][0] = 0.0
    torch.save(std0, root / "std0.pt")
    (root / "textplot").mkdir()
    (root / "textplot" / "pointmass1-bet-rollouts.png").write_text("not a PNG")
    (root / "notes.npz").write_text("not a dataset")
    (root / "broken_state").mkdir()                      # the right command, but no optimizer state
    torch.save({"command": {"env": "pointmass1"}, "model": {}}, root / "broken_state" / "train_state.pt")
    (root / "textfig").mkdir()
    (root / "textfig" / "bins.png").write_text("not a PNG")
    (root / "handout.partial").mkdir()                   # someone's folder that happens to carry the temp name
    (root / "handout.partial" / "mine.txt").write_text("keep me")
    (root / "dg").mkdir()                                # a DAgger folder holding CartPole's demonstrations
    np.savez(root / "dg" / "demos.npz", obs=np.zeros((3, 4), np.float32), actions=np.zeros((3, 1), np.float32),
             episode_ends=np.array([3]))
    (root / "log_only").mkdir()                          # an evaluated run of another env whose model.pt is gone
    (root / "log_only" / "train_log.json").write_text('{"meta": {"env": "cartpole"}, "history": []}')
    return root


R = "{run}"    # the earlier run's folder, which every bad command must leave byte-identical
TRAIN = ["train.py", "--env", "pointmass1", "--out", R]
CASES = [
    (TRAIN + ["--k", "0"], "--k must be at least 1"),
    (TRAIN + ["--context", "0"], "--context must be at least 1"),
    (TRAIN + ["--epochs", "0"], "--epochs must be at least 1"),
    (TRAIN + ["--epochs", "-1"], "--epochs must be at least 1"),
    (TRAIN + ["--batch-size", "0"], "--batch-size must be at least 1"),
    (TRAIN + ["--batch-size", "-1"], "--batch-size must be at least 1"),
    (TRAIN + ["--workers", "0", "--collect", "5"], "--workers must be at least 1"),
    (TRAIN + ["--collect", "-5"], "--collect must be at least 1"),
    (TRAIN + ["--lr", "inf"], "--lr must be a positive finite number"),
    (TRAIN + ["--lr", "nan"], "--lr must be a positive finite number"),
    (TRAIN + ["--lr", "0"], "--lr must be a positive finite number"),
    (TRAIN + ["--alpha", "-1"], "--alpha must be a finite number >= 0"),
    (TRAIN + ["--alpha", "nan"], "--alpha must be a finite number >= 0"),
    (TRAIN + ["--temperature", "-1"], "--temperature must be a finite number >= 0"),
    (TRAIN + ["--temperature", "nan"], "--temperature must be a finite number >= 0"),
    (TRAIN + ["--dropout", "1"], "--dropout must be in [0, 1)"),
    (TRAIN + ["--dropout", "nan"], "--dropout must be in [0, 1)"),
    (TRAIN + ["--ema", "1"], "--ema must be in [0, 1)"),
    (TRAIN + ["--ema", "nan"], "--ema must be in [0, 1)"),
    (["tools.bench", "--env", "pointmass1", "--batch-size", "0"], "--batch-size must be at least 1"),
    (TRAIN + ["--seed", "-1"], "--seed must be at least 0"),
    (TRAIN + ["--eval-seed", "-1"], "--eval-seed must be at least 0"),
    (TRAIN + ["--episodes", "-1"], "--episodes must be at least 0"),
    (TRAIN + ["--device", "cuda"], "CUDA is not available"),
    (TRAIN + ["--device", "toaster"], "--device toaster"),
    (TRAIN + ["--resume"], "nothing to resume"),
    (TRAIN + ["--data", "{root}/complex.npz"], "dtype complex64"),
    (TRAIN + ["--data", "{root}/huge.npz"], "NaN or inf (after the cast to float32)"),
    (["train.py", "--env", "pointmass1", "--out", "{root}/a_file"], "exists and is not a directory"),
    (["evaluate.py", R + "/model.pt", "--episodes", "0"], "--episodes must be at least 1"),
    (["evaluate.py", R + "/model.pt", "--seed", "-1"], "--seed must be at least 0"),
    (["evaluate.py", R + "/model.pt", "--temperature", "nan"], "--temperature must be a finite number"),
    (["evaluate.py", R + "/model.pt", "--json", R + "/model.pt"], "would overwrite"),
    (["evaluate.py", R + "/model.pt", "--json", "{root}/notes.txt"], "must end in .json"),
    (["evaluate.py", R + "/model.pt", "--json", R], "is a directory"),
    (["evaluate.py", R + "/model.pt", "--video", "{root}/out.txt"], "must end in .gif or .mp4"),
    (["evaluate.py", R + "/model.pt", "--plot", "{root}/a_file"], "exists and is not a directory"),
    (["evaluate.py", "{root}/forged.pt"], "its config implies (2000000, 2)"),
    (["evaluate.py", "{root}/edited.pt"], "not a BeT checkpoint"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--seeds", "0"], "--seeds must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--episodes", "0"], "--episodes must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--epochs", "0"], "--epochs must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--workers", "0"], "--workers must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--eval-seed", "-1"], "--eval-seed must be at least 0"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--k-sweep", "a,b"], "--k-sweep must be"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--k-sweep", "0"], "--k-sweep values must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--out", "{root}/a_file"], "exists and is not a directory"),
    (["tools.dagger", "--env", "cartpole", "--rounds", "0", "--out", R], "--rounds must be at least 1"),
    (["tools.dagger", "--env", "cartpole", "--horizon", "0", "--out", R], "--horizon must be at least 1"),
    (["tools.dagger", "--env", "cartpole", "--labels0", "0", "--out", R], "--labels0 must be at least 1"),
    (["tools.dagger", "--env", "cartpole", "--episodes", "0", "--out", R], "--episodes must be at least 1"),
    (["tools.dagger", "--env", "cartpole", "--steps", "0", "--out", R], "--steps must be at least 1"),
    (["tools.dagger", "--env", "cartpole", "--round-steps", "0", "--out", R], "--round-steps must be at least 1"),
    (["tools.dagger", "--env", "cartpole", "--demonstrations", "human", "--out", R], "invalid choice: 'human'"),
    (["tools.dagger", "--env", "cartpole", "--eval-episodes", "0", "--out", R], "--eval-episodes must be at least 1"),
    (["tools.dagger", "--env", "cartpole", "--seeds", "0", "--out", R], "--seeds must be at least 1"),
    (["tools.dagger", "--env", "cartpole", "--workers", "0", "--out", R], "--workers must be at least 1"),
    (["tools.dagger", "--env", "cartpole", "--eval-seed", "-1", "--out", R], "--eval-seed must be at least 0"),
    (["tools.dagger", "--env", "cartpole", "--out", "{root}/a_file"], "exists and is not a directory"),
    (["tools.dagger", "--env", "cartpole", "--out", R, "--json", "{root}/x.txt"], "must end in .json"),
    (["tools.dagger", "--env", "cartpole", "--out", R, "--plot", "{run}"], "is a directory"),
    (["tools.figures", "--episodes", "0", "--out", R], "--episodes must be at least 1"),
    (["tools.coursework", "handout", R], "already exists"),
    (["tools.coursework", "grade", "{root}/no_such_copy"], "not a folder holding the exercise files"),
    (["tools.coursework", "grade", "--json", "{root}/results.txt"], "must be a file ending in .json"),
    # found by an audit of every script (2026-11-22): tracebacks, late checks, and other runs' files replaced
    (TRAIN + ["--epochs", "abc"], "argument --epochs: invalid int value"),
    (["tools.coursework", "frob"], "invalid choice: 'frob'"),
    (["train.py", "--env", "pointmass1", "--out", ""], "--out must not be empty"),
    (TRAIN + ["--seed", str(2 ** 63)], "--seed must be at most"),
    (TRAIN + ["--threads", "100000"], "this machine has"),
    (TRAIN + ["--policy", "mse", "--rbc-width", "100000000"], "over a billion weights"),
    (TRAIN + ["--n-layer", "10000000"], "--n-layer 10000000: over a billion weights"),
    (TRAIN + ["--n-layer", "0"], "--n-layer"),
    (["tools.dagger", "--env", "cartpole", "--out", R, "--workers", "100000"], "--workers 100000: at most"),
    (TRAIN + ["--k", "1000000"], "holds only"),
    (TRAIN + ["--context", "100000"], "longer than the longest episode"),
    (TRAIN + ["--data", "{root}/one_array.npy"], "not an .npz file"),
    (TRAIN + ["--data", "{root}/empty.npz"], "holds no steps"),
    (TRAIN + ["--collect", "2", "--workers", "1", "--data", R + "/model.pt"], "must end in .npz"),
    (["train.py", "--env", "pointmass1", "--out", "{root}/forged_state", "--resume"], "not a training state"),
    (["train.py", "--env", "pointmass1", "--out", "{root}/other_runs/BeT-seed0"], "holds a pointmass2 run"),
    (["evaluate.py", "{root}/nan.pt"], "contains NaN or inf"),
    (["evaluate.py", "{root}/hot/model.pt"], "recorded temperature 'hot'"),
    (["evaluate.py", "{root}/badlog/model.pt", "--plot", "{root}/plots"], "not a training log"),
    (["evaluate.py", R + "/model.pt", "--json", R + "/train_log.json"], "holds something other than an evaluation"),
    (["evaluate.py", "{root}/badlog/model.pt", "--json", R + "/eval.json"], "holds something other than an evaluation"),
    (["evaluate.py", R + "/model.pt", "--json", "{root}/same.gif", "--video", "{root}/same.gif"], "must end in .json"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--variants", ""], "--variants must not be empty"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--k-sweep", "1000000"], "more bins than"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/other_runs"], "holds a pointmass2 run"),
    (["tools.ablations", "--env", "pointmass1", "--runs", R, "--out", "{root}/other_table"], "ablation table of cartpole"),
    (["tools.dagger", "--env", "cartpole", "--out", R, "--json", R + "/eval.json"], "other than a DAgger result"),
    (["tools.dagger", "--env", "cartpole", "--out", R, "--plot", "{root}/notes.png"], "not a PNG image"),
    (["tools.dagger", "--env", "cartpole", "--out", R, "--eval-seed", "99999999999"], "--eval-seed must be at most"),
    (["tools.dagger", "--env", "pusht", "--out", R, "--labels0", "20"], "needs at least k=96 labels"),
    (["tools.dagger", "--env", "pusht", "--out", R, "--labels0", "40000"], "data/pusht.npz holds 47791 transitions"),
    (["tools.coursework", "handout", ""], "must not be empty"),
    (["evaluate.py", ""], "must not be empty"),
    (["evaluate.py", R + "/model.pt", "--json", ""], "--json must not be empty"),
    (["evaluate.py", "{root}/std0.pt"], "'obs_std' must be positive"),
    (["evaluate.py", R + "/model.pt", "--plot", "{root}/textplot"], "not a PNG image"),
    (TRAIN + ["--collect", "2", "--workers", "1", "--data", "{root}/notes.npz"], "other than pointmass1 demonstrations"),
    (["train.py", "--env", "pointmass1", "--out", "{root}/broken_state", "--resume"], "not a training state"),
    (["tools.coursework", "handout", "{root}/handout"], "interrupted handout"),
    (["tools.figures", "--bins-only", "--out", "{root}/textfig"], "not a PNG image"),
    (["tools.dagger", "--env", "pusht", "--out", "{root}/dg"], "not pusht demonstrations"),
    (["evaluate.py", R + "/model.pt", "--video", "{root}/text.gif"], "not a GIF or MP4"),
    (["train.py", "--env", "pointmass1", "--out", "{root}/log_only"], "holds a cartpole run"),
    (["tools.coursework", "grade", "--json", R + "/eval.json"], "not a grading result"),
    (["evaluate.py", R + "/model.pt", "--video-pick", "worst"], "invalid choice: 'worst'"),
    (["tools.coursework", "autograder", "{root}/bundle.tar"], "must end in .zip"),
    (["tools.coursework", "autograder", "tests/bundle.zip"], "inside the repository"),
    (["tools.coursework", "autograder", R + "/eval.json"], "must end in .zip"),
]


# One case per script also runs as a real `python script.py ...` process (the rest run its __main__ block in-process).
IN_A_SUBPROCESS = [(TRAIN + ["--epochs", "abc"], "argument --epochs: invalid int value"),
                   (["evaluate.py", "{root}/forged.pt"], "its config implies (2000000, 2)"),
                   (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/other_runs"], "holds a pointmass2 run"),
                   (["tools.dagger", "--env", "cartpole", "--out", R, "--workers", "100000"], "--workers 100000: at most"),
                   (["tools.figures", "--episodes", "0", "--out", R], "--episodes must be at least 1"),
                   (["tools.bench", "--env", "pointmass1", "--batch-size", "0"], "--batch-size must be at least 1"),
                   (["tools.coursework", "frob"], "invalid choice: 'frob'")]
assert all(case in CASES for case in IN_A_SUBPROCESS)


def check_bad_input(workspace, argv, message, runner):
    before = snapshot(workspace)
    script, *args = [a.replace("{run}", str(workspace / "run")).replace("{root}", str(workspace)) for a in argv]
    code, _, err = runner(script, *args)
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert snapshot(workspace) == before                           # nothing written, nothing overwritten


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(workspace, argv, message, capfd, monkeypatch):
    check_bad_input(workspace, argv, message, lambda *a: run_here(*a, capfd=capfd, monkeypatch=monkeypatch))


@pytest.mark.parametrize("argv, message", IN_A_SUBPROCESS, ids=[c[0][0] for c in IN_A_SUBPROCESS])
def test_bad_input_is_one_line_and_writes_nothing_in_a_subprocess(workspace, argv, message):
    check_bad_input(workspace, argv, message, run)


def test_outliers_warn_in_one_line_naming_file_and_dimension(tmp_path, capsys):
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    obs = demos["obs"].copy()
    obs[7, 1] = 1e30                                               # one sample, dimension 1
    np.savez(tmp_path / "outlier.npz", obs=obs, actions=demos["actions"], episode_ends=demos["episode_ends"])
    demofiles.load_demos(str(tmp_path / "outlier.npz"), 2, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outlier.npz" in err[0] and "'obs' dimension 1" in err[0], err
    demofiles.load_demos(data.default_path("pointmass1"), 2, 2)        # the shipped data is clean
    assert capsys.readouterr().err == ""


def test_training_stops_at_the_first_non_finite_loss(tmp_path, monkeypatch):
    """A diverging run names the epoch and step, and writes nothing (an earlier model.pt stays)."""
    out = tmp_path / "run"
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    model = train.build_model(train.env_config("pointmass1")).fit_bins(demos["obs"], demos["actions"])
    runs.save_model(model, out / "model.pt", meta={"env": "pointmass1"})
    previous = (out / "model.pt").read_bytes()
    original, calls = BeT.loss, []
    def diverge(self, obs, actions):
        loss, parts = original(self, obs, actions)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 30 else loss), parts
    monkeypatch.setattr(BeT, "loss", diverge)
    with pytest.raises(ValueError, match="diverged: the loss is nan at epoch 2, step 30"):
        train.main(["--env", "pointmass1", "--epochs", "3", "--episodes", "0", "--out", str(out)])
    assert (out / "model.pt").read_bytes() == previous
    assert sorted(os.listdir(out)) == ["model.pt", "train_state.pt"]   # the last finished epoch, for --resume


@pytest.mark.parametrize("averaging", [[], ["--ema", "0.99"]])
def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, monkeypatch, averaging):
    """Interrupt a short run (CartPole: dropout, so the torch RNG matters) in epoch 3, resume, compare weights
    (with --ema, the saved weights are the moving average, which must resume too)."""
    flags = ["--env", "cartpole", "--epochs", "4", "--episodes", "0", *averaging]
    train.main(flags + ["--out", str(tmp_path / "whole")])
    original, calls = BeT.loss, []
    def interrupt(self, obs, actions):
        calls.append(1)
        if len(calls) == 2 * 235 + 10:                            # 15,000 windows / 64 = 235 steps an epoch
            raise KeyboardInterrupt
        return original(self, obs, actions)
    monkeypatch.setattr(BeT, "loss", interrupt)
    with pytest.raises(SystemExit) as stop:
        train.main(flags + ["--out", str(tmp_path / "cut")])
    assert stop.value.code == 130 and not (tmp_path / "cut" / "model.pt").exists()
    monkeypatch.setattr(BeT, "loss", original)
    with pytest.raises(ValueError, match="another command"):      # a resume must continue the same run
        train.main(flags[:3] + ["5", "--episodes", "0", "--out", str(tmp_path / "cut"), "--resume"])
    train.main(flags + ["--out", str(tmp_path / "cut"), "--resume"])
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    cut = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    log = json.loads((tmp_path / "cut" / "train_log.json").read_text())
    assert [h["epoch"] for h in log["history"]] == [1, 2, 3, 4] and not (tmp_path / "cut" / "train_state.pt").exists()


def test_results_belong_to_their_model(tmp_path):
    """eval.json names its checkpoint's hash and lists every episode; retraining removes a stale one."""
    out = tmp_path / "run"
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "3", "--out", str(out)])
    results = json.loads((out / "eval.json").read_text())
    assert results["checkpoint"]["sha256"] == runs.file_hash(out / "model.pt")
    assert [e["seed"] for e in results["per_episode"]] == [100000, 100001, 100002]
    assert np.mean([e["success"] for e in results["per_episode"]]) == results["success_rate"]
    assert runs.load_model(out / "model.pt").meta["data_sha256"] == runs.file_hash(data.default_path("pointmass1"))
    train.main(["--env", "pointmass1", "--epochs", "2", "--episodes", "0", "--out", str(out)])
    assert not (out / "eval.json").exists()                       # no earlier model's results beside the new one


def test_an_episode_does_not_depend_on_how_many_run_beside_it():
    """Episode i's draws come from its own generator (seed + i): the first 3 of 8 episodes equal a 3-episode run,
    step for step (with one generator shared by the batch, the draws would shift with the batch)."""
    import evaluate
    demos = demofiles.load_demos(data.default_path("pointmass2"), 2, 2)
    torch.manual_seed(0)
    model = train.build_model(train.env_config("pointmass2")).fit_bins(demos["obs"], demos["actions"]).eval()  # untrained: random routes
    policy = lambda n: evaluate.bet_policy(model, 1.0, seed=40)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)           # as evaluation runs: several threads split a matmul by its batch size
    try:
        eight = evaluate.rollout(policy(8), "pointmass2", 8, 40, model.context)
        for n in (3, 1):                # 3 episodes, and 1: a batch of < 4 rows, which another kernel rounds differently
            fewer = evaluate.rollout(policy(n), "pointmass2", n, 40, model.context)
            for a, b in zip(eight, fewer):
                assert np.array_equal(a["obs"], b["obs"]) and np.array_equal(a["actions"], b["actions"])
    finally:
        torch.set_num_threads(threads)
    assert len({len(t["actions"]) for t in eight}) > 1          # the episodes differ, so a shift would show


def test_one_run_at_a_time_in_a_folder(tmp_path):
    """A folder held by a live run is refused before any work; a lock left by a dead process is taken over."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(str(os.getpid()))                     # this (live) process holds it
    with pytest.raises(ValueError, match="in use by another run"):
        train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "0", "--out", str(out)])
    assert sorted(os.listdir(out)) == [".lock"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / ".lock").write_text(dead.stdout.strip())                  # a process that has exited
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "0", "--out", str(out)])
    assert sorted(os.listdir(out)) == ["model.pt", "train_log.json"]


def test_ablations_retrain_a_run_whose_checkpoint_changed(tmp_path, pool_in_process):
    base = ["--env", "pointmass1", "--seeds", "1", "--epochs", "1", "--episodes", "2", "--variants", "BeT",
            "--k-sweep", "none", "--out", str(tmp_path / "docs"), "--runs", str(tmp_path / "runs")]
    ablations.main(base)
    model = tmp_path / "runs" / "bet-seed0" / "model.pt"
    runs.save_model(runs.load_model(model), model, meta={"env": "pointmass1", "edited": True})     # another checkpoint, same place
    edited = model.stat().st_mtime_ns
    ablations.main(base)
    assert model.stat().st_mtime_ns != edited and "edited" not in runs.load_model(model).meta      # retrained


def test_ablations_start_over_when_a_saved_state_belongs_to_another_command(tmp_path, pool_in_process):
    """A leftover train_state.pt from another command cannot be resumed: the run is trained from scratch."""
    base = ["--env", "pointmass1", "--seeds", "1", "--epochs", "1", "--episodes", "2", "--variants", "BeT",
            "--k-sweep", "none", "--out", str(tmp_path / "docs"), "--runs", str(tmp_path / "runs")]
    run_dir = tmp_path / "runs" / "bet-seed0"
    run_dir.mkdir(parents=True)
    torch.save({"command": {"env": "pointmass2"}}, run_dir / "train_state.pt")
    ablations.main(base)
    assert (run_dir / "model.pt").exists() and not (run_dir / "train_state.pt").exists()
    assert json.loads((run_dir / "eval.json").read_text())["checkpoint"]["sha256"] == runs.file_hash(run_dir / "model.pt")


def test_evaluate_says_when_env_overrides_the_checkpoint(workspace, capfd, monkeypatch):
    code, _, err = run_here("evaluate.py", workspace / "run" / "model.pt", "--env", "pointmass2", "--episodes", 1,
                            capfd=capfd, monkeypatch=monkeypatch)
    assert code == 0 and "trained on pointmass1; evaluating it on pointmass2" in err


def processes():
    """(pid, parent pid, process group) of every live, non-zombie process, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                found.append((int(entry), int(fields[1]), int(fields[2])))
    return found


def children(pid):
    """PIDs of the live processes whose parent is `pid`."""
    return [child for child, parent, _ in processes() if parent == pid]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ablations_stop_their_workers_on_a_signal(tmp_path, sig):
    p = subprocess.Popen([sys.executable, "-m", "tools.ablations", "--env", "pointmass1", "--seeds", "4",
                          "--episodes", "2", "--workers", "2", "--variants", "BeT", "--k-sweep", "none",
                          "--out", str(tmp_path / "docs"), "--runs", str(tmp_path / "runs")],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # as from a terminal, even when
    deadline = time.time() + 60                                        # the suite runs in the background (SIGINT ignored)
    while len(children(p.pid)) < 2 and time.time() < deadline:    # the pool's workers (and a resource tracker)
        time.sleep(0.2)
    time.sleep(3)                                                  # let the workers start training
    workers = children(p.pid)
    assert len(workers) >= 2
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "run the same command again to resume" in err, err
    time.sleep(1)
    assert not [w for w in workers if os.path.exists(f"/proc/{w}") and "Z" not in open(f"/proc/{w}/stat").read().split(")")[1][:3]]
