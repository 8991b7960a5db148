"""tools/ablations.py, the ablation driver (Table 3 / Fig. 6) with tiny settings: table shape, keys and files,
which runs are reused or retrained, the intervals, and no worker left behind."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tools import ablations
from plumbing import runs
import train
from helpers import ROOT, cli, one_error_line, processes
from plumbing import stats
import envs

pytestmark = pytest.mark.needs_solutions   # end to end: the handout (coursework.py) cannot run these


def changed(record, **settings):
    """An env record with some training settings changed."""
    return dataclasses.replace(record, settings={**record.settings, **settings})


class InProcessPool:
    """What ablations.train_all asks of processes.pool (a context manager with imap_unordered), run
    in this process: no worker to spawn, which costs a torch import each. For the tests of which runs are reused
    or retrained; test_ablations' smoke and workers tests and its signal test keep the real pool."""

    def __init__(self, processes, initializer=None):
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
    monkeypatch.setattr(ablations, "processes", types.SimpleNamespace(pool=InProcessPool))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- the table

def test_driver_writes_a_row_per_variant_and_reuses_runs_in_the_k_sweep(tmp_path, capsys):
    out, runs = tmp_path / "docs", tmp_path / "runs"
    k = train.env_config("pointmass1").k
    ablations.main(["--env", "pointmass1", "--seeds", "1", "--episodes", "2", "--epochs", "1", "--workers", "2",
                    "--k-sweep", f"1,{k}", "--out", str(out), "--runs", str(runs)])
    n = len(ablations.VARIANTS)              # k=1 and k=default share runs with two variants: only n trained
    assert f"{n} runs ({n + 2} variants x 1 seeds" in capsys.readouterr().out
    result = json.loads((out / "ablations.json").read_text())
    assert list(result["table"]) == list(ablations.VARIANTS)
    for row in result["table"].values():
        assert {"mean", "std", "relative_mean", "relative_std", "success_rate", "route_entropy"} <= set(row)
    bet = result["table"]["BeT"]
    assert bet["mean"] == 0 or bet["relative_mean"] == pytest.approx(1.0)      # BeT is the reference
    assert set(result["k_sweep"]) == {"1", str(k)} and result["k_sweep"][str(k)] == result["table"]["BeT"]  # reused
    assert result["k_sweep"]["1"] == result["table"]["No binning (k=1)"]                  # reused, not retrained
    assert all(len(v) == 1 for v in result["runs"].values())                   # every run (seeds: the next test)
    table = (out / "ablations.md").read_text().splitlines()
    assert sum(line.startswith("| ") for line in table) == 1 + len(ablations.VARIANTS)   # header + one row each
    assert (out / "k_sweep.png").exists()
    from plumbing.runs import load_model
    assert load_model(runs / "discretizer_uniform-seed0-epochs1" / "model.pt").config["discretizer"] == "uniform"
    assert load_model(runs / "k_1-seed0-epochs1" / "model.pt").k == 1


def test_route_entropy_is_one_for_an_even_split_and_zero_for_one_route():
    assert ablations.route_entropy({"a": 0.5, "b": 0.5}) == pytest.approx(1.0)
    assert ablations.route_entropy({"a": 1.0, "b": 0.0, "c": 0.0}) == 0.0
    assert 0 < ablations.route_entropy({"a": 0.8, "b": 0.2}) < 1


def test_bad_variant_is_rejected():
    with pytest.raises(ValueError, match="--variants"):
        ablations.main(["--env", "pointmass1", "--variants", "BeT,Nonsense"])


def test_a_variant_named_twice_is_refused(tmp_path):
    one_error_line(*cli(ablations, "--env", "pointmass1", "--variants", "BeT,BeT", "--workers", 2,
                        "--out", tmp_path / "d", "--runs", tmp_path / "r"), "names a variant twice")
    assert not (tmp_path / "r").exists()


def test_workers_do_not_change_the_numbers(tmp_path):
    """Two workers train the same runs as one: every run is one process on one thread."""
    results = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        ablations.main(["--env", "pointmass2", "--seeds", "2", "--episodes", "3", "--epochs", "1", "--k-sweep", "none",
                        "--variants", "BeT,No history (context 1)", "--workers", str(workers),
                        "--out", str(out / "docs"), "--runs", str(out / "runs")])
        runs = json.loads((out / "docs" / "ablations.json").read_text())["runs"]
        results.append({n: [{**{k: v for k, v in r.items() if "seconds" not in k and k != "checkpoint"},
                             "weights": r["checkpoint"]["sha256"]} for r in rs] for n, rs in runs.items()})
    assert results[0] == results[1]


# ---------------------------------------------------------------- runs reused or retrained

def test_finished_runs_are_reused_only_for_the_same_command(tmp_path, pool_in_process, monkeypatch):
    """An interrupted table resumes: a run with the same command and settings is read back; the same command under
    changed settings in the env's record is retrained; another evaluation (--episodes, --eval-seed) of a finished
    run is refused before any work (it would rewrite the eval.json an earlier table was made from), unless --fresh."""
    base = ["--env", "pointmass1", "--seeds", "1", "--epochs", "1", "--variants", "BeT", "--k-sweep", "none",
            "--out", str(tmp_path / "docs"), "--runs", str(tmp_path / "runs")]
    model, results = tmp_path / "runs" / "bet-seed0-epochs1" / "model.pt", tmp_path / "runs" / "bet-seed0-epochs1" / "eval.json"
    ablations.main(base + ["--episodes", "2"])
    first, evaluation = model.stat().st_mtime_ns, results.read_bytes()
    ablations.main(base + ["--episodes", "2"])
    assert model.stat().st_mtime_ns == first                                     # reused
    for other in (["--episodes", "3"], ["--episodes", "2", "--eval-seed", "7"]):
        with pytest.raises(ValueError, match="was evaluated with --episodes 2 --eval-seed 100000; a table evaluated"):
            ablations.main(base + other)
        assert model.stat().st_mtime_ns == first and results.read_bytes() == evaluation     # nothing touched
    ablations.main(base + ["--episodes", "3", "--fresh"])
    second = model.stat().st_mtime_ns
    assert second != first                                                       # --fresh: retrained
    assert json.loads((tmp_path / "docs" / "ablations.json").read_text())["runs"]["BeT"][0]["episodes"] == 3
    monkeypatch.setitem(envs.ENVS, "pointmass1", changed(envs.get("pointmass1"), lr=2e-3))
    ablations.main(base + ["--episodes", "3"])
    assert model.stat().st_mtime_ns != second                                    # the row changed: retrained


def test_ablations_retrain_a_run_whose_checkpoint_changed(tmp_path, pool_in_process):
    base = ["--env", "pointmass1", "--seeds", "1", "--epochs", "1", "--episodes", "2", "--variants", "BeT",
            "--k-sweep", "none", "--out", str(tmp_path / "docs"), "--runs", str(tmp_path / "runs")]
    ablations.main(base)
    model = tmp_path / "runs" / "bet-seed0-epochs1" / "model.pt"
    runs.save_model(runs.load_model(model), model, meta={"env": "pointmass1", "edited": True})     # another checkpoint, same place
    edited = model.stat().st_mtime_ns
    ablations.main(base)
    assert model.stat().st_mtime_ns != edited and "edited" not in runs.load_model(model).meta      # retrained


def test_ablations_start_over_when_a_saved_state_belongs_to_another_command(tmp_path, pool_in_process):
    """A leftover train_state.pt from another command cannot be resumed: the run is trained from scratch."""
    base = ["--env", "pointmass1", "--seeds", "1", "--epochs", "1", "--episodes", "2", "--variants", "BeT",
            "--k-sweep", "none", "--out", str(tmp_path / "docs"), "--runs", str(tmp_path / "runs")]
    run_dir = tmp_path / "runs" / "bet-seed0-epochs1"
    run_dir.mkdir(parents=True)
    torch.save({"command": {"env": "pointmass2"}}, run_dir / "train_state.pt")
    ablations.main(base)
    assert (run_dir / "model.pt").exists() and not (run_dir / "train_state.pt").exists()
    assert json.loads((run_dir / "eval.json").read_text())["checkpoint"]["sha256"] == runs.file_hash(run_dir / "model.pt")


def test_update_keeps_the_rows_it_does_not_rerun(tmp_path, pool_in_process):
    """--update re-runs some rows and keeps the others (and their commands) from the existing table."""
    base = ["--env", "pointmass1", "--seeds", "1", "--episodes", "2", "--epochs", "1", "--k-sweep", "none",
            "--out", str(tmp_path / "docs"), "--runs", str(tmp_path / "runs")]
    ablations.main(base + ["--variants", "BeT,No offsets"])
    before = json.loads((tmp_path / "docs" / "ablations.json").read_text())
    ablations.main(base + ["--variants", "MSE-BC (RBC)", "--update"])
    after = json.loads((tmp_path / "docs" / "ablations.json").read_text())
    assert list(after["table"]) == ["BeT", "No offsets", "MSE-BC (RBC)"]
    assert after["runs"]["BeT"] == before["runs"]["BeT"] and after["runs"]["No offsets"] == before["runs"]["No offsets"]
    assert "--update" in after["commands"]["MSE-BC (RBC)"] and "--update" not in after["commands"]["BeT"]
    with pytest.raises(ValueError, match="other settings"):
        ablations.main(base[:4] + ["--episodes", "3"] + base[6:] + ["--variants", "MLP trunk", "--update"])
    with pytest.raises(ValueError, match="must include 'BeT'"):
        ablations.main(base + ["--variants", "MLP trunk"])


# ---------------------------------------------------------------- RBC tuning, intervals and the committed tables

def test_tune_rbc_scores_every_depth_and_width(tmp_path, monkeypatch):
    """App. B.1's RBC protocol on a 95/5 episode split: one validation MSE per depth x width, the best is the minimum."""
    import dataclasses
    monkeypatch.setitem(envs.ENVS, "pointmass1", changed(envs.get("pointmass1"), epochs=2))
    result = ablations.tune_rbc("pointmass1", (1, 2), (8, 16), seed=100)
    assert [(r["layers"], r["width"]) for r in result["rows"]] == [(1, 8), (1, 16), (2, 8), (2, 16)]
    assert result["episodes"] == {"train": 190, "validation": 10}
    assert result["best"]["validation_mse"] == min(r["validation_mse"] for r in result["rows"]) > 0
    table = ablations.rbc_markdown(result).splitlines()
    assert len(table) == 4 + 2 and sum("**" in line for line in table) == 1     # 2 depths x 2 widths, best in bold


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


def test_blockpush_rows_pool_table_1_and_2_over_the_seeds():
    keys = ["R1", "R2", "P1", "P2", "first_red", "first_green", "red_to_red", "red_to_green", "green_to_red",
            "green_to_green"]
    run = lambda p2: {"success_rate": p2, "episodes": 100, "order_entropy_nats": 1.3,
                      "blockpush": {k: (p2 if k == "P2" else 0.5) for k in keys}}
    s = ablations.summarise([run(0.9), run(0.7)], "success_rate", 0.8)
    assert s["blockpush"]["P2"] == 0.8 and s["blockpush_ci95"]["P2"] == stats.wilson(160, 200)
    text = ablations.markdown("blockpush", {"BeT": s}, [0, 1], type("A", (), {"eval_episodes": 100, "eval_seed": 0,
                                                                             "epochs": None}))
    assert "| BeT | 0.500 (0.43–0.57) | 0.500 (0.43–0.57) | 0.500 (0.43–0.57) | 0.800 (0.74–0.85) |" in text


# ---------------------------------------------------------------- no worker left behind

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
    started = lambda: [d for d in (tmp_path / "runs").glob("*") if (d / "stdout.txt").exists()]
    while len(started()) < 2 and time.time() < deadline:          # both workers have begun a run
        time.sleep(0.1)
    workers = children(p.pid)                                      # the pool's workers (and a resource tracker)
    assert len(workers) >= 2
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "run the same command again to resume" in err, err
    alive = lambda: [w for w in workers if os.path.exists(f"/proc/{w}") and "Z" not in open(f"/proc/{w}/stat").read().split(")")[1][:3]]
    gone = time.time() + 2                                         # the workers end with their parent
    while alive() and time.time() < gone:
        time.sleep(0.1)
    assert not alive()


def test_tune_rbc_checks_its_flags_before_any_work(tmp_path):
    for flags, fragment in ((["--tune-seed", 2 ** 31], "--tune-seed"), (["--tune-seed", -1], "--tune-seed"),
                            (["--workers", 99], "--workers")):
        code, err = cli(ablations, "--env", "pointmass1", "--tune-rbc", "--out", tmp_path / "t", *flags)
        one_error_line(code, err, fragment)
    assert not (tmp_path / "t").exists()


def test_tables_sharing_runs_keep_their_own_checkpoints(tmp_path, pool_in_process):
    """Two tables of other training settings (here --epochs) in one --runs folder: the second trains into its
    own run folders, so the first table's checkpoints keep the bytes its ablations.json names."""
    base = ["--env", "pointmass1", "--seeds", "1", "--episodes", "2", "--k-sweep", "none", "--variants", "BeT",
            "--runs", str(tmp_path / "runs")]
    ablations.main(base + ["--epochs", "1", "--out", str(tmp_path / "one")])
    ablations.main(base + ["--epochs", "2", "--out", str(tmp_path / "two")])
    for table in ("one", "two"):
        checkpoint = json.load(open(tmp_path / table / "ablations.json"))["runs"]["BeT"][0]["checkpoint"]
        assert runs.file_hash(checkpoint["path"]) == checkpoint["sha256"], table
