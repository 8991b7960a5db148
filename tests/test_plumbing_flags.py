"""The scripts' command lines (plumbing/runs.py's flags and checks, runs.cli): bad input to any script is refused
before any work in one `error:` line and writes nothing, nothing hangs on a special file or an unbounded count,
Ctrl-C is one line, and every flag has help."""

import contextlib
import io
import json
import os
import time
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

import data
import evaluate
import train
from conftest import deadline
from helpers import ROOT, cli, forged, one_error_line, run_here, two_at_a_time
from plumbing import demofiles
from plumbing import runs
from tools import ablations
from tools import dagger

pytestmark = pytest.mark.needs_solutions   # end to end: the handout (coursework.py) cannot run these


def command(script):
    """How `python` runs a script: a paper module by its file (train.py), a tool as a module (tools.ablations)."""
    return [os.path.join(ROOT, script)] if script.endswith(".py") else ["-m", script]


def run_process(script, *args):
    p = subprocess.run([sys.executable, *command(script), *map(str, args)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    return p.returncode, p.stdout, p.stderr


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
    (root / "notes.json").write_text('{"mine": 1}')
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
    pointmass2 = demofiles.load_demos(data.default_path("pointmass2"), 2, 2)     # same widths as pointmass1's
    runs.save_demos(str(root / "pointmass2.npz"), pointmass2, env="pointmass2")
    runs.save_demos(str(root / "unrecorded.npz"), pointmass2)                    # records no env
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
    (TRAIN + ["--lr", "1e308"], "--lr must be at most 1.0"),
    (TRAIN + ["--alpha", "1e308"], "--alpha must be at most 1000.0"),
    (TRAIN + ["--gamma", "1e308"], "--gamma must be at most 100.0"),
    (TRAIN + ["--collect", "2", "--workers", "1", "--data", "{root}/pointmass2.npz"], "holds pointmass2 demonstrations"),
    (TRAIN + ["--collect", "2", "--workers", "1", "--data", "{root}/unrecorded.npz"], "replaced only at its default"),
    (TRAIN + ["--data", "{root}/pointmass2.npz"], "holds pointmass2 demonstrations (its 'env'), not pointmass1's"),
    (["tools.coursework", "grade", "--uid", "-5"], "--uid must be between 1000 and"),
    (["tools.coursework", "grade", "--uid", str(2 ** 63)], "--uid must be between 1000 and"),
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
    (["evaluate.py", "{root}/forged.pt"], "its config's k is 2000000, more than train.py's cap 4096"),
    (["evaluate.py", "{root}/never/model.pt"], "checkpoint not found; train.py writes one (python train.py --env ENV"),
    (["evaluate.py", "{root}/edited.pt"], "not a BeT checkpoint"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--seeds", "0"], "--seeds must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--episodes", "0"], "--episodes must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--epochs", "0"], "--epochs must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--workers", "0"], "--workers must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--eval-seed", "-1"], "--eval-seed must be at least 0"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--k-sweep", "a,b"], "--k-sweep must be"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--k-sweep", "0"], "--k-sweep values must be at least 1"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--out", "{root}/a_file"], "exists and is not a directory"),
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
    (["tools.dagger", "--env", "cartpole", "--out", "{root}/dg", "--json", "{root}/x.txt"], "must end in .json"),
    (["tools.dagger", "--env", "cartpole", "--out", "{root}/dg", "--plot", "{run}"], "is a directory"),
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
    (TRAIN + ["--policy", "mse", "--rbc-layers", "64", "--rbc-width", "8192"], "over a billion weights"),
    (TRAIN + ["--n-layer", "10000000"], "--n-layer must be at most 64 (got 10000000); the cap is MOST"),
    (TRAIN + ["--n-layer", "0"], "--n-layer"),
    (TRAIN + ["--context", "1024", "--batch-size", "65536"], "GB of memory, and"),      # each within its cap
    (["tools.dagger", "--env", "cartpole", "--out", R, "--workers", "100000"], "--workers 100000: at most"),
    (TRAIN + ["--k", "4096"], "holds only"),
    (TRAIN + ["--context", "1024"], "longer than the longest episode"),
    (TRAIN + ["--data", "{root}/one_array.npy"], "not an .npz file"),
    (TRAIN + ["--data", "{root}/empty.npz"], "holds no steps"),
    (TRAIN + ["--collect", "2", "--workers", "1", "--data", R + "/model.pt"], "must end in .npz"),
    (["train.py", "--env", "pointmass1", "--out", "{root}/forged_state", "--resume"], "not a training state"),
    (["train.py", "--env", "pointmass1", "--out", "{root}/other_runs/BeT-seed0"], "holds a pointmass2 run"),
    (["evaluate.py", "{root}/nan.pt"], "contains NaN or inf"),
    (["evaluate.py", "{root}/hot/model.pt"], "recorded temperature 'hot'"),
    (["evaluate.py", "{root}/badlog/model.pt", "--plot", "{root}/plots"], "not a training log"),
    (["evaluate.py", R + "/model.pt", "--json", R + "/train_log.json"], "holds something other than an evaluation"),
    (["evaluate.py", "{root}/badlog/model.pt", "--json", R + "/eval.json"], "holds a train.py run (model.pt)"),
    (["evaluate.py", R + "/model.pt", "--json", "{root}/same.gif", "--video", "{root}/same.gif"], "must end in .json"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--variants", ""], "--variants must not be empty"),
    (["tools.ablations", "--env", "pointmass1", "--out", "{root}/abl_out", "--runs", R], "holds a train.py run (model.pt)"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--k-sweep", "2,2"], "names a k twice"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--k-sweep", "3000"], "more bins than"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--k-sweep", "1000000"], "--k-sweep values must be at most 4096"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/other_runs"], "holds a pointmass2 run"),
    (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/abl_runs", "--out", "{root}/other_table"], "ablation table of cartpole"),
    (["tools.dagger", "--env", "cartpole", "--out", "{root}/dg", "--json", "{root}/notes.json"], "other than a DAgger result"),
    (["tools.dagger", "--env", "cartpole", "--out", "{root}/dg", "--json", R + "/eval.json"], "holds a train.py run"),
    (["tools.dagger", "--env", "cartpole", "--out", "{root}/dg", "--plot", "{root}/notes.png"], "not a PNG image"),
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
    (["evaluate.py", R + "/model.pt", "--video-pick", "failures"], "--video-pick chooses the episodes --video draws"),
    (["evaluate.py", R + "/model.pt", "--video-episodes", "2"], "--video-episodes chooses the episodes --video draws"),
    (["tools.coursework", "autograder", "{root}/bundle.tar"], "must end in .zip"),
    (["tools.coursework", "autograder", "tests/bundle.zip"], "inside the repository"),
    (["tools.coursework", "autograder", R + "/eval.json"], "must end in .zip"),
]


# One case per script also runs as a real `python script.py ...` process (the rest run its __main__ block in-process).
IN_A_SUBPROCESS = [(TRAIN + ["--epochs", "abc"], "argument --epochs: invalid int value"),
                   (["evaluate.py", "{root}/forged.pt"], "its config's k is 2000000, more than train.py's cap 4096"),
    (["evaluate.py", "{root}/never/model.pt"], "checkpoint not found; train.py writes one (python train.py --env ENV"),
                   (["tools.ablations", "--env", "pointmass1", "--runs", "{root}/other_runs"], "holds a pointmass2 run"),
                   (["tools.dagger", "--env", "cartpole", "--out", R, "--workers", "100000"], "--workers 100000: at most"),
                   (["tools.figures", "--episodes", "0", "--out", R], "--episodes must be at least 1"),
                   (["tools.bench", "--env", "pointmass1", "--batch-size", "0"], "--batch-size must be at least 1"),
                   (["tools.coursework", "frob"], "invalid choice: 'frob'")]
assert all(case in CASES for case in IN_A_SUBPROCESS)


def expand(workspace, argv):
    return [a.replace("{run}", str(workspace / "run")).replace("{root}", str(workspace)) for a in argv]


def check_one_line(code, err, message):
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err


def check_bad_input(workspace, argv, message, runner):
    before = snapshot(workspace)
    code, _, err = runner(*expand(workspace, argv))
    check_one_line(code, err, message)
    assert snapshot(workspace) == before                           # nothing written, nothing overwritten


# ---------------------------------------------------------------- bad input: one line, nothing written

@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(workspace, argv, message, capfd, monkeypatch):
    check_bad_input(workspace, argv, message, lambda *a: run_here(*a, capfd=capfd, monkeypatch=monkeypatch))


@pytest.fixture(scope="module")
def in_processes(workspace):
    """Every IN_A_SUBPROCESS case run as a real process, two at a time: ([(code, stdout, stderr)], the workspace's
    files before, and after)."""
    before = snapshot(workspace)
    results = two_at_a_time([lambda argv=argv: run_process(*expand(workspace, argv)) for argv, _ in IN_A_SUBPROCESS])
    return results, before, snapshot(workspace)


@pytest.mark.parametrize("case", range(len(IN_A_SUBPROCESS)), ids=[c[0][0] for c in IN_A_SUBPROCESS])
def test_bad_input_is_one_line_and_writes_nothing_in_a_subprocess(in_processes, case):
    results, before, after = in_processes
    code, _, err = results[case]
    check_one_line(code, err, IN_A_SUBPROCESS[case][1])
    assert after == before                                         # nothing written, nothing overwritten


def test_bad_input_gives_one_line_and_keeps_existing_files(tmp_path, run):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.pt").write_bytes(b"previous run")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    code, _, err = run("train.py", "--env", "pointmass1", "--data", corrupt, "--out", out)
    one_error_line(code, err, "corrupt.npz", "not a readable .npz")
    code, _, err = run("train.py", "--env", "pointmass1", "--data", tmp_path / "missing.npz", "--out", out)
    one_error_line(code, err, "missing.npz", "not found", "--collect")
    np.savez(tmp_path / "wrong.npz", obs=np.zeros((5, 3)), actions=np.zeros((5, 2)), episode_ends=np.array([5]))
    code, _, err = run("train.py", "--env", "pointmass1", "--data", tmp_path / "wrong.npz", "--out", out)
    one_error_line(code, err, "wrong.npz", "'obs' has shape (5, 3)")
    assert (out / "model.pt").read_bytes() == b"previous run"
    code, _, err = run("train.py", "--env", "moon")
    one_error_line(code, err, "unknown env 'moon'")


def test_evaluate_rejects_mismatched_env_and_bad_checkpoint(tmp_path, run):
    train.main(["--env", "cartpole", "--epochs", "1", "--episodes", "0", "--out", str(tmp_path)])
    code, _, err = run("evaluate.py", tmp_path / "model.pt", "--env", "pointmass1", "--episodes", 2)
    one_error_line(code, err, "4-D observations", "2-D")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    code, _, err = run("evaluate.py", tmp_path / "bad.pt")
    one_error_line(code, err, "bad.pt", "not a readable checkpoint")


def test_an_unknown_trunk_is_one_line_naming_the_four_trunks(tmp_path):
    """`python train.py --env pointmass1 --trunk rnn`, as a process run from an empty folder: one error line,
    exit code 2, nothing written; the line offers the Table 3 trunks (gpt, mlp, tcn, lstm)."""
    p = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--env", "pointmass1", "--trunk", "rnn"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    one_error_line(p.returncode, p.stderr, "argument --trunk: invalid choice: 'rnn'", "gpt", "mlp", "tcn", "lstm")
    assert not os.listdir(tmp_path)


def test_newlines_in_names_keep_the_error_on_one_line(run_dir, tmp_path):
    one_error_line(*cli(train, "--env", "point\nmass", "--out", tmp_path / "a"), "unknown env 'point\\nmass'")
    one_error_line(*cli(train, "--env", "pointmass1", "--data", tmp_path / "new\nline.npz", "--out", tmp_path / "a"),
                   "new\\nline.npz")
    other = tmp_path / "other"
    other.mkdir()
    forged(run_dir, other / "model.pt", lambda c: c["meta"].update(env="cart\npole"))
    one_error_line(*cli(train, "--env", "pointmass1", "--out", other), "holds a cart\\npole run")
    one_error_line(*cli(evaluate, other / "model.pt"), "unknown env 'cart\\npole'")


def test_device_flags_are_checked_before_any_work(run_dir):
    one_error_line(*cli(evaluate, run_dir / "model.pt", "--device", "toaster"), "--device toaster")
    from tools import bench
    one_error_line(*cli(bench, "--env", "pointmass1", "--device", "toaster"), "--device toaster")
    if not torch.cuda.is_available():
        one_error_line(*cli(evaluate, run_dir / "model.pt", "--device", "cuda"), "CUDA is not available")


def test_evaluate_says_when_env_overrides_the_checkpoint(workspace, capfd, monkeypatch):
    code, _, err = run_here("evaluate.py", workspace / "run" / "model.pt", "--env", "pointmass2", "--episodes", 1,
                            capfd=capfd, monkeypatch=monkeypatch)
    assert code == 0 and "trained on pointmass1; evaluating it on pointmass2" in err


# ---------------------------------------------------------------- no silent NaN

def test_a_subnormal_temperature_is_refused(run_dir, tmp_path):
    one_error_line(*cli(train, "--env", "pointmass1", "--temperature", "1e-310", "--out", tmp_path / "t"),
                   "--temperature 1e-310", "too small")
    one_error_line(*cli(evaluate, run_dir / "model.pt", "--temperature", "1e-310"), "--temperature 1e-310")
    hot = tmp_path / "tiny" / "model.pt"
    hot.parent.mkdir()
    forged(run_dir, hot, lambda c: c["meta"].update(temperature=1e-310))
    one_error_line(*cli(evaluate, hot, "--episodes", 1), "recorded temperature 1e-310")


def test_sampling_at_the_smallest_temperature_allowed_stays_finite(run_dir):
    model = runs.load_model(run_dir / "model.pt")
    actions = model.sample(torch.randn(8, model.context, 2) * 3, temperature=runs.MIN_TEMPERATURE)
    assert torch.isfinite(actions).all()


# ---------------------------------------------------------------- nothing hangs

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_wherever_a_file_is_read_or_replaced(run_dir, tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with deadline(60, "still running after 60 s: it hangs"):
        one_error_line(*cli(train, "--env", "pointmass1", "--data", fifo, "--out", tmp_path / "a"), "not a regular file")
        one_error_line(*cli(evaluate, fifo), "not a regular file")
        one_error_line(*cli(train, "--env", "pointmass1", "--collect", 2, "--workers", 1, "--data", fifo,
                            "--out", tmp_path / "b"), "not a regular file")
        (tmp_path / "dg").mkdir()
        os.mkfifo(tmp_path / "dg" / "demos.npz")
        one_error_line(*cli(dagger, "--env", "cartpole", "--out", tmp_path / "dg", "--json", tmp_path / "d.json",
                            "--plot", tmp_path / "d.png"), "not cartpole demonstrations")
        os.mkfifo(tmp_path / "results.json")
        one_error_line(*cli(evaluate, run_dir / "model.pt", "--json", tmp_path / "results.json"), "not a regular file")


def test_evaluation_episodes_are_bounded(run_dir, tmp_path):
    with deadline(60, "unbounded, it would build 2**31 envs"):
        one_error_line(*cli(evaluate, run_dir / "model.pt", "--episodes", 2147483647), "at most 10000 episodes")
        one_error_line(*cli(train, "--env", "pointmass1", "--episodes", 10 ** 6, "--out", tmp_path / "a"), "at most 10000")


# ---------------------------------------------------------------- Ctrl-C and --help

def test_ctrl_c_during_evaluation_is_one_line_and_exit_130(run_dir, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(evaluate, "rollout", interrupted)
    code, err = cli(evaluate, run_dir / "model.pt", "--episodes", 2, "--json", tmp_path / "e.json")
    assert code == 130 and len(err.strip().splitlines()) == 1 and "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "e.json").exists()
    code, err = cli(train, "--env", "pointmass1", "--epochs", "1", "--episodes", "2", "--out", tmp_path / "run")
    assert code == 130 and len(err.strip().splitlines()) == 1, err
    assert "model.pt is saved; evaluate it with: python evaluate.py" in err and (tmp_path / "run" / "model.pt").exists()


def test_every_flag_of_every_script_has_help():
    from tools import bench, figures
    for parser in (train.parser(), runs.evaluate_parser(), ablations.parser(), dagger.parser(), figures.parser()):
        bare = [a.option_strings for a in parser._actions if a.option_strings and not a.help]
        assert not bare, bare
    for module in (bench, figures):
        with contextlib.redirect_stdout(io.StringIO()) as out, pytest.raises(SystemExit):
            module.main(["--help"])
        assert "usage:" in out.getvalue()


def test_help_works(run):
    """Everything the README lists as a command: the two scripts and every `python -m tools.X` (tools.studies.X:
    tests/test_studies.py)."""
    for script in ("train.py", "evaluate.py", "tools.figures", "tools.ablations", "tools.dagger", "tools.bench",
                   "tools.coursework", "tools.datasets"):
        code, out, _ = run(script, "--help")
        assert code == 0 and "usage:" in out


def test_no_flag_is_taken_by_a_prefix(run):
    """`--epoch 3` is a typo, not `--epochs 3` (argparse's allow_abbrev): refused before any work, in every
    script, subcommands and studies included."""
    cases = [("train.py", "--env", "pusht", "--epoch", "3"), ("evaluate.py", "x.pt", "--episode", "2"),
             ("tools.ablations", "--env", "pusht", "--seed", "1"), ("tools.dagger", "--env", "track", "--round", "1"),
             ("tools.bench", "--env", "pusht", "--step", "1"), ("tools.figures", "--episode", "1"),
             ("tools.coursework", "grade", "--json-out", "x.json"), ("tools.datasets", "convert", "a", "b", "--forc")]
    for script, *args in cases:
        code, out, err = run(script, *args)
        assert code == 2 and "unrecognized arguments" in err and len(err.strip().splitlines()) == 1, (script, err)
    from tools import studies
    assert studies.parser("tools.studies.x", "doc").allow_abbrev is False


def all_flags():
    """(script, argparse action, the other arguments it needs) of every flag of the scripts with settings."""
    import train as train_script
    from tools import ablations as ablations_script, dagger as dagger_script, figures as figures_script
    parsers = {"train.py": (train_script.parser(), ["--env", "pointmass1"]),
               "evaluate.py": (runs.evaluate_parser(), ["--expert", "--env", "pusht"]),
               "tools.ablations": (ablations_script.parser(), ["--env", "pointmass1"]),
               "tools.dagger": (dagger_script.parser(), ["--env", "track"]),
               "tools.figures": (figures_script.parser(), [])}
    for script, (parser, needed) in parsers.items():
        for a in parser._actions:
            yield script, a, needed


def int_flags():
    """(script, flag, the other arguments it needs) of every integer flag that counts something (seeds and uids
    excluded: any value up to 2**31 - 1 is a seed)."""
    for script, a, needed in all_flags():
        if a.type is int and "seed" not in a.dest:
            yield script, a.option_strings[0], needed


@pytest.mark.parametrize("script, flag, needed", list(int_flags()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_count_flag_has_an_upper_bound_checked_before_any_work(run, tmp_path, script, flag, needed):
    """2**31 - 1 of any count (epochs, labels, horizon, rounds, ...) ends in one error line at once, instead of a
    run that collects or trains until killed."""
    t0 = time.time()
    out_flag = ["--out", tmp_path / "o"] if script in ("train.py", "tools.ablations", "tools.dagger") else []
    code, out, err = run(script, *needed, flag, 2 ** 31 - 1, *out_flag)
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, (flag, err)
    assert "at most" in err or "cores" in err, (flag, err)
    assert time.time() - t0 < 10 and not os.path.exists(tmp_path / "o" / "model.pt")


def float_flags():
    """(script, flag, the other arguments it needs) of every real-valued flag."""
    for script, flag, needed in all_flags():
        if flag.type is float:
            yield script, flag.option_strings[0], needed


@pytest.mark.parametrize("script, flag, needed", list(float_flags()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_real_valued_flag_has_an_upper_bound_checked_before_any_work(run, tmp_path, script, flag, needed):
    """1e308 of --lr, --alpha, --gamma passed the checks and ended, after the --out folder was made, in "training
    diverged"; of --temperature it sampled uniformly. One error line at once, nothing made."""
    out_flag = ["--out", tmp_path / "o"] if script in ("train.py", "tools.ablations", "tools.dagger") else []
    code, out, err = run(script, *needed, flag, "1e308", *out_flag)
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, (flag, err)
    assert "at most" in err or "[0, 1)" in err, (flag, err)
    assert not os.path.exists(tmp_path / "o")


def output_flags(tmp_path):
    """(script args before the output flag, the flag) of every output path of every script."""
    model = ["evaluate.py", "--expert", "--env", "pusht", "--episodes", "1"]
    return [(["train.py", "--env", "pointmass1"], "--out"), (model, "--json"), (model, "--plot"), (model, "--video"),
            (["tools.ablations", "--env", "pointmass1"], "--out"), (["tools.ablations", "--env", "pointmass1"], "--runs"),
            (["tools.dagger", "--env", "track"], "--out"), (["tools.dagger", "--env", "track"], "--json"),
            (["tools.dagger", "--env", "track"], "--plot"), (["tools.figures"], "--out"),
            (["tools.coursework", "grade"], "--json"), (["tools.coursework", "autograder"], "OUT.zip")]


@pytest.mark.parametrize("kind", ["long name", "symlink loop", "below a symlink loop", "broken symlink",
                                  "undecodable bytes"])
def test_every_output_that_cannot_be_created_is_one_line_before_any_work(run, tmp_path, kind):
    """A 300-byte name, a symbolic link loop (as the name or a folder above it), a broken link (the grader's
    outputs replaced it), and a name that is not UTF-8 (printed escaped), for every output flag: one `error:` line,
    exit 2, nothing written, instead of a traceback after the work."""
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    for suffix in ("", ".json", ".gif", ".zip"):
        os.symlink(tmp_path / "nowhere" / "x", tmp_path / f"broken{suffix}")
    made = sorted(os.listdir(tmp_path))
    for script_args, flag in output_flags(tmp_path):
        suffix = {"--json": ".json", "--video": ".gif", "OUT.zip": ".zip"}.get(flag, "")
        target = {"long name": str(tmp_path / ("x" * 300)) + suffix, "symlink loop": str(tmp_path / "loop"),
                  "below a symlink loop": str(tmp_path / "loop" / "sub") + suffix,
                  "broken symlink": str(tmp_path / "broken") + suffix,
                  "undecodable bytes": os.fsdecode(os.fsencode(str(tmp_path)) + b"/bad\xffname") + suffix}[kind]
        if kind == "symlink loop" and suffix:
            target = str(tmp_path / "loop" / "x") + suffix                           # a file inside the loop
        code, out, err = run(script_args[0], *script_args[1:], *([] if flag == "OUT.zip" else [flag]), target)
        assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, (flag, kind, err)
        assert sorted(os.listdir(tmp_path)) == made, (flag, kind, os.listdir(tmp_path))
        assert all(os.path.islink(tmp_path / name) for name in made), (flag, kind)


@pytest.mark.parametrize("command", [["train.py", "--env", "pointmass1"], ["evaluate.py", "x.pt"],
                                     ["-m", "tools.ablations", "--env", "pointmass1"]], ids=lambda c: c[0] + c[1])
def test_ctrl_c_while_the_imports_load_is_one_line_and_exit_130(tmp_path, command):
    """SIGINT 0.3 s after start, while torch still loads (about 2 s): exit 130 and one line, no traceback."""
    p = subprocess.Popen([sys.executable, *command, *(["--out", str(tmp_path / "o")] if "evaluate.py" not in command else [])],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "Traceback" not in err, (p.returncode, err)
    assert err.count("\n") <= 1 and not err.startswith("\n"), err      # one line: no blank one before it (not a tty)


def test_a_reader_that_goes_away_ends_the_script_quietly(run_dir):
    """`evaluate.py ... | head -1`: the closed pipe was a BrokenPipeError traceback; now exit 141 (as SIGPIPE), no
    line on stderr."""
    p = subprocess.Popen([sys.executable, "evaluate.py", str(run_dir / "model.pt"), "--episodes", "200"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.readline()
    p.stdout.close()                                      # as head does after its line
    err = p.stderr.read()
    assert p.wait(timeout=120) == 141 and err == "", err


def test_a_name_the_terminal_cannot_print_never_stops_a_run(run_dir, tmp_path):
    """With an ASCII stdout, a path holding é stopped the run after its outputs were written ('ascii' codec can't
    encode...); now it prints escaped and the run ends normally."""
    json_path = tmp_path / "résultat.json"
    done = subprocess.run([sys.executable, "evaluate.py", str(run_dir / "model.pt"), "--episodes", "1",
                           "--json", str(json_path)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONIOENCODING": "ascii"}, timeout=120)
    assert done.returncode == 0 and json_path.exists() and "r\\xe9sultat.json" in done.stdout, done.stderr


def test_an_account_s_uid_is_not_a_sandbox_uid():
    """grade --uid of an existing account (other than the sandbox's own bet-student ones) is refused: a submission
    run as it could touch that account's files."""
    import pwd
    taken = [e for e in pwd.getpwall() if 1000 <= e.pw_uid < 2 ** 31 - 2 and not e.pw_name.startswith("bet-student")]
    if not taken:
        pytest.skip("no account with a uid of 1000 or more here")
    from tools import coursework
    with pytest.raises(ValueError, match=f"is the account {taken[0].pw_name}'s"):
        coursework.main(["grade", "--uid", str(taken[0].pw_uid)])


def test_one_folder_holds_one_scripts_outputs(run_dir, tmp_path):
    """train.py, DAgger and the ablation tables never write into each other's folders, and evaluate's --json never
    lands beside another checkpoint (each was accepted: the folders then mixed two runs)."""
    from tools import ablations, dagger
    dagger_out = tmp_path / "dagger"
    dagger_out.mkdir()
    (dagger_out / "run.json").write_text("{}")
    one_error_line(*cli(train, "--env", "pointmass1", "--out", dagger_out), "holds a DAgger run (run.json)")
    one_error_line(*cli(ablations, "--env", "pointmass1", "--out", dagger_out, "--runs", tmp_path / "r"),
                   "holds a DAgger run")
    small = ["--env", "cartpole", "--seeds", "1", "--rounds", "1", "--labels0", "50"]
    one_error_line(*cli(dagger, *small, "--out", run_dir), "holds a train.py run (model.pt)")
    one_error_line(*cli(dagger, *small, "--out", tmp_path / "d2", "--json", tmp_path / "d2" / "run.json"),
                   "the run's own record")
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.pt").write_bytes((run_dir / "model.pt").read_bytes())
    one_error_line(*cli(evaluate, run_dir / "model.pt", "--episodes", "1", "--json", other / "eval.json"),
                   "holds a train.py run (model.pt)")
    # evaluate's figures and videos, DAgger's results and tools.figures stay out of other runs' folders too
    for flag, path, kind in (("--plot", dagger_out, "a DAgger run"), ("--video", dagger_out / "v.gif", "a DAgger run"),
                             ("--plot", other, "a train.py run")):
        one_error_line(*cli(evaluate, run_dir / "model.pt", "--episodes", "1", flag, path), f"holds {kind}")
    one_error_line(*cli(dagger, *small, "--out", tmp_path / "d3", "--json", other / "d.json"), "holds a train.py run")
    from tools import figures
    from tools.studies import pusht_3min_probe
    one_error_line(*cli(figures, "--bins-only", "--out", other), "holds a train.py run")
    one_error_line(*cli(ablations, "--env", "pointmass1", "--tune-rbc", "--out", other), "holds a train.py run")
    one_error_line(*cli(pusht_3min_probe, "--epochs", "1", "--out", other / "probe.json"), "holds a train.py run")
    from tools import coursework, datasets
    for module, argv in ((datasets, ["convert", tmp_path / "missing", other / "x.npz"]),
                         (datasets, ["export", tmp_path / "missing.npz", other / "x.zarr"]),
                         (coursework, ["autograder", other / "a.zip"])):          # the converters, the grader too
        code, err = cli(module, *argv) if module is coursework else datasets_cli(*argv)
        one_error_line(code, err, "holds a train.py run")
    for folder, kind in ((dagger_out, "a DAgger run"), (other, "a train.py run")):      # demos.npz is DAgger's cache
        one_error_line(*cli(train, "--env", "pointmass1", "--collect", "2", "--data", folder / "demos.npz"),
                       f"holds {kind}")
    assert sorted(os.listdir(dagger_out)) == ["run.json"] and sorted(os.listdir(other)) == ["model.pt"]
    assert not (tmp_path / "d2").exists() and not (tmp_path / "d3").exists() and not (tmp_path / "r").exists()


def datasets_cli(*argv):
    """python -m tools.datasets ARGV in this process: (exit code, stderr)."""
    from tools import datasets
    err, code = io.StringIO(), 0
    with contextlib.redirect_stderr(err):
        try:
            datasets.main([str(a) for a in argv])
        except SystemExit as stop:
            code = stop.code
    return code, err.getvalue()


def test_training_never_removes_the_results_of_another_checkpoint(run_dir, tmp_path):
    """evaluate A --json B/eval.json into an empty folder B, then train.py --out B: training removed B/eval.json, the
    only copy of A's results (finish_run removes an earlier model's). The training is refused before any work."""
    folder = tmp_path / "b"
    folder.mkdir()
    code, err = cli(evaluate, run_dir / "model.pt", "--episodes", "1", "--json", folder / "eval.json")
    assert code == 0 and (folder / "eval.json").exists(), err
    one_error_line(*cli(train, "--env", "pointmass1", "--epochs", "1", "--out", folder),
                   "its eval.json holds the results of")
    assert os.listdir(folder) == ["eval.json"]


def test_a_utf8_name_under_a_c_locale_is_accepted(run_dir, tmp_path):
    """Under LC_ALL=C without UTF-8 mode, Python decodes a path's bytes as ASCII with escapes: a valid UTF-8 name
    (c\\xc3\\xa9) was refused as 'not a UTF-8 name'. Its bytes decide now; the run ends normally."""
    done = subprocess.run([sys.executable, "evaluate.py", str(run_dir / "model.pt"), "--episodes", "1",
                           "--json", str(tmp_path / "cé.json")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"})
    assert done.returncode == 0 and (tmp_path / "cé.json").exists(), done.stderr


def test_train_refuses_a_folder_of_other_files(tmp_path):
    """--out / wrote model.pt into /; --out a folder of notes mixed a run into it. A folder holding files but none of
    a run's is refused before any work; an empty one, or a run's (an ablation's holds stdout.txt first), is not."""
    import train
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("mine")
    for out in ("/", str(tmp_path / "notes")):
        with pytest.raises(ValueError, match="but no run; train into a new or empty folder"):
            train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "0", "--out", out])
    assert os.listdir(tmp_path / "notes") == ["notes.txt"] and not os.path.exists("/model.pt")


def test_running_out_of_memory_is_one_line_and_other_errors_keep_their_traceback(capsys):
    """Sizes within every cap can still pass the machine's memory (a MemoryError traceback, or torch's allocator
    RuntimeError): one line, exit 2. Training sizes that cannot fit are refused before any work (the CASES above);
    an address-space limit (ulimit -v) counts as the memory available."""
    import resource
    def fails(error):
        def main():
            raise error
        return main
    for error in (MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:119] . DefaultCPUAllocator: can't "
                                              "allocate memory: you tried to allocate 1099511627776 bytes.")):
        with pytest.raises(SystemExit) as stop:
            runs.cli(fails(error))
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith("error: out of memory") and err.count("\n") == 1, err
    with pytest.raises(RuntimeError, match="a bug"):
        runs.cli(fails(RuntimeError("a bug")))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    assert runs.memory_available() > 10 ** 8
    try:
        with open("/proc/self/status") as f:
            used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (used + 10 ** 8, hard))
        assert 0 < runs.memory_available() <= 10 ** 8
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_an_output_the_system_will_not_let_us_replace_is_refused_before_any_work(run_dir, tmp_path, monkeypatch):
    """An existing --json, or a run folder's model.pt, marked immutable (chattr +i, which stops root too): the
    evaluation or the whole training ran, then the write failed. The system's answer (os.access, faked here as
    chattr needs root and a file system that has it) is asked first."""
    (tmp_path / "e.json").write_text(json.dumps({"success_rate": 0.5, "checkpoint": {"path": str(run_dir / "model.pt")}}))
    shutil.copytree(run_dir, tmp_path / "run")
    fixed = {str(tmp_path / "e.json"), str(tmp_path / "run" / "model.pt")}
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **k: False if os.path.abspath(path) in fixed and
                        mode & os.W_OK else real(path, mode, **k))
    one_error_line(*cli(evaluate, run_dir / "model.pt", "--episodes", "1", "--json", tmp_path / "e.json"),
                   "e.json: exists and cannot be replaced (read-only or immutable)")
    one_error_line(*cli(train, "--env", "pointmass1", "--epochs", "1", "--out", tmp_path / "run"),
                   "model.pt: exists and cannot be replaced")


@pytest.mark.needs_solutions
def test_a_paths_control_characters_reach_no_output_raw(tmp_path, capsys):
    """train.py printed its --data path raw ("... steps from d<ESC>[31m.npz"): the terminal took the ESC for the
    start of a sequence, and an undecodable byte showed as \\udcff. Every line a script prints is escaped now, and the
    outlier warning's path too."""
    import data
    from plumbing import demofiles
    name = tmp_path / "d\x1b[31m.npz"
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    obs = demos["obs"].copy()
    obs[3, 0] = 1e30                                               # an outlier: a warning naming the file
    np.savez(name, obs=obs, actions=demos["actions"], episode_ends=demos["episode_ends"])
    code, err = cli(train, "--env", "pointmass1", "--epochs", "1", "--episodes", "1", "--data", name,
                    "--out", tmp_path / "run")
    out = capsys.readouterr().out
    assert code in (0, None) and "steps from" in out and "d\\x1b[31m.npz" in out, (out, err)
    assert "\x1b" not in out and "\x1b" not in err, (out, err)
    assert "warning:" in err and "d\\x1b[31m.npz: 'obs' dimension 0" in err, err
