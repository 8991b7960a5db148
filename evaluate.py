"""
Roll out a trained policy (Algorithm 1, "Running on the environment") and report its metrics.

    python evaluate.py runs/pointmass1/model.pt --episodes 200 --seed 100000 --json out.json --plot docs/

All episodes run at once: one batched policy call per step for every episode still running.
Episode i is reset with env seed S+i, and its observation history is rebuilt from that reset, so
nothing leaks from one episode into the next.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

import envs
from bet import BeT


def rollout(model, env_name, episodes, seed, temperature=1.0):
    """Run `episodes` episodes in parallel; return a list of dicts with 'obs' (T+1, obs_dim),
    'actions' (T, act_dim), 'rewards' (T,), 'success' (bool)."""
    envs_ = [envs.make(env_name) for _ in range(episodes)]
    obs_dim = envs_[0].observation_space.shape[0]
    if obs_dim != model.config["obs_dim"]:
        raise ValueError(f"the checkpoint expects {model.config['obs_dim']}-D observations but env "
                         f"'{env_name}' gives {obs_dim}-D ones")
    first = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs_)]).astype(np.float32)   # (E, obs_dim)
    # history at the episode start: the first observation repeated, as in training's clamped windows
    history = torch.as_tensor(first)[:, None].repeat(1, model.context, 1)                        # (E, h, obs_dim)
    traj = [{"obs": [o], "actions": [], "rewards": [], "success": False} for o in first]
    running = np.ones(episodes, dtype=bool)
    generator = torch.Generator().manual_seed(seed)
    while running.any():
        ids = np.flatnonzero(running)
        actions = model.sample(history[ids], temperature, generator).numpy()                    # (E_running, act_dim)
        for j, i in enumerate(ids):
            obs, reward, terminated, truncated, info = envs_[i].step(actions[j])
            t = traj[i]
            t["obs"].append(obs); t["actions"].append(actions[j]); t["rewards"].append(float(reward))
            history[i] = torch.cat([history[i, 1:], torch.as_tensor(obs, dtype=torch.float32)[None]])
            if terminated or truncated:
                running[i] = False
                t["success"] = episode_success(env_name, terminated, truncated, info)
    for e in envs_:
        e.close()
    return [{k: (np.asarray(v) if isinstance(v, list) else v) for k, v in t.items()} for t in traj]


def episode_success(env_name, terminated, truncated, info):
    """Point-mass and PushT succeed by terminating at the goal; CartPole by surviving to the time limit."""
    if env_name == "cartpole":
        return bool(truncated and not terminated)
    return bool(terminated and info.get("success", info.get("is_success", False)))


def metrics(env_name, trajectories, seconds):
    """The JSON results: success_rate, mean_return, episodes, seconds, plus per-env metrics."""
    returns = np.array([t["rewards"].sum() for t in trajectories])
    out = {"env": env_name, "success_rate": float(np.mean([t["success"] for t in trajectories])),
           "mean_return": float(returns.mean()), "episodes": len(trajectories), "seconds": round(seconds, 2),
           "mean_steps": float(np.mean([len(t["actions"]) for t in trajectories]))}
    if env_name in envs.ROUTES:
        labels = [envs.classify_route(env_name, t["obs"][:, :2]) for t in trajectories]
        out["routes"] = {r: float(np.mean([lab[0] == r for lab in labels])) for r in envs.ROUTES[env_name]}
        out["single_route"] = float(np.mean([lab[1] for lab in labels]))
    if env_name == "cartpole":
        out["min_return"] = float(returns.min())
    if env_name == "pusht":
        out["mean_max_coverage"] = float(np.mean([t["rewards"].max() for t in trajectories]))
    return out


def evaluate(model, env_name, episodes, seed, temperature=1.0, return_trajectories=False):
    """Roll out and summarise; optionally also return the trajectories (for plots)."""
    t0 = time.time()
    trajectories = rollout(model, env_name, episodes, seed, temperature)
    results = metrics(env_name, trajectories, time.time() - t0)
    results.update(seed=seed, temperature=temperature)
    return (results, trajectories) if return_trajectories else results


def print_results(results):
    """A small aligned table of the results."""
    print(f"\n{'metric':<22} value")
    for key, value in results.items():
        if isinstance(value, dict):
            for k, v in value.items():
                print(f"{key + '/' + k:<22} {v:.3f}")
        else:
            print(f"{key:<22} {value:.3f}" if isinstance(value, float) else f"{key:<22} {value}")


def plot_trajectories(env_name, trajectories, path, title):
    """Point-mass rollouts drawn over the demonstrated routes (matplotlib, imported lazily)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 4))
    draw_pointmass(ax, env_name, [t["obs"][:, :2] for t in trajectories], title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_pointmass(ax, env_name, paths, title):
    """Draw the demonstrated routes, the block, and trajectories coloured by the route they follow."""
    import matplotlib.patches as patches
    colors = ["tab:blue", "tab:orange", "tab:green"]
    cfg = envs.POINTMASS[env_name]
    if cfg.get("block") is not None:
        (x0, y0), (x1, y1) = cfg["block"]
        ax.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, color="0.8"))
    routes = list(envs.ROUTES[env_name])
    for xy in paths:
        route, single = envs.classify_route(env_name, xy)
        color = colors[routes.index(route)] if single else "tab:red"
        ax.plot(xy[:, 0], xy[:, 1], color=color, alpha=0.25, lw=1)
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")


def plot_losses(train_log, path):
    """Loss curve of one training run from its train_log.json."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    h = train_log["history"]
    fig, ax = plt.subplots(figsize=(5, 3))
    for key in ("loss", "focal", "offset"):
        ax.plot([r["epoch"] for r in h], [r[key] for r in h], label=key)
    ax.set_yscale("log"); ax.set_xlabel("epoch"); ax.legend()
    ax.set_title(f"{train_log['meta']['env']} ({train_log['meta']['policy']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description="Evaluate a trained BeT checkpoint with parallel rollouts.")
    p.add_argument("checkpoint", help="a model.pt written by train.py")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=100000, help="episode i uses env seed SEED+i (default 100000)")
    p.add_argument("--env", help="override the env recorded in the checkpoint")
    p.add_argument("--temperature", type=float, help="bin sampling temperature (0 = argmax; default: the one train.py used)")
    p.add_argument("--json", help="write the metrics to this JSON file")
    p.add_argument("--plot", metavar="DIR", help="write figures (trajectories, loss curve) into DIR")
    args = p.parse_args(argv)
    if args.episodes < 1:
        raise ValueError("--episodes must be at least 1")
    model = BeT.load(args.checkpoint)
    env_name = args.env or model.meta.get("env")
    if env_name not in envs.ENV_NAMES:
        raise ValueError(f"unknown env '{env_name}'; choose one of {', '.join(envs.ENV_NAMES)}")
    torch.set_num_threads(1)         # tiny batched forward passes: threads cost more than they give
    temperature = args.temperature if args.temperature is not None else model.meta.get("temperature", 1.0)
    results, trajectories = evaluate(model, env_name, args.episodes, args.seed, temperature, True)
    print_results(results)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2)
        os.replace(tmp, args.json)
    if args.plot:
        os.makedirs(args.plot, exist_ok=True)
        tag = f"{env_name}-{model.meta.get('policy', 'bet')}"
        if env_name in envs.ROUTES:
            plot_trajectories(env_name, trajectories, os.path.join(args.plot, f"{tag}-rollouts.png"),
                              f"{tag}: {results['success_rate']:.0%} success")
        log = os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "train_log.json")
        if os.path.exists(log):
            with open(log) as f:
                plot_losses(json.load(f), os.path.join(args.plot, f"{tag}-loss.png"))


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
