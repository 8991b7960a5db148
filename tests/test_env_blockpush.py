"""envs/blockpush.py, Block push in 2-D: the env's physics and success rule, the oracle's two coin flips, the
Table 1 / Table 2 metrics on hand-made rollouts, the shipped demonstrations, and BeT on them end to end."""

import math

import gymnasium as gym
import numpy as np
import pytest

from envs import blockpush
import data
import envs
import evaluate
from envs.record import record_episode
from envs.blockpush import HALF, AGENT_RADIUS, TARGETS, TOLERANCE
from plumbing import demofiles


def placed(agent, red, green):
    """A reset env with the agent and blocks moved to the given positions (physics settled by one zero step)."""
    env = envs.make("blockpush")
    env.reset(seed=0)
    inner = env.unwrapped
    inner.agent.position = agent
    inner.blocks["red"].position, inner.blocks["green"].position = red, green
    return env, inner


def test_same_seed_same_episode_other_seed_other_start():
    def episode(seed):
        env = gym.make("BlockPush2D-v0")
        obs, _ = env.reset(seed=seed)
        rng, out = np.random.default_rng(5), [obs]
        for _ in range(40):
            out.append(env.step(rng.uniform(-40, 40, 2))[0])
        return np.array(out)
    assert np.array_equal(episode(3), episode(3))
    assert not np.allclose(episode(3)[0], episode(4)[0])
    assert envs.make("blockpush").observation_space.shape == (6,)


def test_success_rule_on_hand_placed_blocks():
    red, green = np.array(TARGETS["red"]), np.array(TARGETS["green"])
    far = (256.0, 60.0)
    cases = [((red, green), True),                          # each block in its own colour's target
             ((green, red), True),                          # swapped: also a success (the second mode)
             ((red + (TOLERANCE - 0.5, 0), green), True),   # just inside the tolerance
             ((red + (0, -(TOLERANCE + 0.5)), green), False),  # just outside
             ((red, (256.0, 300.0)), False)]                # one block home only
    for (r, g), success in cases:
        env, inner = placed(far, tuple(r), tuple(g))
        info = inner.info()
        assert info["success"] is success, (r, g)
    env, inner = placed(far, tuple(red), tuple(green))
    assert env.step(np.zeros(2))[2] is True                    # terminated on success
    assert math.isclose(TOLERANCE, 0.05 * 512)


def test_a_pushed_block_moves_and_stops_and_never_rotates():
    env, inner = placed((256.0, 200.0), (256.0, 250.0), (400.0, 100.0))
    start = np.array(inner.blocks["red"].position)
    for _ in range(8):                                           # drive the agent up into the block
        obs = env.step(np.array([0.0, 20.0]))[0]
    moved = obs[2:4] - start
    assert moved[1] > 20 and abs(moved[0]) < 2 and inner.blocks["red"].angle == 0.0
    for _ in range(3):
        obs = env.step(np.array([0.0, -30.0]))[0]                # back off: the block stays where it was left
    still = obs[2:4].copy()
    assert np.allclose(env.step(np.zeros(2))[0][2:4], still)


def test_the_oracles_two_choices_are_fair_and_independent_over_1000_seeds():
    flips = np.array([(o.first == "green", o.swap) for o in map(blockpush.BlockPushOracle, range(1000))], float)
    for column in flips.T:                                       # each coin: |count - 500| within 3.3 sigma
        assert abs(column.sum() - 500) < 3.3 * math.sqrt(250)
    table = np.array([[np.sum((flips[:, 0] == a) & (flips[:, 1] == b)) for b in (0, 1)] for a in (0, 1)])
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / 1000
    assert ((table - expected) ** 2 / expected).sum() < 10.83    # chi-square, 1 dof, p = 0.001


@pytest.mark.parametrize("seed", range(12))
def test_the_oracle_solves_and_its_rollout_shows_its_choices(seed):
    episode = blockpush.demo_episode(seed)
    oracle, policy = blockpush.demo_policy(seed)
    full, terminated, _ = record_episode(envs.make("blockpush"), seed, policy)       # the same episode, last state kept
    assert terminated and episode.pop("success") and np.array_equal(full["obs"], episode["obs"])
    m = blockpush.modes(np.concatenate([full["obs"], full["next_obs"][-1:]]))   # what the metrics read
    other = {"red": "green", "green": "red"}
    assert m["first"] == oracle.first and m["both"] and m["reached"] == 2
    assert m["target"] == {b: (other[b] if oracle.swap else b) for b in blockpush.BLOCKS}
    assert tuple(episode["choice"][0]) == (oracle.first == "green", oracle.swap)


def rollout_by_hand(first, swap):
    """A hand-made rollout (states only) of one mode: the agent touches `first`, which then slides into its
    target, then the other block likewise."""
    home = {"red": "green", "green": "red"} if swap else {"red": "red", "green": "green"}
    pos = {"red": np.array([150.0, 220.0]), "green": np.array([360.0, 220.0])}
    states = []
    def state(agent):
        states.append(np.concatenate([agent, pos["red"], pos["green"]]))
    state(np.array([256.0, 60.0]))
    for block in (first, "green" if first == "red" else "red"):
        start, goal = pos[block].copy(), np.array(TARGETS[home[block]])
        for f in np.linspace(0, 1, 6):
            pos[block] = start + f * (goal - start)
            d = (goal - start) / np.linalg.norm(goal - start)
            state(pos[block] - d * (HALF / np.abs(d).max() + AGENT_RADIUS))   # the disc touching the block
    return np.array(states, np.float32)


def test_metrics_on_hand_made_rollouts_one_per_mode():
    modes = [blockpush.modes(rollout_by_hand(first, swap)) for first, swap in blockpush.ORDERS]
    for (first, swap), m in zip(blockpush.ORDERS, modes):
        assert m["first"] == first and m["reached"] == 2 and m["pushed"] == 2 and m["both"]
        assert (m["target"]["red"] == "green") is swap
    tables = blockpush.tables(modes)
    t = tables["blockpush"]
    assert t["R2"] == t["P2"] == 1.0 and t["first_red"] == t["first_green"] == 0.5
    assert t["red_to_red"] == t["red_to_green"] == t["green_to_red"] == t["green_to_green"] == 0.5
    assert math.isclose(tables["order_entropy_nats"], math.log(4))
    nothing = blockpush.modes(np.tile(rollout_by_hand("red", False)[:1], (5, 1)))   # the agent never moves
    assert nothing == {"reached": 0, "first": None, "pushed": 0, "both": False, "target": {"red": None, "green": None}}
    tables = blockpush.tables(modes[:1] * 3 + [nothing])
    assert tables["blockpush"]["P2"] == 0.75 and tables["blockpush_ci95"]["P2"][0] < 0.75 < tables["blockpush_ci95"]["P2"][1]
    assert tables["order_entropy_nats"] == 0.0                  # one order only: no entropy


def test_shipped_demonstrations_are_1000_fair_episodes():
    d = demofiles.load_demos(data.default_path("blockpush"), 6, 2, extra={"choice": 2})
    ends = d["episode_ends"]
    assert len(ends) == 1000 and np.array_equal(d["seeds"], np.arange(1000))
    choice = d["choice"][ends - 1]
    assert np.array_equal(choice, [(blockpush.BlockPushOracle(s).first == "green", blockpush.BlockPushOracle(s).swap)
                                   for s in d["seeds"]])
    assert all(abs(c.mean() - 0.5) < 0.05 for c in choice.T)
    assert np.abs(d["actions"]).max() <= blockpush.MAX_DELTA


def test_render_draws_agent_blocks_and_targets():
    env = envs.make("blockpush", visualization_width=64, visualization_height=64)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    colours = {tuple(c) for c in frame.reshape(-1, 3)}
    assert {(220, 50, 50), (40, 170, 60), (65, 105, 225)} <= colours


@pytest.mark.needs_solutions                                     # end to end: trains a (tiny) BeT
def test_train_evaluate_plot_and_video_on_a_small_dataset(tmp_path):
    import json
    import evaluate as ev
    from plumbing import runs
    import train
    demos = data.collect(blockpush.demo_episode, 6, seed=50, workers=1, log=lambda *a: None)
    runs.save_demos(str(tmp_path / "demos.npz"), demos)
    train.main(["--env", "blockpush", "--data", str(tmp_path / "demos.npz"), "--epochs", "1", "--no-compile",
                "--episodes", "0", "--out", str(tmp_path / "run")])
    ev.main([str(tmp_path / "run" / "model.pt"), "--episodes", "2", "--json", str(tmp_path / "eval.json"),
             "--plot", str(tmp_path / "plots"), "--video", str(tmp_path / "v.gif"), "--video-episodes", "1"])
    results = json.loads((tmp_path / "eval.json").read_text())
    assert set(results["blockpush"]) == set(results["blockpush_ci95"]) == {
        "R1", "R2", "P1", "P2", "first_red", "first_green", "red_to_red", "red_to_green", "green_to_red",
        "green_to_green"}
    assert results["blockpush"]["P2"] == results["success_rate"]      # success is both blocks in different targets
    assert {"first", "target"} <= set(results["per_episode"][0])
    assert (tmp_path / "plots" / "blockpush-bet-rollouts.png").exists()
    assert (tmp_path / "v.gif").read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    ev.main(["--expert", "--env", "blockpush", "--episodes", "4", "--json", str(tmp_path / "oracle.json")])
    oracle = json.loads((tmp_path / "oracle.json").read_text())
    assert oracle["policy"] == "expert" and oracle["blockpush"]["P2"] == 1.0     # the oracle without its noise


@pytest.mark.slow
def test_blockpush_default_config_reaches_the_targets(tmp_path, capsys):
    """`python train.py --env blockpush`: R2 >= 0.95 and P2 >= 0.75 (the issue's targets) on 100 held-out seeds,
    with the first block and each target within 0.10 of the demonstrations' shares."""
    import json
    import train
    with capsys.disabled():                          # ~10 min of training: its progress lines reach the terminal
        train.main(["--env", "blockpush", "--out", str(tmp_path / "run"), "--threads", "1"])
    r = json.loads((tmp_path / "run" / "eval.json").read_text())
    demos = demofiles.load_demos(data.default_path("blockpush"))
    choice = demos["choice"][demos["episode_ends"] - 1].mean(0)              # (green first, swapped)
    b = r["blockpush"]
    assert b["R2"] >= 0.95 and b["P2"] >= 0.75 and r["train_seconds"] <= 15 * 60, r
    assert abs(b["first_green"] - choice[0]) <= 0.1 and abs(b["red_to_green"] - choice[1]) <= 0.1, r
