"""envs/track.py, the track env (DAgger's test bed, issue 26) and its expert: seeded, momentum, the off-track rules, the expert
a function of the state."""

import numpy as np
import gymnasium as gym

import envs
from envs import track


def test_same_seed_same_episode_and_the_noise_comes_from_the_seed():
    def run(seed):
        env = envs.make("track")
        obs, _ = env.reset(seed=seed)
        return np.array([obs] + [env.step(np.array([0.05, 0.0], np.float32))[0] for _ in range(5)])
    assert np.array_equal(run(3), run(3))
    assert not np.allclose(run(3), run(4))                       # the actuation noise differs per seed
    kicks = np.diff(run(3)[:, 2:], axis=0) - [0.05, 0.0]          # v <- v + a + N(0, noise^2)
    assert 0.001 < kicks.std() < 3 * track.TRACK["noise"]


def test_momentum_the_position_moves_by_the_new_velocity():
    env = envs.make("track")
    obs, _ = env.reset(seed=0)
    for _ in range(4):
        new, *_ = env.step(np.array([0.1, 0.0], np.float32))
        assert np.allclose(new[:2], obs[:2] + new[2:], atol=1e-6)  # x <- x + v, with the updated v
        obs = new
    assert 0.3 < obs[2] < 0.5                                     # four pushes of 0.1 add up in the velocity


def test_frame_of_a_point_displaced_along_the_normal():
    for a, b in zip(track.TRACK_LINE[:2], track.TRACK_LINE[1:3]):     # the first two segments
        t = (b - a) / np.linalg.norm(b - a)
        for fraction in (0.2, 0.5, 0.8):
            offset, tangent, normal, _ = track.track_frame(a + fraction * (b - a) + 0.2 * np.array([-t[1], t[0]]))
            assert np.isclose(offset, 0.2) and np.allclose(tangent, t) and np.isclose(normal @ tangent, 0)


def test_leaving_the_track_ends_the_episode_as_a_failure():
    env = envs.make("track")
    env.reset(seed=0)
    for step in range(20):
        obs, reward, terminated, truncated, info = env.step(np.array([0.0, -0.15], np.float32))  # off the side
        if terminated:
            break
    assert terminated and not info["success"] and reward == 0.0
    assert abs(track.track_frame(obs[:2].astype(np.float64))[0]) > track.TRACK["half_width"]


def test_crossing_to_the_next_lane_is_a_failure_not_a_shortcut():
    env = envs.make("track")
    env.reset(seed=0)
    env.unwrapped.pos, env.unwrapped.vel = np.array([1.0, 0.5]), np.array([0.0, 0.45])   # first lane, heading up
    obs, reward, terminated, truncated, info = env.step(np.zeros(2, np.float32))
    assert abs(track.track_frame(obs[:2].astype(np.float64))[0]) < track.TRACK["half_width"]   # inside lane two...
    assert terminated and not info["success"]                     # ... but no step gets there along the track


def test_the_expert_finishes_every_episode_and_its_demos_stay_near_the_centre_line():
    for seed in range(10):
        episode = track.demo_episode(seed)
        assert episode["success"]
        offsets = np.abs([track.track_frame(p[:2].astype(np.float64))[0] for p in episode["obs"]])
        assert offsets.max() < track.TRACK["half_width"] and np.median(offsets) < 0.05


def test_the_label_is_a_function_of_the_state_and_steers_back_to_the_centre():
    env = gym.make("Track-v0")
    env.reset(seed=0)
    pos = np.array([1.0, 0.0])                                    # on the first lane's centre line
    _, tangent, normal, _ = track.track_frame(pos)
    for side in (1, -1):
        env.unwrapped.pos, env.unwrapped.vel = pos + side * 0.3 * normal, track.EXPERT_SPEED * tangent
        action = envs.get("track").label(env)
        assert np.allclose(action, track.label(np.concatenate([env.unwrapped.pos, env.unwrapped.vel])))
        assert np.isclose(action @ tangent, 0.0, atol=1e-6)       # already at speed along the line
        assert np.isclose(action @ normal, -side * 0.3 * track.EXPERT_GAIN, atol=1e-6)   # toward the centre
    env.unwrapped.pos, env.unwrapped.vel = pos, np.zeros(2)       # at rest: full push along, clipped
    assert np.allclose(envs.get("track").label(env), [track.TRACK["max_action"], 0.0])
