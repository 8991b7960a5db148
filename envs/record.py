"""
The record every environment module exports (`RECORD`, or one per variant): all that the rest of the project
needs to know about an environment, declared in one place. train, evaluate, the plumbing and the tools look it up
by name with `envs.get(name)`; none of them compares environment names.
"""

import dataclasses
from typing import Callable, Optional

import numpy as np


def reached_goal(terminated, truncated, info):
    """Success by terminating at the goal (the env sets info['success']; gym-pusht sets info['is_success'])."""
    return bool(terminated and info.get("success", info.get("is_success", False)))


def no_metrics(trajectories):
    return {}, [{} for _ in trajectories]


@dataclasses.dataclass(frozen=True)
class Env:
    name: str
    make: Callable                  # make(**gym options) -> a gymnasium env with a flat float32 observation
    demo_episode: Callable          # demo_episode(seed) -> dict(obs, actions, ..., success): the scripted expert's
                                    # episode (module-level: it is sent to worker processes)
    settings: dict                  # train.Config fields for this env, each departure from App. B with its reason
    label: Optional[Callable] = None          # label(env) -> the expert's action for env's current true state (DAgger)
    expert: Optional[Callable] = None         # expert(seed) -> act(env, obs) -> action: evaluate.py --expert
    success: Callable = reached_goal          # success(terminated, truncated, info) -> bool
    has_return: bool = True                   # False where the summed reward means nothing (PushT's coverage)
    metrics: Callable = no_metrics            # metrics(trajectories) -> (dict added to evaluate's results,
                                              #   one dict added to each episode's line)
    state: Optional[Callable] = None          # state(env) -> a vector recorded every step of a rollout ('state')
    score: Optional[tuple] = None             # (caption format, (env, info) -> number): a video frame's caption;
                                              # info is None at reset (None: no frames, so no --video)
    figure: Optional[Callable] = None         # figure(plt, trajectories, title) -> fig: evaluate.py --plot
    video_legend: str = ""                    # what the rendered frames' shapes and colours are (under a --video)
    data_extra: dict = dataclasses.field(default_factory=dict)   # extra per-step arrays a dataset must hold
    metric: str = "success_rate"              # what the ablation table and the k sweep judge the env by
    k_sweep: tuple = (1, 2, 4, 8)             # the k values of tools.ablations' sweep (Fig. 6)
    dagger: Optional[dict] = None             # tools.dagger's budgets (None: no DAgger experiment)
    dagger_learner: dict = dataclasses.field(default_factory=dict)   # tools.dagger's changes to `settings`


def record_episode(env, seed, policy):
    """Step `env` from reset(seed) with policy(obs) -> (executed action, label) until it ends, then close it.
    Returns (episode arrays obs, actions, next_obs as float32, terminated, the last step's info)."""
    obs, _ = env.reset(seed=seed)
    episode = {"obs": [], "actions": [], "next_obs": []}
    done = False
    while not done:
        executed, label = policy(obs)
        next_obs, _, terminated, truncated, info = env.step(executed)
        episode["obs"].append(obs)
        episode["actions"].append(label)
        episode["next_obs"].append(next_obs)
        obs, done = next_obs, terminated or truncated
    env.close()
    return {key: np.array(value, dtype=np.float32) for key, value in episode.items()}, terminated, info
