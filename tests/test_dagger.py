"""tools/dagger.py: the labelled rollouts label every state and mix by beta, beta = 1 is BC, aggregation keeps
episodes, the control arm is trained as DAgger is, and a small run goes end to end with deterministic files."""

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from tools import dagger
import data
import envs
import evaluate
import train
from plumbing import runs
from plumbing import stats
from plumbing import demofiles

SMALL = dict(labels0=30, rounds=2, episodes=2, horizon=20, steps=15, round_steps=15, eval_episodes=2,
             demonstrations="labeller")


def cartpole_cfg():
    return dataclasses.replace(train.env_config("cartpole"), compile=False)


def test_first_transitions_cuts_the_last_episode_to_exactly_n():
    demos = dict(obs=np.arange(10.0)[:, None], actions=np.zeros((10, 1)), episode_ends=np.array([4, 7, 10]),
                 seeds=np.array([5, 6, 7]))
    cut = dagger.first_transitions(demos, 6)
    assert len(cut["obs"]) == 6 and list(cut["episode_ends"]) == [4, 6] and list(cut["seeds"]) == [5, 6]
    assert list(dagger.first_transitions(demos, 4)["episode_ends"]) == [4]


@pytest.mark.ex_dagger
def test_aggregate_keeps_episode_boundaries_and_seeds():
    a = dict(obs=np.arange(5.0)[:, None], actions=np.zeros((5, 1)), episode_ends=np.array([2, 5]), seeds=np.array([1, 2]))
    b = dict(obs=np.arange(5.0, 9.0)[:, None], actions=np.ones((4, 1)), episode_ends=np.array([1, 4]), seeds=np.array([9, 8]))
    both = dagger.aggregate(a, b)
    episodes = data.split_episodes(both)
    assert [list(e["obs"][:, 0]) for e in episodes] == [[0, 1], [2, 3, 4], [5], [6, 7, 8]]
    assert list(both["seeds"]) == [1, 2, 9, 8] and list(both["episode_ends"]) == [2, 5, 6, 9]


def test_beta_is_zero_for_ross_halves_for_half_and_one_for_expert():
    assert [dagger.beta("ross", r) for r in (1, 2, 3)] == [0.0, 0.0, 0.0]
    assert [dagger.beta("half", r) for r in (1, 2, 3)] == [0.5, 0.25, 0.125]
    assert dagger.beta("expert", 5) == 1.0


class ConstantLearner:
    """Stands in for BeT in labelled_rollouts: context 2, and (via bet_policy) always the action `push`."""
    context = 2


def constant_bet_policy(push):
    return lambda model, temperature, seed: (lambda history, ids, envs_: np.full((len(ids), 1), push, np.float32))


@pytest.mark.ex_dagger
@pytest.mark.parametrize("beta_r", [0.0, 0.5, 1.0])
def test_labelled_rollouts_label_every_state_and_mix_by_beta(monkeypatch, beta_r):
    """Every visited state gets the expert's label; the executed action is the expert's exactly on the steps
    where the episode's coin (np.random.default_rng(seed + i)) falls below beta_r, else the learner's."""
    monkeypatch.setattr(dagger.evaluate, "bet_policy", constant_bet_policy(0.0))       # the learner: always push left
    D, _ = dagger.labelled_rollouts(ConstantLearner(), "cartpole", 2, 4000, beta_r, 1.0, horizon=30)
    for i, episode in enumerate(data.split_episodes(D)):
        coins = np.random.default_rng(4000 + i)
        env = envs.make("cartpole")
        obs, _ = env.reset(seed=4000 + i)
        for t in range(len(episode["obs"])):
            np.testing.assert_array_equal(episode["obs"][t], obs)
            label = envs.get("cartpole").label(env)
            np.testing.assert_array_equal(episode["actions"][t], label)
            obs, *_ = env.step(label if coins.random() < beta_r else np.zeros(1, np.float32))
    assert list(D["seeds"]) == [4000, 4001]


@pytest.mark.needs_solutions
def test_beta_one_reproduces_bc_on_the_same_data():
    """With beta = 1 the expert drives every step: a round's data are the expert's own episodes on those seeds,
    and the retrained model is bit for bit BC trained on that data."""
    cfg = cartpole_cfg()
    torch.set_num_threads(1)
    D0 = dagger.first_transitions(dagger.demonstrations("cartpole", SMALL, 30), 30)
    model = dagger.fit(cfg, D0, 0, 15)
    D1, _ = dagger.labelled_rollouts(model, "cartpole", 2, 7000, 1.0, cfg.temperature, horizon=20)
    expert = evaluate.rollout(dagger.label_policy("cartpole"), "cartpole", 2, 7000, max_steps=20)
    np.testing.assert_array_equal(D1["obs"], np.concatenate([t["obs"][:-1] for t in expert]))
    np.testing.assert_array_equal(D1["actions"], np.concatenate([t["actions"] for t in expert]))
    both = dagger.aggregate(D0, D1)
    retrained = dagger.fit(cfg, both, 0, 15, bins=model)
    expert_data = dict(obs=np.concatenate([t["obs"][:-1] for t in expert]), seeds=np.array([7000, 7001]),
                       actions=np.concatenate([t["actions"] for t in expert]).astype(np.float32),
                       episode_ends=np.cumsum([len(t["actions"]) for t in expert]))
    bc = dagger.fit(cfg, dagger.aggregate(D0, expert_data), 0, 15, bins=model)
    for (name, p), q in zip(retrained.state_dict().items(), bc.state_dict().values()):
        assert torch.equal(p, q), name
    learner, _ = dagger.labelled_rollouts(model, "cartpole", 2, 7000, 0.0, cfg.temperature, horizon=20)
    assert not np.array_equal(learner["obs"], D1["obs"]) or not np.array_equal(learner["actions"], D1["actions"])


@pytest.mark.needs_solutions
def test_the_control_is_trained_as_dagger_is_from_round_zeros_weights(monkeypatch):
    """BC's round r continues its round r-1 model (round 0's for r = 1) for round_steps, as DAgger's does: the
    two arms differ in their data only."""
    torch.set_num_threads(1)
    settings = dict(SMALL, labels0=30, steps=15, round_steps=10, warm=True)
    demos = dagger.demonstrations("cartpole", settings, 60)
    cfg, D0, bins = dagger.round0("cartpole", settings, 0, demos)
    start = dagger.fit(cfg, D0, 0, 15, bins=bins).state_dict()
    scored = []                                                    # the weights of each model the control scores
    monkeypatch.setattr(dagger, "score", lambda model, *a: scored.append(model.state_dict()) or {})
    points = dagger.matched_bc("cartpole", 0, settings, [(45, 1), (60, 2)], start, 9000, "unused", log=lambda *a: None)
    assert [(p["labels"], p["round"]) for p in points] == [(45, 1), (60, 2)]
    model = train.build_model(cfg)
    model.load_state_dict(start)
    for n in (45, 60):
        model = dagger.fit(cfg, dagger.first_transitions(demos, n), 0, 10, bins=bins, model=model)
    cold = dagger.fit(cfg, dagger.first_transitions(demos, 60), 0, 10, bins=bins)     # from scratch instead
    assert all(torch.equal(p, q) for p, q in zip(scored[-1].values(), model.state_dict().values()))
    assert not all(torch.equal(p, q) for p, q in zip(scored[-1].values(), cold.state_dict().values()))


@pytest.mark.needs_solutions
def test_two_round_smoke_run_writes_deterministic_files(tmp_path):
    args = ["--env", "cartpole", "--seeds", "1", "--workers", "1", "--rounds", "2", "--labels0", "30", "--episodes", "2",
            "--horizon", "20", "--steps", "15", "--round-steps", "10", "--eval-episodes", "2", "--more", "1"]
    for name in ("a", "b"):
        dagger.main(args + ["--out", str(tmp_path / name), "--json", str(tmp_path / f"{name}.json"),
                            "--plot", str(tmp_path / f"{name}.png")])
    result = json.load(open(tmp_path / "a.json"))
    assert sorted(os.listdir(tmp_path / "a" / "seed0")) == ["round0.npz", "round1.npz", "round2.npz"]
    for f in ("round0.npz", "round1.npz", "round2.npz"):
        assert runs.file_hash(tmp_path / "a" / "seed0" / f) == runs.file_hash(tmp_path / "b" / "seed0" / f)
    dagger_points = [p for p in result["points"] if p["arm"] == "dagger"]
    bc_points = [p for p in result["points"] if p["arm"] == "bc" and p["round"] > 0]
    assert [p["round"] for p in dagger_points] == [1, 2]
    assert [p["labels"] for p in bc_points] == [p["labels"] for p in dagger_points] + [2 * dagger_points[-1]["labels"]]
    assert set(result["labels_to_reach"]) == {"target", "dagger", "bc"}    # matched counts, then --more 1: twice
    sizes = [len(demofiles.load_demos(str(tmp_path / "a" / "seed0" / f"round{r}.npz"))["obs"]) for r in (0, 1, 2)]
    assert np.cumsum(sizes)[1:].tolist() == [p["labels"] for p in dagger_points]
    assert os.path.getsize(tmp_path / "a.png") > 0
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}
    assert strip(result) == strip(json.load(open(tmp_path / "b.json")))
    # a folder holds one run: another --rounds into "a" is refused before any work, and its round2.npz stays its own
    shorter = [a if a != "2" or args[i - 1] != "--rounds" else "1" for i, a in enumerate(args)]
    with pytest.raises(ValueError, match="holds a DAgger run with other settings \\(differs in settings\\)"):
        dagger.main(shorter + ["--out", str(tmp_path / "a"), "--json", str(tmp_path / "c.json"),
                               "--plot", str(tmp_path / "c.png")])
    os.remove(tmp_path / "b" / "run.json")
    with pytest.raises(ValueError, match="rounds of an earlier DAgger run with no record"):
        dagger.main(args + ["--out", str(tmp_path / "b"), "--json", str(tmp_path / "d.json"), "--plot", str(tmp_path / "d.png")])
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "d.json").exists()
    # nor may another run's --json or --plot land in that folder, beside its rounds
    for flag in ("--json", "--plot"):
        outputs = {"--json": str(tmp_path / "e.json"), "--plot": str(tmp_path / "e.png")}
        outputs[flag] = str(tmp_path / "a" / ("e.json" if flag == "--json" else "e.png"))
        with pytest.raises(ValueError, match=f"{flag} .*holds a DAgger run"):
            dagger.main(args + ["--out", str(tmp_path / "e"), "--labels0", "60", *[x for kv in outputs.items() for x in kv]])
    assert not (tmp_path / "e").exists()


def test_pusht_demonstrations_are_its_data_file_in_order():
    settings = dagger.SETTINGS["pusht"]
    assert settings["demonstrations"] == "data"
    demos, stored = dagger.demonstrations("pusht", settings, settings["labels0"]), demofiles.load_demos("data/pusht.npz")
    D0 = dagger.first_transitions(demos, settings["labels0"])
    assert np.array_equal(D0["obs"], stored["obs"][:settings["labels0"]])
    assert D0["episode_ends"][-1] == settings["labels0"] and D0["seeds"][0] == stored["seeds"][0]


def test_summary_pools_the_seeds_episodes_into_one_wilson_interval():
    points = [dict(arm="dagger", round=1, labels=n, success_rate=r) for n, r in ((900, 0.9), (910, 0.8), (920, 0.7))]
    row, = dagger.summarise(points, "success_rate", episodes=100)
    assert row["labels"] == 910 and abs(row["mean"] - 0.8) < 1e-12 and row["ci95"] == stats.wilson(240, 300)
    assert "ci95" not in dagger.summarise([dict(p, mean_return=1.0) for p in points], "mean_return", 100)[0]


def test_more_demonstrations_double_the_last_rounds_labels_and_reach_counts_round_zero_for_both_arms():
    settings = dict(dagger.SETTINGS["track"], rounds=2, more=2)
    assert dagger.controls_of(dict(round=1, labels=700), settings) == [(700, 1)]
    assert dagger.controls_of(dict(round=2, labels=900), settings) == [(900, 2), (1800, 3), (3600, 4)]
    summary = [dict(arm="bc", round=0, labels=500, mean=0.7), dict(arm="bc", round=1, labels=900, mean=0.8),
               dict(arm="bc", round=2, labels=1800, mean=0.96), dict(arm="dagger", round=1, labels=900, mean=0.97)]
    assert dagger.labels_to_reach(summary, "dagger", 0.95) == 900
    assert dagger.labels_to_reach(summary, "bc", 0.95) == 1800
    assert dagger.labels_to_reach(summary, "bc", 0.99) is None
    assert dagger.labels_to_reach(summary, "dagger", 0.6) == 500          # round 0 already there: both arms
