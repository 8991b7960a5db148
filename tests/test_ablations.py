"""The ablation driver (Table 3 / Fig. 6) with tiny settings: table shape, keys and files."""

import json

import pytest

import ablations
import train


def test_driver_smoke(tmp_path, capsys):
    out, runs = tmp_path / "docs", tmp_path / "runs"
    k = train.ENVS["pointmass1"]["k"]
    ablations.main(["--env", "pointmass1", "--seeds", "2", "--episodes", "2", "--epochs", "1",
                    "--k-sweep", f"1,{k}", "--out", str(out), "--runs", str(runs)])
    n = len(ablations.VARIANTS)              # k=1 and k=default share runs with two variants: only n trained
    assert f"{n * 2} runs ({n + 2} variants x 2 seeds" in capsys.readouterr().out
    result = json.loads((out / "ablations.json").read_text())
    assert list(result["table"]) == list(ablations.VARIANTS)
    for row in result["table"].values():
        assert {"mean", "std", "relative_mean", "relative_std", "success_rate", "route_entropy"} <= set(row)
    bet = result["table"]["BeT"]
    assert bet["mean"] == 0 or bet["relative_mean"] == pytest.approx(1.0)      # BeT is the reference
    assert set(result["k_sweep"]) == {"1", str(k)} and result["k_sweep"][str(k)] == result["table"]["BeT"]  # reused
    assert result["k_sweep"]["1"] == result["table"]["No binning (k=1)"]                  # reused, not retrained
    assert all(len(v) == 2 for v in result["runs"].values())                   # every run, every seed
    table = (out / "ablations.md").read_text().splitlines()
    assert sum(line.startswith("| ") for line in table) == 1 + len(ablations.VARIANTS)   # header + one row each
    assert (out / "k_sweep.png").exists()
    from bet import BeT
    assert BeT.load(runs / "discretizer_uniform-seed0" / "model.pt").config["discretizer"] == "uniform"
    assert BeT.load(runs / "k_1-seed1" / "model.pt").k == 1


def test_route_entropy():
    assert ablations.route_entropy({"a": 0.5, "b": 0.5}) == pytest.approx(1.0)
    assert ablations.route_entropy({"a": 1.0, "b": 0.0, "c": 0.0}) == 0.0
    assert 0 < ablations.route_entropy({"a": 0.8, "b": 0.2}) < 1


def test_bad_variant_is_rejected():
    with pytest.raises(ValueError, match="--variants"):
        ablations.main(["--env", "pointmass1", "--variants", "BeT,Nonsense"])


def test_workers_do_not_change_the_numbers(tmp_path):
    """Two workers train the same runs as one: every run is one process on one thread."""
    results = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        ablations.main(["--env", "pointmass2", "--seeds", "2", "--episodes", "3", "--epochs", "1", "--k-sweep", "none",
                        "--variants", "BeT,No history (context 1)", "--workers", str(workers),
                        "--out", str(out / "docs"), "--runs", str(out / "runs")])
        runs = json.loads((out / "docs" / "ablations.json").read_text())["runs"]
        results.append({n: [{k: v for k, v in r.items() if "seconds" not in k} for r in rs] for n, rs in runs.items()})
    assert results[0] == results[1]


def test_finished_runs_are_reused_only_for_the_same_command(tmp_path):
    """An interrupted table resumes: a run with the same command is read back, a changed one is retrained."""
    base = ["--env", "pointmass1", "--seeds", "1", "--epochs", "1", "--variants", "BeT", "--k-sweep", "none",
            "--out", str(tmp_path / "docs"), "--runs", str(tmp_path / "runs")]
    model = tmp_path / "runs" / "bet-seed0" / "model.pt"
    ablations.main(base + ["--episodes", "2"])
    first = model.stat().st_mtime_ns
    ablations.main(base + ["--episodes", "2"])
    assert model.stat().st_mtime_ns == first                                     # reused
    ablations.main(base + ["--episodes", "3"])
    second = model.stat().st_mtime_ns
    assert second != first                                                       # another command: retrained
    assert json.loads((tmp_path / "docs" / "ablations.json").read_text())["runs"]["BeT"][0]["episodes"] == 3
    ablations.main(base + ["--episodes", "3", "--fresh"])
    assert model.stat().st_mtime_ns != second                                    # --fresh: retrained
