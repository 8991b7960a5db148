"""
Roll out a trained policy (Algorithm 1, "Running on the environment") and report its metrics.

    python evaluate.py runs/pointmass1/model.pt --episodes 200 --seed 100000 --json out.json --plot docs/
    python evaluate.py runs/pusht/model.pt --episodes 500 --expert --video pusht.gif   # + expert, imitation ratio
    python evaluate.py --expert --env pusht --episodes 100                           # the scripted expert alone

All episodes run at once: one batched policy call per step for every episode still running.
Episode i is reset with env seed S+i, and its observation history is rebuilt from that reset, so
nothing leaks from one episode into the next.
"""

if __name__ == "__main__":
    import plumbing.early             # Ctrl-C while torch loads: exit 130, one line

import time

import numpy as np
import torch

import envs
from plumbing import plots, runs
from plumbing.stats import wilson


def rollout(policy, env_name, episodes, seed, context=1, render=0, max_steps=None, progress=None):
    """Algorithm 1, "Running on the environment", for `episodes` episodes at once (env seeds seed, seed+1, ...):
    stack the last `context` observations of every running episode, ask the policy for their actions,
    step, repeat. `policy(history, ids, envs_)` gets history (E_running, context, obs_dim) of the episodes
    `ids` and returns their actions (E_running, act_dim); see bet_policy and expert_policy.
    Returns a list of dicts with 'obs' (T+1, obs_dim), 'actions' (T, act_dim), 'rewards' (T,), 'success',
    'seed', 'last_info' (the env's info at the last step), 'state' (T+1, ...) where the env's record names a state, and for the first `render` episodes
    'frames' (T+1 images) and 'score' (T+1,: the record's caption number, e.g. PushT's coverage).
    `progress(episodes ended, successes so far)`, if given, is called whenever an episode ends."""
    record = envs.get(env_name)
    envs_ = [record.make(**(plots.small_frames() if i < render else {})) for i in range(episodes)]
    first = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs_)]).astype(np.float32)   # (E, obs_dim)
    # an episode's history starts as its first observation repeated, as in training's clamped windows
    history = torch.as_tensor(first)[:, None].repeat(1, context, 1)                              # (E, h, obs_dim)
    traj = [{"obs": [o], "actions": [], "rewards": [], "success": False, "seed": seed + i} for i, o in enumerate(first)]
    for i, (t, e) in enumerate(zip(traj, envs_)):
        record_extras(t, e, record, i < render)
    running, step = np.ones(episodes, dtype=bool), 0
    while running.any() and (max_steps is None or step < max_steps):
        ids = np.flatnonzero(running)
        actions = policy(history[ids], ids, envs_)                                               # (E_running, act_dim)
        for i, action in zip(ids, actions):
            obs, reward, terminated, truncated, info = envs_[i].step(action)
            t = traj[i]
            t["obs"].append(obs); t["actions"].append(action); t["rewards"].append(float(reward))
            record_extras(t, envs_[i], record, i < render, info)
            history[i] = torch.cat([history[i, 1:], torch.as_tensor(obs, dtype=torch.float32)[None]])   # drop the oldest
            if terminated or truncated:
                running[i], t["last_info"] = False, info
                t["success"] = record.success(terminated, truncated, info)
                if progress:
                    progress(int((~running).sum()), sum(bool(u["success"]) for u in traj))
        step += 1
    for e in envs_:
        e.close()
    return [{k: (np.asarray(v) if isinstance(v, list) else v) for k, v in t.items()} for t in traj]


def record_extras(t, env, record, rendered, info=None):
    """What a trajectory keeps besides obs, actions, rewards: the env record's state (e.g. PushT's 5-D pose, to tell
    which edge is pushed first) and, when rendered, the frame and its caption's number (the record's score)."""
    if record.state:
        t.setdefault("state", []).append(record.state(env))
    if rendered:
        t.setdefault("frames", []).append(env.render())
        t.setdefault("score", []).append(record.score[1](env, info) if record.score else 0.0)


def bet_policy(model, temperature, seed):
    """BeT as a rollout policy (Sec. 2.4): sample a bin from the last position's categorical, add its offset.
    (Any model with BeT.sample's signature and an obs_mean buffer runs so: the Sec. 3.2 baselines too; one whose
    `chunk` is set returns (B, chunk, act_dim) and its chunks are played open loop.)
    Episode i's actions depend only on the checkpoint, seed + i and the kernel path (one thread, as evaluate.main
    sets): not on how many episodes run beside it, since every batch has one shape (runs.in_fixed_batches)."""
    generators = {}      # episode i draws from its own generator (seed + i): its result does not depend on --episodes
    plans = {}           # episode i's actions still to play of its last decoded chunk (the VAE baseline)
    def policy(history, ids, envs_):
        for i in map(int, ids):
            if i not in generators:                                            # seeded once, at its first step
                generators[i] = torch.Generator().manual_seed(seed + i)
        rows = [generators[int(i)] for i in ids]
        sample = lambda batch, draws: model.sample(batch.to(model.obs_mean.device), temperature, draws)
        size = getattr(model, "batch_rows", runs.ROWS)                         # rows per policy call
        if not getattr(model, "chunk", None):
            return runs.in_fixed_batches(sample, history, rows, size).numpy()  # (E_running, act_dim)
        # the VAE baseline (App. B) decodes a chunk of actions and plays it open loop, one a step, then samples again
        empty = [j for j, i in enumerate(ids) if not plans.get(int(i))]
        if empty:
            chunks = runs.in_fixed_batches(sample, history[empty], [rows[j] for j in empty], size)   # (E_empty, H, D)
            plans.update((int(ids[j]), list(chunk.numpy())) for j, chunk in zip(empty, chunks))
        return np.stack([plans[int(i)].pop(0) for i in ids])                   # (E_running, act_dim)
    return policy


def expert_policy(experts):
    """Scripted experts as a rollout policy: expert i acts on env i (its true state) or on its latest observation."""
    return lambda history, ids, envs_: np.stack([experts[i](envs_[i], h[-1].numpy()) for h, i in zip(history, ids)])


def metrics(env_name, trajectories, seconds):
    """The JSON results: success_rate with its 95 % Wilson interval, episodes, the rollouts' wall time in seconds,
    mean_steps, mean_return (where the env's return means something), then what the env's record adds (the
    routes of the point-mass rollouts, the modes of Sec. 3.4; PushT's coverage; Block push's Tables 1 and 2),
    and one line per episode."""
    record = envs.get(env_name)
    returns, wins = np.array([t["rewards"].sum() for t in trajectories]), sum(bool(t["success"]) for t in trajectories)
    out = {"env": env_name, "success_rate": wins / len(trajectories), "success_ci95": wilson(wins, len(trajectories)),
           "episodes": len(trajectories), "seconds": round(seconds, 2),
           "mean_steps": float(np.mean([len(t["actions"]) for t in trajectories]))}
    if record.has_return:
        out["mean_return"] = float(returns.mean())
    summary, per_episode = record.metrics(trajectories)
    out.update(summary)
    out["per_episode"] = [{"seed": t["seed"], "success": bool(t["success"]), "return": float(t["rewards"].sum()),
                           "steps": len(t["actions"]), **extra} for t, extra in zip(trajectories, per_episode)]
    return out


def evaluate(model, env_name, episodes, seed, temperature=1.0, return_trajectories=False, render=0, log=None):
    """Roll BeT out and summarise; optionally also return the trajectories (for plots and videos). With `log`,
    a progress line every tenth of the episodes."""
    runs.check_obs_dim(model, env_name)
    t0 = time.time()
    trajectories = rollout(bet_policy(model, temperature, seed), env_name, episodes, seed, model.context, render,
                           progress=runs.episode_progress(episodes, log) if log else None)
    results = metrics(env_name, trajectories, time.time() - t0)
    results.update(seed=seed, temperature=temperature, kernel_path=runs.kernel_path())
    return (results, trajectories) if return_trajectories else results


def evaluate_expert(episodes, seed, render=0, env_name="pusht"):
    """evaluate() for the env's scripted expert (PushT's planner, the Block push oracle; without the
    demonstrations' noise): the reference for the imitation ratio."""
    t0 = time.time()
    policy = expert_policy([envs.get(env_name).expert(seed + i) for i in range(episodes)])
    trajectories = rollout(policy, env_name, episodes, seed, render=render)
    results = metrics(env_name, trajectories, time.time() - t0)
    results.update(seed=seed, policy="expert", kernel_path=runs.kernel_path())
    return results, trajectories


def filmed(args, model, env_name, temperature, trajectories):
    """The episodes --video draws: the first ones (rendered during the evaluation), or the first failures or
    successes, replayed with rendering on: episode i depends only on its seed (see bet_policy), so it repeats."""
    if args.video_pick == "first":
        return trajectories
    seeds = [t["seed"] for t in trajectories if t["success"] == (args.video_pick == "successes")][:args.video_episodes]
    if model is None:
        return [evaluate_expert(1, s, 1, env_name)[1][0] for s in seeds]
    return [rollout(bet_policy(model, temperature, s), env_name, 1, s, model.context, render=1)[0] for s in seeds]


def main(argv=None):
    args = runs.evaluate_parser().parse_args(argv)
    model, env_name, temperature, log = runs.check_evaluate_args(args)     # every flag and file, before any work
    digest = runs.file_hash(args.checkpoint) if model else None           # the bytes these results belong to
    render = min(args.video_episodes, args.episodes) if args.video and args.video_pick == "first" else 0
    torch.set_num_threads(1)         # tiny batched forward passes: threads cost more than they give
    if model is not None:
        model.to(args.device)
    expert = trajectories = None
    if args.expert:
        expert, trajectories = evaluate_expert(args.episodes, args.seed, render if model is None else 0, env_name)
    results = expert
    if model is not None:
        results, trajectories = evaluate(model, env_name, args.episodes, args.seed, temperature, True, render, print)
        if expert is not None:
            results["imitation_ratio"] = results["success_rate"] / max(expert["success_rate"], 1e-9)
    runs.print_results(results)
    if expert is not None and model is not None:
        runs.print_comparison(results, expert)
        results["expert"] = expert
    if args.json:                    # first: a video or figure that fails to write keeps the numbers
        if model is not None:
            results["checkpoint"] = {"path": args.checkpoint, "sha256": digest}
        runs.write_results(args.json, results, args.checkpoint, digest)
        print(f"wrote {args.json}")
    film = filmed(args, model, env_name, temperature, trajectories) if args.video else []
    if film:
        record = envs.get(env_name)
        plots.write_video(film, args.video, *(record.score[:1] if record.score else ()), legend=record.video_legend)
        print(f"wrote {args.video}")
    elif args.video:
        runs.note(f"no {args.video_pick} among the {args.episodes} episodes; {args.video} not written")
    if args.plot and model is not None:
        for path in plots.evaluation_figures(envs.get(env_name), trajectories, log, args.plot,
                                             runs.plot_tag(model, env_name), results["success_rate"]):
            print(f"wrote {path}")


if __name__ == "__main__":
    runs.cli(main)
