"""plumbing/runs.py's run folders: one run at a time in a folder (its lock), a folder per setting, results that
always belong to their model, training that resumes exactly, and evaluation's progress lines."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import data
import evaluate
import train
from bet import BeT
from helpers import ROOT, cli, one_error_line
from plumbing import demofiles, runs

pytestmark = pytest.mark.needs_solutions   # end to end: the handout (coursework.py) cannot run these


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
                   "holds a train.py run (model.pt)")                 # another checkpoint's run


# ---------------------------------------------------------------- one run at a time, a folder per setting

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


# ---------------------------------------------------------------- resume

def first_episodes(env, path, episodes):
    """The first `episodes` demonstrations of the env's shipped dataset, written to `path` (a short epoch)."""
    record = train.env_config(env)
    demos = demofiles.load_demos(data.default_path(env), record.obs_dim, record.act_dim)
    ends = demos["episode_ends"][:episodes]
    sliced = {k: v[:int(ends[-1])] for k, v in demos.items() if k not in ("episode_ends", "seeds")}
    runs.save_demos(path, {**sliced, "episode_ends": ends, "seeds": demos["seeds"][:episodes]})


@pytest.mark.parametrize("averaging", [[], ["--ema", "0.99"]])
def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, monkeypatch, averaging):
    """Interrupt a short run (CartPole: dropout, so the torch RNG matters) in epoch 3, resume, compare weights
    (with --ema, the saved weights are the moving average, which must resume too)."""
    first_episodes("cartpole", tmp_path / "six.npz", 6)                # 3,000 windows: 47 steps an epoch
    flags = ["--env", "cartpole", "--data", str(tmp_path / "six.npz"), "--epochs", "4", "--episodes", "0", *averaging]
    original, calls = BeT.loss, []
    def counted(self, obs, actions, mask=None):
        calls.append(1)
        if cut and len(calls) == 2 * steps + 10:                     # in epoch 3
            raise KeyboardInterrupt
        return original(self, obs, actions, mask)
    monkeypatch.setattr(BeT, "loss", counted)
    cut = False
    train.main(flags + ["--out", str(tmp_path / "whole")])
    steps, cut, calls[:] = len(calls) // 4, True, []
    with pytest.raises(SystemExit) as stop:
        train.main(flags + ["--out", str(tmp_path / "cut")])
    assert stop.value.code == 130 and not (tmp_path / "cut" / "model.pt").exists()
    monkeypatch.setattr(BeT, "loss", original)
    with pytest.raises(ValueError, match="another command"):      # a resume must continue the same run
        train.main(flags[:5] + ["5", "--episodes", "0", "--out", str(tmp_path / "cut"), "--resume"])
    train.main(flags + ["--out", str(tmp_path / "cut"), "--resume"])
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    cut = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    log = json.loads((tmp_path / "cut" / "train_log.json").read_text())
    assert [h["epoch"] for h in log["history"]] == [1, 2, 3, 4] and not (tmp_path / "cut" / "train_state.pt").exists()


# ---------------------------------------------------------------- progress

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


def test_pool_workers_die_with_their_parent(tmp_path):
    """kill -9 of a process whose pool workers (initializer processes.die_with_parent) are busy: the workers end
    at once, not when their task does, so they never write after it."""
    import signal as signals
    import subprocess
    import sys
    import time as clock
    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing as mp, os, sys, time\nsys.path.insert(0, %r)\nfrom plumbing import processes\n"
        "def work(path):\n    open(path, 'w').write(str(os.getpid()))\n    time.sleep(30)\n    open(path + '.late', 'w')\n"
        "if __name__ == '__main__':\n    pool = mp.get_context('spawn').Pool(2, processes.die_with_parent)\n"
        "    pool.map_async(work, [%r, %r])\n    time.sleep(60)\n" % (ROOT, str(tmp_path / "w0"), str(tmp_path / "w1")))
    parent = subprocess.Popen([sys.executable, str(script)])
    deadline = clock.time() + 60
    while not ((tmp_path / "w0").exists() and (tmp_path / "w1").exists()) and clock.time() < deadline:
        clock.sleep(0.1)
    workers = [int((tmp_path / w).read_text()) for w in ("w0", "w1")]
    parent.send_signal(signals.SIGKILL)
    parent.wait()
    clock.sleep(1)
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}") and
                open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] != "Z"], "a worker outlived its parent"


def test_a_run_folder_stays_held_until_its_last_worker_has_exited(tmp_path):
    """Pool workers started under a RunLock add their pids to it; the lock is taken over only when every pid it
    lists has ended (the parent's death alone is not enough)."""
    import multiprocessing as mp
    import subprocess
    import sys
    from plumbing import processes
    folder = tmp_path / "run"
    folder.mkdir()                                      # (a folder the lock made would go with it, being empty)
    with runs.RunLock(str(folder)):
        with mp.get_context("spawn").Pool(2, processes.die_with_parent) as pool:
            workers = set(pool.map(_pid, range(4)))
            listed = [int(w) for w in (folder / ".lock").read_text().split()]
            assert listed[0] == os.getpid() and workers <= set(listed[1:]) and len(listed) == 3
    assert not (folder / ".lock").exists() and processes.LOCK_VARIABLE not in os.environ
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (folder / ".lock").write_text(f"{dead.stdout.strip()}\n{worker.pid}\n")   # the parent died, a worker lives
        with pytest.raises(ValueError, match=f"in use by another run \\(pid {worker.pid}\\)"):
            runs.RunLock(str(folder)).__enter__()
    finally:
        worker.kill()
        worker.wait()
    with runs.RunLock(str(folder)):                                                # now every listed pid has ended
        assert (folder / ".lock").read_text() == f"{os.getpid()}\n"


def _pid(_):
    import time
    time.sleep(0.2)                     # long enough that both workers take a task
    return os.getpid()


def test_ctrl_c_to_the_group_is_reported_once_by_the_parent_of_a_pool(tmp_path):
    """A terminal's Ctrl-C reaches every process of the group: processes.pool's workers ignore it (from their start,
    imports included) and data.collect's parent stops them at once and reports it in one line, exit 130, instead
    of waiting for the queued episodes (it hung there)."""
    import signal as signals
    import time as clock
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\nsys.path.insert(0, %r)\nimport data\nfrom plumbing import runs\n"
        "def slow_episode(seed):\n    import torch\n    time.sleep(5)\n    return {'success': False}\n"
        "if __name__ == '__main__':\n    print('started', flush=True)\n"
        "    runs.cli(lambda: data.collect(slow_episode, 40, workers=2, log=lambda *a: None))\n" % ROOT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    assert parent.stdout.readline() == "started\n"
    clock.sleep(2)                                      # the workers are importing torch or asleep in a first episode
    t0 = clock.time()
    os.killpg(parent.pid, signals.SIGINT)
    try:
        err = parent.communicate(timeout=30)[1]
    finally:
        os.killpg(parent.pid, signals.SIGKILL) if parent.poll() is None else None
    assert parent.returncode == 130 and clock.time() - t0 < 10, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_pool_workers_still_importing_when_their_parent_is_killed_never_start_a_task(tmp_path):
    """kill -9 of the parent while its processes.pool workers import (torch here): when they are done importing,
    they find the parent gone and end, instead of running the tasks already queued (they wrote a killed DAgger
    run's rounds)."""
    import signal as signals
    import time as clock
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, sys, time\nsys.path.insert(0, %r)\nimport torch\nfrom plumbing import processes\n"
        "def work(path):\n    open(path, 'w').write(str(os.getpid()))\n"
        "if __name__ == '__main__':\n    pool = processes.pool(2)\n    pool.map_async(work, [%r, %r])\n"
        "    time.sleep(0.5)\n    print(*[p.pid for p in pool._pool], flush=True)\n    time.sleep(60)\n"
        % (ROOT, str(tmp_path / "w0"), str(tmp_path / "w1")))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    parent.send_signal(signals.SIGKILL)                 # the workers are importing the script, and torch with it
    parent.wait()
    alive = lambda pid: os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] != "Z"
    deadline = clock.time() + 30
    while any(map(alive, workers)) and clock.time() < deadline:
        clock.sleep(0.2)
    clock.sleep(0.5)
    assert not (tmp_path / "w0").exists() and not (tmp_path / "w1").exists(), "a worker ran a killed parent's task"


def test_a_lock_removes_the_folder_it_made_only_while_it_is_empty(tmp_path):
    """A run refused or diverged before writing anything leaves no empty --out behind; a folder that existed, or
    that the run wrote into, stays."""
    with runs.RunLock(str(tmp_path / "new")):
        assert (tmp_path / "new" / ".lock").exists()
    assert not (tmp_path / "new").exists()
    with runs.RunLock(str(tmp_path / "written")):
        (tmp_path / "written" / "model.pt").write_bytes(b"x")
    assert (tmp_path / "written" / "model.pt").exists()
    (tmp_path / "there").mkdir()
    with runs.RunLock(str(tmp_path / "there")):
        pass
    assert (tmp_path / "there").is_dir()


def test_collect_records_its_env_and_replaces_only_that_envs_dataset(tmp_path, capsys):
    """--collect writes the env's name into the file; a second --collect of the same env replaces it, another env
    of the same widths (pointmass2) refuses to (train.py's check_collect_path)."""
    import train
    path = str(tmp_path / ("a" * 190 + ".npz"))            # (its default --out, never made, would be 205 bytes)
    for _ in range(2):
        train.main(["--env", "pointmass1", "--collect", "2", "--workers", "1", "--data", path])
        assert runs.recorded_env(demofiles.read_npz(path)) == "pointmass1"
    before = open(path, "rb").read()
    with pytest.raises(ValueError, match="holds pointmass1 demonstrations, not pointmass2's"):
        train.main(["--env", "pointmass2", "--collect", "2", "--workers", "1", "--data", path])
    assert open(path, "rb").read() == before


def test_kill_9_of_a_pools_parent_prints_nothing(tmp_path):
    """kill -9 of ablations or DAgger with workers: multiprocessing's resource tracker unlinked the pool's
    semaphores and printed a two-line "leaked semaphore" warning to the terminal; processes.pool quiets it."""
    script = tmp_path / "parent.py"
    script.write_text("import os, signal, sys\nsys.path.insert(0, %r)\nfrom plumbing import processes\n"
                      "if __name__ == '__main__':\n    pool = processes.pool(2)\n    print(pool.map(abs, [-1, -2]), flush=True)\n"
                      "    os.kill(os.getpid(), signal.SIGKILL)\n" % ROOT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == -9 and done.stdout == "[1, 2]\n" and done.stderr == "", done.stderr


def test_a_full_disk_under_torch_save_is_one_line(tmp_path):
    """torch.save reports ENOSPC as its own RuntimeError (the OSError its context): a 31-line traceback. Now the
    ValueError of any failed write; a RuntimeError of another cause stays a bug."""
    import errno
    from plumbing import files

    def full(f):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 218112 vs 218004")
    with pytest.raises(ValueError, match="could not write it \\(No space left on device\\)"):
        files.atomic_write(str(tmp_path / "model.pt"), full)
    with pytest.raises(RuntimeError, match="a bug"):
        files.atomic_write(str(tmp_path / "model.pt"), lambda f: (_ for _ in ()).throw(RuntimeError("a bug")))
    assert os.listdir(tmp_path) == []


def test_a_full_disk_when_claiming_a_folder_or_saving_a_figure_is_one_line(tmp_path, monkeypatch):
    """The lock's pid could not be written (ENOSPC): a bare OSError after the rollouts, an empty .lock left. A figure
    on a full disk: a 50-line traceback and a 0-byte PNG. Both are one ValueError line now, leaving nothing."""
    import builtins
    import errno
    from plumbing import plots
    real_fdopen = os.fdopen

    def full_fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        def write(*_):
            raise OSError(errno.ENOSPC, "No space left on device")
        f.write = write
        return f
    monkeypatch.setattr(os, "fdopen", full_fdopen)
    with pytest.raises(ValueError, match="could not claim the folder \\(No space left on device\\)"):
        with runs.RunLock(str(tmp_path / "run")):
            pass
    assert os.listdir(tmp_path) == []
    plt = plots.pyplot()
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="could not write it \\(No space left on device\\)"):
        plots.save(fig, str(tmp_path / "figure.png"))
    assert os.listdir(tmp_path) == []


def test_train_never_replaces_an_eval_or_log_json_a_run_did_not_write(tmp_path):
    """--out a folder holding someone's eval.json or train_log.json: it was replaced. Refused before any work."""
    import train
    for name in ("eval.json", "train_log.json"):
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        (folder / name).write_text('{"mine": 1}')
        with pytest.raises(ValueError, match=f"its {name} is not a run's"):
            train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "0", "--out", str(folder)])
        assert (folder / name).read_text() == '{"mine": 1}' and os.listdir(folder) == [name]
