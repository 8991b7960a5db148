"""evaluate.py: an episode depends on its seed only, the results' Wilson interval, progress lines, --video-pick,
and what --expert and --video accept."""

import numpy as np
import pytest
import torch

import data
import envs
import evaluate
import train
from helpers import cli
from plumbing import demofiles
from plumbing import runs
from plumbing import stats


@pytest.mark.needs_solutions
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


@pytest.mark.needs_solutions
def test_success_rates_carry_a_wilson_interval():
    assert stats.wilson(87, 100) == [0.7902, 0.9224]                  # 87/100: centre 0.856, half-width 0.066
    assert stats.wilson(0, 20)[0] == 0.0 and stats.wilson(20, 20)[1] == 1.0
    trajectories = [{"success": s, "rewards": np.ones(3), "actions": np.zeros((3, 2)), "obs": np.zeros((4, 2)), "seed": i}
                    for i, s in enumerate([True] * 9 + [False])]
    results = evaluate.metrics("cartpole", trajectories, 0.0)
    assert results["success_rate"] == 0.9 and results["success_ci95"] == stats.wilson(9, 10)


@pytest.mark.needs_solutions
def test_evaluation_reports_progress_and_where_it_wrote(run_dir, tmp_path, capsys):
    code, _ = cli(evaluate, run_dir / "model.pt", "--episodes", 20, "--json", tmp_path / "e.json")
    out = capsys.readouterr().out
    assert code == 0 and "evaluate: 10/20 episodes ended" in out and f"wrote {tmp_path / 'e.json'}" in out
    assert "95 % Wilson interval" in out and "fraction of episodes that succeed" in out


@pytest.mark.needs_solutions
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


def test_evaluate_needs_a_checkpoint_or_expert():
    with pytest.raises(ValueError, match="--expert"):
        evaluate.main(["--episodes", "1"])


def test_expert_and_video_accept_blockpush_and_still_refuse_the_other_envs(tmp_path):
    import evaluate as ev
    with pytest.raises(ValueError, match="pusht and blockpush only"):
        ev.main(["--expert", "--env", "cartpole", "--episodes", "1"])
    with pytest.raises(ValueError, match="pusht and blockpush only"):
        ev.main(["--expert", "--env", "pointmass1", "--episodes", "1", "--video", str(tmp_path / "v.gif")])
    assert not (tmp_path / "v.gif").exists()


def test_rollout_figures_carry_a_legend():
    """evaluate --plot's rollout figures say what their colours mean (point-mass routes and the red 'leaves every
    route'; PushT's successes and failures)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fake = {"pointmass1": [{"obs": np.stack([np.linspace(0, 1, 20)] * 2, 1), "success": True}],
            "pusht": [{"obs": np.random.default_rng(0).uniform(0, 512, (30, 18)), "success": s} for s in (True, False)]}
    for env, trajectories in fake.items():
        fig = envs.get(env).figure(plt, trajectories, env)
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert len(labels) >= 2, (env, labels)
        plt.close(fig)
