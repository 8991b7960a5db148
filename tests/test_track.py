"""The track env (DAgger's test bed, issue 26) and its expert: seeded, the off-track rule, a function of the state."""

import numpy as np
import gymnasium as gym

import envs
import experts


def test_same_seed_same_episode_and_the_noise_comes_from_the_seed():
    def run(seed):
        env = envs.make("track")
        obs, _ = env.reset(seed=seed)
        return np.array([obs] + [env.step(np.array([0.25, 0.0], np.float32))[0] for _ in range(5)])
    assert np.array_equal(run(3), run(3))
    assert not np.allclose(run(3), run(4))                       # the actuation noise differs per seed
    steps = np.diff(run(3), axis=0) - [0.25, 0.0]
    assert 0.001 < steps.std() < 3 * envs.TRACK["noise"]          # executed = action + N(0, noise^2)


def test_frame_of_a_point_displaced_along_the_normal():
    for a, b in zip(envs.TRACK_LINE[:2], envs.TRACK_LINE[1:3]):     # the first two segments
        t = (b - a) / np.linalg.norm(b - a)
        for fraction in (0.2, 0.5, 0.8):
            offset, tangent, normal = envs.track_frame(a + fraction * (b - a) + 0.2 * np.array([-t[1], t[0]]))
            assert np.isclose(offset, 0.2) and np.allclose(tangent, t) and np.isclose(normal @ tangent, 0)


def test_leaving_the_track_ends_the_episode_as_a_failure():
    env = envs.make("track")
    env.reset(seed=0)
    for step in range(10):
        obs, reward, terminated, truncated, info = env.step(np.array([0.0, -0.4], np.float32))  # straight off
        if terminated:
            break
    assert terminated and not info["success"] and reward == 0.0
    assert abs(envs.track_frame(obs.astype(np.float64))[0]) > envs.TRACK["half_width"]


def test_the_expert_finishes_every_episode_and_its_demos_stay_near_the_centre_line():
    for seed in range(10):
        episode = experts.demo_episode_track(seed)
        assert episode["success"]
        offsets = np.abs([envs.track_frame(p.astype(np.float64))[0] for p in episode["obs"]])
        assert offsets.max() < envs.TRACK["half_width"] and np.median(offsets) < 0.05


def test_the_label_is_a_function_of_the_position_and_points_back_to_the_centre():
    env = gym.make("Track-v0")
    env.reset(seed=0)
    pos = np.array([1.0, 0.75])                                   # on the first segment's centre line
    _, tangent, normal = envs.track_frame(pos)
    for side in (1, -1):
        env.unwrapped.pos = pos + side * 0.3 * normal
        action = experts.label("track", env)
        assert np.allclose(action, experts.track_label(env.unwrapped.pos))
        assert np.isclose(action @ tangent, experts.TRACK_SPEED, atol=1e-6)
        assert np.isclose(action @ normal, -side * 0.3 * experts.TRACK_GAIN, atol=1e-6)
