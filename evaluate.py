"""
Roll out a trained policy (Algorithm 1, "Running on the environment") and report its metrics.

    python evaluate.py runs/pointmass1/model.pt --episodes 200 --seed 100000 --json out.json --plot docs/
    python evaluate.py runs/pusht/model.pt --episodes 500 --expert --video pusht.gif   # + expert, imitation ratio
    python evaluate.py --expert --env pusht --episodes 100                           # the scripted expert alone

All episodes run at once: one batched policy call per step for every episode still running.
Episode i is reset with env seed S+i, and its observation history is rebuilt from that reset, so
nothing leaks from one episode into the next.
"""

import os
import time

import numpy as np
import torch

import envs
import plots
import runs


def rollout(policy, env_name, episodes, seed, context=1, render=0, max_steps=None):
    """Algorithm 1, "Running on the environment", for `episodes` episodes at once (env seeds seed, seed+1, ...):
    stack the last `context` observations of every running episode, ask the policy for their actions,
    step, repeat. `policy(history, ids, envs_)` gets history (E_running, context, obs_dim) of the episodes
    `ids` and returns their actions (E_running, act_dim); see bet_policy and expert_policy.
    Returns a list of dicts with 'obs' (T+1, obs_dim), 'actions' (T, act_dim), 'rewards' (T,), 'success',
    'seed', and for the first `render` episodes (PushT) 'frames' (T+1 images) and 'coverage' (T+1,)."""
    envs_ = [envs.make(env_name, **(plots.small_frames() if i < render else {})) for i in range(episodes)]
    first = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs_)]).astype(np.float32)   # (E, obs_dim)
    # an episode's history starts as its first observation repeated, as in training's clamped windows
    history = torch.as_tensor(first)[:, None].repeat(1, context, 1)                              # (E, h, obs_dim)
    traj = [{"obs": [o], "actions": [], "rewards": [], "success": False, "seed": seed + i} for i, o in enumerate(first)]
    for i in range(render):
        traj[i]["frames"], traj[i]["coverage"] = [envs_[i].render()], [0.0]
    running, step = np.ones(episodes, dtype=bool), 0
    while running.any() and (max_steps is None or step < max_steps):
        ids = np.flatnonzero(running)
        actions = policy(history[ids], ids, envs_)                                               # (E_running, act_dim)
        for i, action in zip(ids, actions):
            obs, reward, terminated, truncated, info = envs_[i].step(action)
            t = traj[i]
            t["obs"].append(obs); t["actions"].append(action); t["rewards"].append(float(reward))
            if i < render:
                t["frames"].append(envs_[i].render()); t["coverage"].append(info["coverage"])
            history[i] = torch.cat([history[i, 1:], torch.as_tensor(obs, dtype=torch.float32)[None]])   # drop the oldest
            if terminated or truncated:
                running[i] = False
                t["success"] = episode_success(env_name, terminated, truncated, info)
        step += 1
    for e in envs_:
        e.close()
    return [{k: (np.asarray(v) if isinstance(v, list) else v) for k, v in t.items()} for t in traj]


def bet_policy(model, temperature, seed):
    """BeT as a rollout policy (Sec. 2.4): sample a bin from the last position's categorical, add its offset.
    Episode i's actions depend only on the checkpoint and seed + i (on one thread, as evaluate.main sets):
    not on how many episodes run beside it."""
    generators = {}      # episode i draws from its own generator (seed + i): its result does not depend on --episodes
    def policy(history, ids, envs_):
        for i in ids:
            if i not in generators:
                generators[i] = torch.Generator().manual_seed(seed + int(i))
        rows, pad = [generators[i] for i in ids], max(0, 4 - len(ids))
        if pad:    # on CPU, matmuls of < 4 rows run another kernel, rounded differently: pad with throwaway rows
            history = torch.cat([history, history[:1].expand(pad, -1, -1)])
            rows += [torch.Generator() for _ in range(pad)]
        return model.sample(history, temperature, rows)[:len(ids)].numpy()
    return policy


def expert_policy(experts):
    """Scripted experts as a rollout policy: expert i reads env i's true state and ignores the history."""
    return lambda history, ids, envs_: np.stack([experts[i].act(envs_[i]) for i in ids])


def episode_success(env_name, terminated, truncated, info):
    """Point-mass and PushT succeed by terminating at the goal; CartPole by surviving to the time limit.
    (gym-pusht terminates exactly when coverage > 0.95 and sets info['is_success'] then; its TimeLimit is 300.)"""
    if env_name == "cartpole":
        return bool(truncated and not terminated)
    return bool(terminated and info.get("success", info.get("is_success", False)))


def metrics(env_name, trajectories, seconds):
    """The JSON results: success_rate, mean_return, episodes, seconds, plus per-env metrics: the route each
    point-mass rollout took (the modes, Sec. 3.4), CartPole's worst return, PushT's coverage of the goal."""
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
    pusht = env_name == "pusht"
    if pusht:
        out["mean_max_coverage"] = float(np.mean([t["rewards"].max() for t in trajectories]))
    out["per_episode"] = [{"seed": t["seed"], "success": bool(t["success"]), "return": float(t["rewards"].sum()),
                           "steps": len(t["actions"]), **({"max_coverage": float(t["rewards"].max())} if pusht else {})}
                          for t in trajectories]
    return out


def evaluate(model, env_name, episodes, seed, temperature=1.0, return_trajectories=False, render=0):
    """Roll BeT out and summarise; optionally also return the trajectories (for plots and videos)."""
    runs.check_obs_dim(model, env_name)
    t0 = time.time()
    trajectories = rollout(bet_policy(model, temperature, seed), env_name, episodes, seed, model.context, render)
    results = metrics(env_name, trajectories, time.time() - t0)
    results.update(seed=seed, temperature=temperature)
    return (results, trajectories) if return_trajectories else results


def evaluate_expert(episodes, seed, render=0):
    """evaluate() for the scripted PushT expert: the reference for the imitation ratio."""
    import pusht_expert
    t0 = time.time()
    experts = [pusht_expert.PushTExpert(seed=seed + i, explore=pusht_expert.EXPLORE) for i in range(episodes)]
    trajectories = rollout(expert_policy(experts), "pusht", episodes, seed, render=render)
    results = metrics("pusht", trajectories, time.time() - t0)
    results.update(seed=seed, policy="expert")
    return results, trajectories


def parser():
    p = runs.ArgumentParser(description="Evaluate a trained BeT checkpoint with parallel rollouts.")
    p.add_argument("checkpoint", nargs="?", help="a model.pt written by train.py (optional with --expert: "
                   "without it only the expert is evaluated, on --env pusht)")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=100000, help="episode i uses env seed SEED+i (default 100000)")
    p.add_argument("--env", help="override the env recorded in the checkpoint")
    p.add_argument("--temperature", type=float, help="bin sampling temperature (0 = argmax; default: the one train.py used)")
    p.add_argument("--json", help="write the metrics to this JSON file")
    p.add_argument("--plot", metavar="DIR", help="write figures (trajectories, loss curve) into DIR")
    p.add_argument("--video", metavar="PATH", help="PushT: render the first --video-episodes rollouts side by "
                   "side into PATH (.gif with Pillow, or .mp4 with OpenCV); with --expert and no checkpoint, the expert's")
    p.add_argument("--video-episodes", type=int, default=4, help="episodes drawn by --video (default 4)")
    p.add_argument("--expert", action="store_true", help="PushT: also run the scripted expert on the same seeds "
                   "and print both side by side with the imitation ratio (BeT success / expert success)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    model, env_name, temperature, log = runs.check_evaluate_args(args)     # every flag and file, before any work
    digest = runs.file_hash(args.checkpoint) if model else None           # the bytes these results belong to
    render = min(args.video_episodes, args.episodes) if args.video else 0
    torch.set_num_threads(1)         # tiny batched forward passes: threads cost more than they give
    expert = trajectories = None
    if args.expert:
        expert, trajectories = evaluate_expert(args.episodes, args.seed, render if model is None else 0)
    results = expert
    if model is not None:
        results, trajectories = evaluate(model, env_name, args.episodes, args.seed, temperature, True, render)
        if expert is not None:
            results["imitation_ratio"] = results["success_rate"] / max(expert["success_rate"], 1e-9)
    runs.print_results(results)
    if expert is not None and model is not None:
        runs.print_comparison(results, expert)
        results["expert"] = expert
    if args.video:
        plots.write_video(trajectories, args.video)
        print(f"wrote {args.video}")
    if args.json:
        if model is not None:
            results["checkpoint"] = {"path": args.checkpoint, "sha256": digest}
        runs.write_results(args.json, results, args.checkpoint, digest)
    if args.plot and model is not None:
        plots.evaluation_figures(env_name, trajectories, log, args.plot, runs.plot_tag(model, env_name),
                                 results["success_rate"])


if __name__ == "__main__":
    runs.cli(main)
