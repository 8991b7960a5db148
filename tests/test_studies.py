"""The one-off study scripts in tools/studies/ (the measurements behind docs/results.md and docs/history/experiments.md)
stay runnable without running them: each gives a real --help as `python -m tools.studies.NAME --help`, and importing
one starts no work (it prints nothing and returns at once)."""

import importlib
import os
import runpy
import signal
import subprocess
import sys
import time

import pytest

from conftest import deadline
from helpers import ROOT

FOLDER = os.path.join(ROOT, "tools", "studies")
STUDIES = sorted(f"tools.studies.{f[:-3]}" for f in os.listdir(FOLDER) if f.endswith(".py") and f != "__init__.py")


def test_the_studies_are_found():
    assert len(STUDIES) >= 12, STUDIES


@pytest.mark.parametrize("name", STUDIES)
def test_help_prints_the_usage_and_exits_before_any_work(name, capsys, monkeypatch):
    """`python -m NAME --help`, in this process: argparse prints the usage and exits 0 before any work (a script
    that ignored --help and started its study would hit the deadline)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", [os.path.join(ROOT, *name.split(".")) + ".py", "--help"])
    monkeypatch.setattr(sys, "path", list(sys.path))          # ab.py puts '.' first on sys.path (after parsing)
    with deadline(20, f"{name} --help ran for 20 s: it started its work"):
        with pytest.raises(SystemExit) as stop:
            runpy.run_module(name, run_name="__main__")
    out = capsys.readouterr().out
    assert stop.value.code == 0, f"{name} --help exited with {stop.value.code!r}"
    assert "usage:" in out, f"{name} --help printed no usage:\n{out}"
    assert f"python -m {name}" in out, f"the usage line does not say how to run {name}:\n{out}"


@pytest.mark.parametrize("name", STUDIES)
def test_import_starts_no_work(name, capfd, monkeypatch):
    """Importing a study only defines things: nothing printed, back within 5 s (the module body runs afresh)."""
    monkeypatch.delitem(sys.modules, name, raising=False)
    capfd.readouterr()
    with deadline(20, f"importing {name} ran for 20 s: it started its work"):
        t0 = time.perf_counter()
        module = importlib.import_module(name)
        seconds = time.perf_counter() - t0
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"importing {name} printed:\n{out}{err}"
    assert seconds < 5, f"importing {name} took {seconds:.1f} s"
    assert callable(getattr(module, "main", None)), f"{name} has no main(argv=None)"


BAD_INPUT = [   # (study, its arguments, a fragment of the one error line): {root} is a scratch folder
    ("table3", ["--folder", "{root}/none"], "ablations.json: not found"),
    ("table3", ["--folder", "{root}/empty"], "not an ablation table"),
    ("table3", ["--bogus"], "unrecognized arguments: --bogus"),
    ("costs", ["--env", "pointmass1", "--folder", "{root}/none"], "ablations.json: not found"),
    ("costs", ["--env", "pointmass1", "--repeats", str(2 ** 31 - 1)], "--repeats must be at most"),
    ("ab", [str(2 ** 31 - 1), "10", "train"], "BATCH must be at most"),
    ("ab", ["8", "0", "act"], "STEPS must be at least 1"),
    ("levers", ["-5"], "BATCH must be at least 1"),
    ("levers", ["64", str(2 ** 31 - 1)], "ROUNDS must be at most"),
    ("label_check", ["--episodes", "-1"], "--episodes must be at least 1"),
    ("label_check", ["--states", str(2 ** 31 - 1)], "--states must be at most"),
    ("label_check", ["--states", "60000"], "--states must be at most 47791"),        # the states data/pusht.npz holds
    ("pusht_3min_probe", ["--wd", "nan", "--out", "{root}/p.json"], "--wd must be a finite number >= 0"),
    ("pusht_spread", ["--seeds", "0", "--out", "{root}/s3", "--", "--data", "{root}/none.npz"], "none.npz: file not found"),
    ("eval_batches", ["{root}/x.pt", "--episodes", str(2 ** 31 - 1)], "--episodes must be at most"),
    ("pusht_spread", ["--seeds", str(2 ** 31), "--out", "{root}/spread"], "--seeds must be at most 2147483647"),
    ("pusht_spread", ["--seeds", "0", "--out", "{root}/spread"], "recipe.json: exists and is not a JSON object"),
    ("pusht_spread", ["--seeds", "0", "--out", "{root}/s2", "--", "--bogus"], "unrecognized arguments: --bogus"),
    ("pusht_spread", ["--seeds", "0", "--out", "{root}/s2", "--", "--lr", "-1"], "--lr must be a positive"),
    ("pusht_3min_probe", ["--width", "73", "--out", "{root}/p.json"], "multiple of the 4 attention heads"),
    ("pusht_3min_probe", ["--epochs", str(2 ** 31 - 1), "--out", "{root}/p.json"], "--epochs must be at most"),
    ("pusht_3min_probe", ["--threads", "999", "--out", "{root}/p.json"], "--threads 999: at most"),
    ("pusht_3min_probe", ["--out", "{root}/p.txt"], "must end in .json"),
    ("track_states", ["{root}/none"], "not a tools.dagger run folder"),
    ("cartpole_margins", ["{root}/none"], "not a tools.dagger run folder"),
    ("pusht_states", ["{root}/none"], "not a tools.dagger run folder"),
]


@pytest.mark.parametrize("study, args, fragment", BAD_INPUT, ids=[f"{c[0]} {' '.join(c[1])[:30]}" for c in BAD_INPUT])
def test_bad_input_is_one_error_line_before_any_work(tmp_path, study, args, fragment):
    """A study ends as every script does (runs.cli): a missing or foreign input, a count beyond its cap, an
    unknown flag is one `error:` line and exit 2, before any work and writing nothing (they were tracebacks)."""
    from helpers import cli, one_error_line
    (tmp_path / "empty" / "pointmass1").mkdir(parents=True)
    (tmp_path / "empty" / "pointmass1" / "ablations.json").write_text("{}")
    (tmp_path / "spread").mkdir()
    (tmp_path / "spread" / "recipe.json").write_text("[1]")                       # a recipe damaged
    before = sorted(os.listdir(tmp_path))
    module = importlib.import_module(f"tools.studies.{study}")
    with deadline(20, f"{study} ran for 20 s: it started its work"):
        one_error_line(*cli(module, *[a.replace("{root}", str(tmp_path)) for a in args]), fragment)
    assert sorted(os.listdir(tmp_path)) == before


def test_pusht_spread_refuses_bad_ranges_and_an_out_of_another_recipe(tmp_path):
    """The spread study reuses finished runs, so a second recipe into the same --out would mix two recipes' runs."""
    import argparse
    from tools.studies import pusht_spread
    args = lambda **kw: argparse.Namespace(**{**dict(seeds=[0], episodes=5, eval_seed=0, out=str(tmp_path / "o"),
                                                    paths=["native"]), **kw})
    for bad in (dict(seeds=[-1]), dict(episodes=0), dict(eval_seed=-5)):
        with pytest.raises(ValueError, match="must be"):
            pusht_spread.check(args(**bad), [])
    pusht_spread.check(args(), ["--k", "192"])
    pusht_spread.check(args(), ["--k", "192"])                  # the same recipe goes on
    pusht_spread.check(args(), ["--k", "96"])                   # its first run never trained: another recipe may start
    os.makedirs(tmp_path / "o" / "native-seed0")
    (tmp_path / "o" / "native-seed0" / "model.pt").write_bytes(b"a run")
    with pytest.raises(ValueError, match="other train flags"):
        pusht_spread.check(args(), [])
    with pytest.raises(ValueError, match="holds a train.py run"):      # --out is a folder of runs, not a run
        pusht_spread.check(args(out=str(tmp_path / "o" / "native-seed0")), [])
    with pytest.raises(ValueError, match="-c ended with exit 3"):      # a failed run is one line, not a traceback
        pusht_spread.run(["-c", "import sys; sys.exit(3)"], "native")
    for bad, message in ((dict(seeds=list(range(101))), "number of values must be at most 100"),
                         (dict(seeds=[1, 1]), "--seeds names a value twice"),
                         (dict(paths=["native", "native"]), "--paths names a value twice")):
        with pytest.raises(ValueError, match=message):
            pusht_spread.check(args(**bad), [])
    for own in (["--out", "x"], ["--env", "pointmass1"], ["--seed=7"], ["--episodes", "5"], ["--collect", "1"],
                ["--help"]):                                       # they won over its own, or collected, or helped
        with pytest.raises(ValueError, match=f"{own[0].split('=')[0]} after --: this study sets it"):
            pusht_spread.check(args(), own)


def test_ctrl_c_to_the_spread_and_its_run_is_one_line():
    """A terminal's Ctrl-C reaches the study and the train.py it runs: each printed an `interrupted:` line. The run
    says what it saved; the study now stops without a second line (exit 130)."""
    child = ("import sys, time\ntry:\n    print('rea' + 'dy', flush=True); time.sleep(60)\nexcept KeyboardInterrupt:\n"
             "    print('interrupted: the run saved its state', file=sys.stderr); sys.exit(130)")
    study = (f"from plumbing import runs; from tools.studies import pusht_spread; "
             f"runs.cli(lambda: pusht_spread.run(['-c', {child!r}], 'native'))")
    p = subprocess.Popen([sys.executable, "-c", study], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    while p.stdout.readline() != "ready\n":                             # (the study prints the run's code first)
        assert p.poll() is None, p.stderr.read()
    os.killpg(p.pid, signal.SIGINT)                                    # as the terminal does: the whole group
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130 and err.strip().splitlines() == ["interrupted: the run saved its state"], err


@pytest.mark.needs_solutions
def test_costs_times_every_policy_of_a_table_and_finds_ibc_slower_to_act(tmp_path, capsys):
    """tools.studies.costs on a table holding BeT and IBC: a row for each of the five policies (those the table has
    not run have no rollout length), and IBC's optimiser (4 x 256 energies) costs more per action than BeT's one
    forward pass."""
    import json
    from tools.studies import costs
    os.makedirs(tmp_path / "pointmass1")
    row = {"mean_steps": 8.0, "train_seconds": 1.0}
    json.dump({"runs": {"BeT": [row], "IBC": [row]}}, open(tmp_path / "pointmass1" / "ablations.json", "w"))
    costs.main(["--env", "pointmass1", "--folder", str(tmp_path), "--repeats", "20"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["rows"]) == set(costs.POLICIES)
    assert [name for name, r in result["rows"].items() if r["mean_steps"] is not None] == ["BeT", "IBC"]
    assert result["rows"]["IBC"]["ms_per_action"] > 2 * result["rows"]["BeT"]["ms_per_action"]
    assert all(r["train_seconds"] > 0 for r in result["rows"].values())


@pytest.mark.needs_solutions
def test_eval_batches_times_both_variants_of_a_checkpoint(run_dir, capsys):
    """Its unpadded variant took three arguments after evaluate.py began passing the batch rows: a TypeError on
    every checkpoint. Both variants are timed and their ratio printed."""
    from tools.studies import eval_batches
    eval_batches.main([str(run_dir / "model.pt"), "--episodes", "2", "--repeats", "1"])
    assert "fixed / unpadded (best of 1):" in capsys.readouterr().out


@pytest.mark.needs_solutions                 # (the studies run DAgger's round 0)
@pytest.mark.parametrize("study", ["track_states", "cartpole_margins"])
def test_a_damaged_dagger_round_is_one_line(tmp_path, study):
    """track_states and cartpole_margins read each roundN.npz with np.load: a damaged one was a BadZipFile
    traceback (pusht_states said it in one line). They read it through demofiles' checks now."""
    from helpers import cli, one_error_line
    (tmp_path / "seed0").mkdir()
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "seed0" / "round1.npz").write_bytes(b"PK\x03\x04 not a zip")
    module = importlib.import_module(f"tools.studies.{study}")
    one_error_line(*cli(module, tmp_path), "round1.npz: not a readable .npz file")
