"""tools/bench.py and tools/figures.py: the benchmark prints its numbers as JSON, the figures go outside docs/
unless asked and name a missing run."""

import json
import os

import pytest

from helpers import cli, one_error_line

pytestmark = pytest.mark.needs_solutions   # end to end: the handout (coursework.py) cannot run these


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


def test_figures_write_outside_docs_and_name_the_missing_run(tmp_path, monkeypatch):
    from tools import figures
    monkeypatch.chdir(tmp_path)
    assert figures.parser().parse_args([]).out == os.path.join("runs", "figures")   # docs/ only when asked
    one_error_line(*cli(figures), "runs/pointmass1/model.pt: not found", "train it with: python train.py --env pointmass1")
    assert not os.path.exists(tmp_path / "runs")


@pytest.mark.needs_solutions                 # (trains)
def test_figures_refuse_a_checkpoint_whose_weights_do_not_fit_its_recorded_env(tmp_path, monkeypatch):
    """A CartPole checkpoint whose meta says pointmass1 passed the env check: bins.png was drawn and written, and
    only the rollouts failed. Its observations are checked before any figure now."""
    import torch
    import train
    from tools import figures
    train.main(["--env", "cartpole", "--epochs", "1", "--episodes", "0", "--out", str(tmp_path / "cp")])
    ckpt = torch.load(tmp_path / "cp" / "model.pt", weights_only=True)
    ckpt["meta"]["env"] = "pointmass1"
    torch.save(ckpt, tmp_path / "forged.pt")
    monkeypatch.setattr(figures, "PANELS", {"fig.png": ("pointmass1", [("BeT", str(tmp_path / "forged.pt"), "x")])})
    one_error_line(*cli(figures, "--out", tmp_path / "figs"), "expects 4-D observations but env 'pointmass1' gives 2-D")
    assert not (tmp_path / "figs").exists() or os.listdir(tmp_path / "figs") == []
