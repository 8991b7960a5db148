"""runs.py, the running path: results are never mixed or lost, bad values never give silent NaN, nothing hangs on
a special file, every failure is one `error:` line. One test per fault found by a held-out probe sweep."""

import contextlib
import errno
import io
import json
import os
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from tools import ablations
from tools import dagger
import data
import evaluate
from plumbing import runs
import train
from conftest import deadline
from plumbing import stats
from plumbing import demofiles

pytestmark = pytest.mark.needs_solutions   # end to end: the handout (coursework.py) cannot run these

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(module, *argv):
    """Run a script's main as its __main__ block does (runs.cli), in this process: (exit code, stderr)."""
    err, old, code = io.StringIO(), signal.getsignal(signal.SIGTERM), 0
    try:
        with contextlib.redirect_stderr(err):
            runs.cli(lambda: module.main([str(a) for a in argv]))
    except SystemExit as stop:
        code = stop.code
    finally:
        signal.signal(signal.SIGTERM, old)
    return code, err.getvalue()


def one_error_line(code, err, *fragments):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished pointmass1 run: model.pt, train_log.json, eval.json."""
    out = tmp_path_factory.mktemp("runs") / "run"
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "2", "--out", str(out)])
    return out


def forged(run_dir, path, edit):
    """A copy of the run's checkpoint with `edit(ckpt)` applied, saved at `path`."""
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    edit(ckpt)
    torch.save(ckpt, path)
    return path


# ---------------------------------------------------------------- results never mixed or lost

def test_results_are_not_written_beside_a_model_retrained_meanwhile(run_dir, tmp_path, monkeypatch):
    """evaluate --json writes under the folder's lock, and only if the checkpoint still has the evaluated bytes."""
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("model.pt", "train_log.json"):
        (folder / name).write_bytes((run_dir / name).read_bytes())
    real = evaluate.evaluate
    def retrain_meanwhile(model, *args, **kwargs):
        result = real(model, *args, **kwargs)
        train.main(["--env", "pointmass1", "--epochs", "1", "--seed", "5", "--episodes", "0", "--out", str(folder)])
        return result
    monkeypatch.setattr(evaluate, "evaluate", retrain_meanwhile)
    code, err = cli(evaluate, folder / "model.pt", "--episodes", 2, "--json", folder / "eval.json")
    one_error_line(code, err, "changed while it was evaluated", "not written")
    assert not (folder / "eval.json").exists()
    monkeypatch.setattr(evaluate, "evaluate", real)
    (folder / ".lock").write_text(str(os.getpid()))                 # a live training run holds the folder
    code, err = cli(evaluate, folder / "model.pt", "--episodes", 2, "--json", folder / "eval.json")
    one_error_line(code, err, "in use by another run")
    assert not (folder / "eval.json").exists()


def test_a_full_disk_at_save_keeps_the_earlier_model_and_its_results(run_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("model.pt", "train_log.json", "eval.json"):
        (out / name).write_bytes((run_dir / name).read_bytes())
    before = {name: (out / name).read_bytes() for name in ("model.pt", "eval.json")}
    real = torch.save
    def full_disk(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "config" in obj:                 # the checkpoint, not the training state
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, f, *args, **kwargs)
    monkeypatch.setattr(torch, "save", full_disk)
    code, err = cli(train, "--env", "pointmass1", "--epochs", "1", "--episodes", "2", "--out", out)
    one_error_line(code, err, "model.pt", "No space left on device")
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_temp_files_of_a_killed_save_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".train_state.pt.k1ll3d.tmp").write_bytes(b"half a state")       # SIGKILL during an atomic write
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "0", "--out", str(out)])
    assert sorted(os.listdir(out)) == ["model.pt", "train_log.json"]


# ---------------------------------------------------------------- no silent NaN

def test_a_subnormal_temperature_is_refused(run_dir, tmp_path):
    one_error_line(*cli(train, "--env", "pointmass1", "--temperature", "1e-310", "--out", tmp_path / "t"),
                   "--temperature 1e-310", "too small")
    one_error_line(*cli(evaluate, run_dir / "model.pt", "--temperature", "1e-310"), "--temperature 1e-310")
    hot = tmp_path / "tiny" / "model.pt"
    hot.parent.mkdir()
    forged(run_dir, hot, lambda c: c["meta"].update(temperature=1e-310))
    one_error_line(*cli(evaluate, hot, "--episodes", 1), "recorded temperature 1e-310")


def test_a_tiny_scale_in_a_checkpoint_is_refused(run_dir, tmp_path):
    path = forged(run_dir, tmp_path / "tiny_std.pt", lambda c: c["state_dict"]["obs_std"].fill_(1e-45))
    one_error_line(*cli(evaluate, path, "--episodes", 1), "'obs_std' must be positive, at least 1e-06")


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


# ---------------------------------------------------------------- one error line, not a traceback

def test_odd_npz_files_are_one_line(tmp_path):
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    import zipfile
    with zipfile.ZipFile(tmp_path / "text_member.npz", "w") as z:
        z.writestr("obs.txt", "1 2 3")
    np.savez(tmp_path / "scalar_obs.npz", obs=np.float32(1.0), actions=demos["actions"], episode_ends=demos["episode_ends"])
    wrapped = demos["episode_ends"].astype(np.uint64)
    wrapped[0] = np.uint64(2 ** 64 - 3)                          # becomes -3 as int64
    np.savez(tmp_path / "wrapped.npz", obs=demos["obs"], actions=demos["actions"], episode_ends=wrapped)
    for name, message in (("text_member", "member 'obs.txt' is not a .npy array"), ("scalar_obs", "holds no steps"),
                          ("wrapped", "'episode_ends' must be strictly increasing")):
        one_error_line(*cli(train, "--env", "pointmass1", "--data", tmp_path / f"{name}.npz", "--out", tmp_path / "o"),
                       f"{name}.npz", message)


@pytest.mark.parametrize("kind", ["complex", "sparse"])
def test_odd_tensors_in_a_checkpoint_are_one_line(run_dir, tmp_path, kind):
    def edit(ckpt):
        std = ckpt["state_dict"]["obs_std"]
        ckpt["state_dict"]["obs_std"] = std.to(torch.complex64) if kind == "complex" else std.to_sparse()
    one_error_line(*cli(evaluate, forged(run_dir, tmp_path / f"{kind}.pt", edit)), "'obs_std' is a")


def test_an_unknown_trunk_is_one_line_naming_the_four_trunks(tmp_path):
    """`python train.py --env pointmass1 --trunk rnn`, as a process run from an empty folder: one error line,
    exit code 2, nothing written; the line offers the Table 3 trunks (gpt, mlp, tcn, lstm)."""
    p = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--env", "pointmass1", "--trunk", "rnn"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    one_error_line(p.returncode, p.stderr, "argument --trunk: invalid choice: 'rnn'", "gpt", "mlp", "tcn", "lstm")
    assert not os.listdir(tmp_path)


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


def test_newlines_in_names_keep_the_error_on_one_line(run_dir, tmp_path):
    one_error_line(*cli(train, "--env", "point\nmass", "--out", tmp_path / "a"), "unknown env 'point\\nmass'")
    one_error_line(*cli(train, "--env", "pointmass1", "--data", tmp_path / "new\nline.npz", "--out", tmp_path / "a"),
                   "new\\nline.npz")
    other = tmp_path / "other"
    other.mkdir()
    forged(run_dir, other / "model.pt", lambda c: c["meta"].update(env="cart\npole"))
    one_error_line(*cli(train, "--env", "pointmass1", "--out", other), "holds a cart\\npole run")
    one_error_line(*cli(evaluate, other / "model.pt"), "unknown env 'cart\\npole'")


def test_a_pickled_checkpoint_is_one_line_without_torch_warnings(run_dir, tmp_path):
    """A checkpoint pickled by hand makes torch warn ("Detected pickle protocol 4") before refusing it: the
    warning must not print before the one error line. torch's pre-1.6 file format still loads."""
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    with open(tmp_path / "pickled.pt", "wb") as f:
        pickle.dump(ckpt, f)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "evaluate.py"), str(tmp_path / "pickled.pt")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    one_error_line(p.returncode, p.stderr, "pickled.pt: not a readable checkpoint")
    torch.save(ckpt, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert runs.load_model(tmp_path / "legacy.pt").meta == ckpt["meta"]


# ---------------------------------------------------------------- checks that let bad data through

def test_a_variant_named_twice_is_refused(tmp_path):
    one_error_line(*cli(ablations, "--env", "pointmass1", "--variants", "BeT,BeT", "--workers", 2,
                        "--out", tmp_path / "d", "--runs", tmp_path / "r"), "names a variant twice")
    assert not (tmp_path / "r").exists()


def test_a_run_can_be_re_evaluated_into_its_own_eval_json_from_another_folder(run_dir, tmp_path, monkeypatch):
    """train.py records the checkpoint path relative to where it ran; from elsewhere, the run's own eval.json
    is still recognised as this checkpoint's results."""
    rel = tmp_path / "work"
    rel.mkdir()
    monkeypatch.chdir(rel)
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "2", "--out", "run"])
    assert json.loads((rel / "run" / "eval.json").read_text())["checkpoint"]["path"] == os.path.join("run", "model.pt")
    monkeypatch.chdir(tmp_path)
    code, err = cli(evaluate, rel / "run" / "model.pt", "--episodes", 2, "--json", rel / "run" / "eval.json")
    assert code == 0, err
    assert json.loads((rel / "run" / "eval.json").read_text())["episodes"] == 2
    one_error_line(*cli(evaluate, run_dir / "model.pt", "--episodes", 2, "--json", rel / "run" / "eval.json"),
                   "holds something other than an evaluation")


# ---------------------------------------------------------------- the first hour (issue 22)

def test_a_run_with_other_settings_gets_its_own_folder(tmp_path, monkeypatch):
    """Only the env's own settings train into runs/<env>; any other setting, seed or dataset is in the name (a
    flag given at the row's own value, --k 2, is not)."""
    monkeypatch.chdir(tmp_path)
    train.main(["--env", "pointmass1", "--epochs", "1", "--k", "2", "--episodes", "0"])
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "0", "--seed", "2", "--no-offsets", "--lr", "0.002",
                "--policy", "mse", "--context", "1"])
    assert sorted(os.listdir(tmp_path / "runs")) == ["pointmass1-epochs1",
                                                     "pointmass1-mse-context1-nooffsets-epochs1-lr0.002-seed2"]
    args = train.parse_args(["--env", "pointmass1", "--data", "mine.npz"])
    assert runs.default_out(args, train.config_from_args(args), train.env_config("pointmass1"), data.default_path("pointmass1")) \
        == os.path.join("runs", "pointmass1-datamine")


def test_success_rates_carry_a_wilson_interval():
    assert stats.wilson(87, 100) == [0.7902, 0.9224]                  # 87/100: centre 0.856, half-width 0.066
    assert stats.wilson(0, 20)[0] == 0.0 and stats.wilson(20, 20)[1] == 1.0
    trajectories = [{"success": s, "rewards": np.ones(3), "actions": np.zeros((3, 2)), "obs": np.zeros((4, 2)), "seed": i}
                    for i, s in enumerate([True] * 9 + [False])]
    results = evaluate.metrics("cartpole", trajectories, 0.0)
    assert results["success_rate"] == 0.9 and results["success_ci95"] == stats.wilson(9, 10)


def test_every_flag_of_every_script_has_help():
    from tools import bench, figures
    for parser in (train.parser(), runs.evaluate_parser(), ablations.parser(), dagger.parser(), figures.parser()):
        bare = [a.option_strings for a in parser._actions if a.option_strings and not a.help]
        assert not bare, bare
    for module in (bench, figures):
        with contextlib.redirect_stdout(io.StringIO()) as out, pytest.raises(SystemExit):
            module.main(["--help"])
        assert "usage:" in out.getvalue()


def test_evaluation_reports_progress_and_where_it_wrote(run_dir, tmp_path, capsys):
    code, _ = cli(evaluate, run_dir / "model.pt", "--episodes", 20, "--json", tmp_path / "e.json")
    out = capsys.readouterr().out
    assert code == 0 and "evaluate: 10/20 episodes ended" in out and f"wrote {tmp_path / 'e.json'}" in out
    assert "95 % Wilson interval" in out and "fraction of episodes that succeed" in out


def test_video_can_show_the_failures_it_replays_exactly(run_dir, tmp_path):
    """--video-pick replays the chosen episodes alone; that is exact because episode i depends on its seed only."""
    model = runs.load_model(run_dir / "model.pt")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        eight = evaluate.rollout(evaluate.bet_policy(model, 1.0, 40), "pointmass1", 8, 40, model.context)
        for i in (3, 5):
            alone = evaluate.rollout(evaluate.bet_policy(model, 1.0, 40 + i), "pointmass1", 1, 40 + i, model.context)[0]
            assert np.array_equal(alone["actions"], eight[i]["actions"]) and alone["seed"] == eight[i]["seed"]
    finally:
        torch.set_num_threads(threads)
    code, err = cli(evaluate, "--expert", "--env", "pusht", "--episodes", 2, "--video", tmp_path / "ok.gif",
                    "--video-pick", "successes", "--video-episodes", 1)
    assert code == 0, err
    from PIL import Image
    with Image.open(tmp_path / "ok.gif") as gif:
        assert gif.n_frames > 5 and gif.size[0] == 192                         # one episode, replayed with frames
    code, err = cli(evaluate, "--expert", "--env", "pusht", "--episodes", 2, "--video", tmp_path / "none.gif",
                    "--video-pick", "failures")                                # the expert solves both: nothing to film
    assert code == 0 and "no failures among the 2 episodes" in err and not (tmp_path / "none.gif").exists(), err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the CUDA path is untested on real hardware")
def test_cuda_trains_evaluates_and_benches(tmp_path):
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "2", "--device", "cuda", "--out", str(tmp_path / "r")])
    code, err = cli(evaluate, tmp_path / "r" / "model.pt", "--episodes", 4, "--device", "cuda")
    assert code == 0, err
    from tools import bench
    with contextlib.redirect_stdout(io.StringIO()) as out:
        bench.main(["--env", "pointmass1", "--device", "cuda", "--steps", "2", "--repeats", "2", "--episodes", "2"])
    assert json.loads(out.getvalue())["device"] == "cuda"


def test_device_flags_are_checked_before_any_work(run_dir):
    one_error_line(*cli(evaluate, run_dir / "model.pt", "--device", "toaster"), "--device toaster")
    from tools import bench
    one_error_line(*cli(bench, "--env", "pointmass1", "--device", "toaster"), "--device toaster")
    if not torch.cuda.is_available():
        one_error_line(*cli(evaluate, run_dir / "model.pt", "--device", "cuda"), "CUDA is not available")


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


def test_figures_write_outside_docs_and_name_the_missing_run(tmp_path, monkeypatch):
    from tools import figures
    monkeypatch.chdir(tmp_path)
    assert figures.parser().parse_args([]).out == os.path.join("runs", "figures")   # docs/ only when asked
    one_error_line(*cli(figures), "runs/pointmass1/model.pt: not found", "train it with: python train.py --env pointmass1")
    assert not os.path.exists(tmp_path / "runs")


def test_training_uses_every_core_by_default_and_ablation_runs_one_thread_each(tmp_path, monkeypatch):
    config = lambda *flags: train.config_from_args(train.parse_args(["--env", *flags]))
    assert config("pusht").threads == 0 and config("pointmass1").threads == 1      # 0 = every core
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


def test_gpt_mdn_trains_saves_and_evaluates(tmp_path):
    out = tmp_path / "mdn"
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        train.main(["--env", "pointmass1", "--policy", "mdn", "--epochs", "2", "--episodes", "5", "--out", str(out)])
    assert "policy mdn" in printed.getvalue()
    model = runs.load_model(str(out / "model.pt"))
    assert model.config["head"] == "mdn" and torch.equal(model.centers, torch.zeros_like(model.centers))
    assert json.loads((out / "eval.json").read_text())["episodes"] == 5
    p = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--env", "pointmass1", "--policy", "mdx"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 2 and p.stderr.startswith("error:") and len(p.stderr.strip().splitlines()) == 1


def test_ablation_intervals_pool_the_seeds_episodes_but_count_a_repeated_run_once():
    run = lambda rate, steps: {"success_rate": rate, "episodes": 100, "mean_steps": steps, "seconds": 1.0}
    three = ablations.summarise([run(0.5, 90.0), run(0.6, 80.0), run(0.7, 70.0)], "success_rate", 0.6)
    assert three["success_ci95"] == stats.wilson(180, 300)
    equal = [{**run(0.49, 90.0), "seconds": s} for s in (1.0, 2.0, 3.0)]
    same = ablations.summarise(equal, "success_rate", 0.8, untrained=True)
    assert same["success_ci95"] == stats.wilson(49, 100)       # NN ignores the seed: 100 episodes, not 300
    assert ablations.summarise(equal, "success_rate", 0.8)["success_ci95"] == stats.wilson(147, 300)  # trained: 3 runs
    assert set(ablations.UNTRAINED) == {n for n, flags in ablations.VARIANTS.items() if flags[-1:] in (["nn"], ["lwr"])}
    routes = ablations.summarise([{**run(1.0, 9.0), "single_route": 0.5}] * 2, "single_route", 0.5)
    assert routes["metric_ci95"] == stats.wilson(100, 200)      # pointmass2's headline rate carries its interval


def test_evaluation_progress_gives_a_bound_that_holds_when_successes_end_first():
    lines = []
    progress = runs.episode_progress(20, lines.append)
    for done in range(1, 11):          # the first ten episodes to end are successes; the other ten may all fail
        progress(done, done)
    assert lines == ["evaluate: 2/20 episodes ended, 2 successes so far (success rate >= 0.100)",
                     "evaluate: 4/20 episodes ended, 4 successes so far (success rate >= 0.200)",
                     "evaluate: 6/20 episodes ended, 6 successes so far (success rate >= 0.300)",
                     "evaluate: 8/20 episodes ended, 8 successes so far (success rate >= 0.400)",
                     "evaluate: 10/20 episodes ended, 10 successes so far (success rate >= 0.500)"]


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
