"""
Roll out a trained policy (Algorithm 1, "Running on the environment") and report its metrics.

    python evaluate.py runs/pointmass1/model.pt --episodes 200 --seed 100000 --json out.json --plot docs/
    python evaluate.py runs/pusht/model.pt --episodes 500 --expert --video pusht.gif   # + expert, imitation ratio
    python evaluate.py --expert --env pusht --episodes 100                           # the scripted expert alone

All episodes run at once: one batched policy call per step for every episode still running.
Episode i is reset with env seed S+i, and its observation history is rebuilt from that reset, so
nothing leaks from one episode into the next.
"""

import math
import os
import sys
import time

import numpy as np
import torch

import data
import envs
from bet import BeT


VIDEO_SIZE = 192   # px, side of each rendered PushT frame in --video (gym-pusht draws at 680 by default)


def make_envs(env_name, episodes, render):
    """`episodes` envs; the first `render` of them (PushT only) draw small frames for --video."""
    if render and env_name != "pusht":
        raise ValueError("--video is implemented for pusht only")
    small = dict(visualization_width=VIDEO_SIZE, visualization_height=VIDEO_SIZE)
    return [envs.make(env_name, **(small if i < render else {})) for i in range(episodes)]


def rollout(policy, env_name, episodes, seed, context=1, render=0, max_steps=None):
    """Algorithm 1, "Running on the environment", for `episodes` episodes at once (env seeds seed, seed+1, ...):
    stack the last `context` observations of every running episode, ask the policy for their actions,
    step, repeat. `policy(history, ids, envs)` gets history (E_running, context, obs_dim) of the episodes
    `ids` and returns their actions (E_running, act_dim); see bet_policy and expert_policy.
    Returns a list of dicts with 'obs' (T+1, obs_dim), 'actions' (T, act_dim), 'rewards' (T,), 'success',
    'seed', and for the first `render` episodes 'frames' (T+1 images) and 'coverage' (T+1,) (PushT)."""
    envs_ = make_envs(env_name, episodes, render)
    first = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs_)]).astype(np.float32)   # (E, obs_dim)
    # an episode's history starts as its first observation repeated, as in training's clamped windows
    history = torch.as_tensor(first)[:, None].repeat(1, context, 1)                              # (E, h, obs_dim)
    traj = [{"obs": [o], "actions": [], "rewards": [], "success": False, "seed": seed + i} for i, o in enumerate(first)]
    for i in range(render):
        traj[i]["frames"], traj[i]["coverage"] = [envs_[i].render()], [0.0]
    running = np.ones(episodes, dtype=bool)
    step = 0
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


def check_obs_dim(model, env_name):
    """A checkpoint trained on other observations cannot drive this env: one clear error, before any rollout."""
    env = envs.make(env_name)
    obs_dim = env.observation_space.shape[0]
    env.close()
    if obs_dim != model.config["obs_dim"]:
        raise ValueError(f"the checkpoint expects {model.config['obs_dim']}-D observations but env "
                         f"'{env_name}' gives {obs_dim}-D ones")


def episode_success(env_name, terminated, truncated, info):
    """Point-mass and PushT succeed by terminating at the goal; CartPole by surviving to the time limit.
    (gym-pusht terminates exactly when coverage > 0.95 and sets info['is_success'] then; its TimeLimit is 300.)"""
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
    out["per_episode"] = [{"seed": t["seed"], "success": bool(t["success"]), "return": float(t["rewards"].sum()),
                           "steps": len(t["actions"]), **({"max_coverage": float(t["rewards"].max())}
                                                          if env_name == "pusht" else {})} for t in trajectories]
    return out


def evaluate(model, env_name, episodes, seed, temperature=1.0, return_trajectories=False, render=0):
    """Roll BeT out and summarise; optionally also return the trajectories (for plots and videos)."""
    check_obs_dim(model, env_name)
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


def print_comparison(bet, expert):
    """BeT and the expert side by side on the same seeds, and the imitation ratio (BeT / expert success)."""
    print(f"\n{'metric':<22} {'BeT':>8} {'expert':>8}")
    for key in ("success_rate", "mean_max_coverage", "mean_steps", "seconds"):
        print(f"{key:<22} {bet[key]:>8.3f} {expert[key]:>8.3f}")
    print(f"{'imitation_ratio':<22} {bet['imitation_ratio']:>8.3f}")


def write_video(trajectories, path, stride=2, fps=10):
    """Rendered PushT episodes side by side, every `stride`-th step, each captioned with its seed, the
    current coverage of the goal (success needs > 0.95) and, once it ends, success or failure: a GIF (Pillow) or MP4 (OpenCV)."""
    from PIL import Image, ImageDraw
    episodes = [t for t in trajectories if "frames" in t]
    if not episodes:
        raise ValueError("no rendered episodes to write")
    length = max(len(t["frames"]) for t in episodes)
    images = []
    for step in list(range(0, length, stride)) + [length - 1] * 5:     # hold the last frame for a moment
        tiles = []
        for t in episodes:
            s = min(step, len(t["frames"]) - 1)                        # a finished episode keeps its last frame
            tile = Image.new("RGB", (VIDEO_SIZE, VIDEO_SIZE + 16), "white")
            tile.paste(Image.fromarray(np.asarray(t["frames"][s], dtype=np.uint8)), (0, 16))
            ended = s == len(t["frames"]) - 1
            label = ("success" if t["success"] else "failed") if ended else f"step {s}"
            color = ((0, 140, 0) if t["success"] else (200, 0, 0)) if ended else (0, 0, 0)
            ImageDraw.Draw(tile).text((3, 2), f"seed {t['seed']}  cov {t['coverage'][s]:.3f}  {label}", fill=color)
            tiles.append(tile)
        frame = Image.new("RGB", (len(tiles) * VIDEO_SIZE, VIDEO_SIZE + 16), "white")
        for j, tile in enumerate(tiles):
            frame.paste(tile, (j * VIDEO_SIZE, 0))
        images.append(frame)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".mp4"):
        import cv2
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, images[0].size)
        for image in images:
            writer.write(cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR))
        writer.release()
    else:
        images[0].save(path, save_all=True, append_images=images[1:], duration=1000 // fps, loop=0)


def print_results(results):
    """A small aligned table of the results."""
    print(f"\n{'metric':<22} value")
    for key, value in results.items():
        for k, v in (value.items() if isinstance(value, dict) else [(None, value)]):
            name = key if k is None else f"{key}/{k}"
            if isinstance(v, float):
                print(f"{name:<22} {v:.3f}")
            elif not isinstance(v, (dict, list)):     # lists (per_episode) are in the JSON, too long for here
                print(f"{name:<22} {v}")


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


def plot_losses(train_log, path, title):
    """Loss curve of one training run from its train_log.json."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    h = train_log["history"]
    fig, ax = plt.subplots(figsize=(5, 3))
    for key in ("loss", "focal", "offset"):
        ax.plot([r["epoch"] for r in h], [r[key] for r in h], label=key)
    ax.set_yscale("log"); ax.set_xlabel("epoch"); ax.legend()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def is_video(path):
    """Whether a file starts as a GIF or an MP4 does (the only files --video may replace)."""
    with open(path, "rb") as f:
        head = f.read(12)
    return head[:6] in (b"GIF87a", b"GIF89a") or head[4:8] == b"ftyp"


def is_result_of(results, checkpoint):
    """Whether a JSON object is evaluate's results for `checkpoint` (None: the expert alone), which --json may replace."""
    if "success_rate" not in results:
        return False
    owner = results.get("checkpoint")
    if checkpoint is None or owner is None:
        return checkpoint is None and owner is None
    path = owner.get("path") if isinstance(owner, dict) else None
    return isinstance(path, str) and os.path.exists(path) and os.path.samefile(path, checkpoint)


def training_log(checkpoint):
    """The train_log.json beside a checkpoint (for the loss plot), or None; ValueError naming it if it is broken."""
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "train_log.json")
    log = data.existing_json(path, "--plot draws the loss curve from it")
    fields = ("epoch", "loss", "focal", "offset")
    history = log.get("history") if log is not None else []
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if not (isinstance(history, list) and all(isinstance(row, dict) and all(number(row.get(f)) for f in fields)
                                              for row in history)):
        raise ValueError(f"{path}: not a training log (no 'history' of epochs; --plot draws the loss curve from it)")
    return log


def recorded_temperature(model, path):
    """The sampling temperature train.py recorded in the checkpoint at `path` (1 if none), which must be a number >= 0."""
    t = model.meta.get("temperature", 1.0)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (math.isfinite(t) and t >= 0):
        raise ValueError(f"{path}: its recorded temperature {t!r} is not a number >= 0; give --temperature")
    return float(t)


def check_args(args):
    """Every flag and path, before any work: raise ValueError naming the first bad one."""
    for name, value in (("the checkpoint path", args.checkpoint), ("--json", args.json), ("--plot", args.plot),
                        ("--video", args.video)):
        if value == "":
            raise ValueError(f"{name} must not be empty")
    if args.checkpoint is None and not args.expert:
        raise ValueError("give a checkpoint, or --expert to evaluate the scripted PushT expert alone")
    data.check_at_least(("--episodes", args.episodes, 1), ("--seed", args.seed, 0),
                        ("--video-episodes", args.video_episodes, 1))
    if args.temperature is not None and not (math.isfinite(args.temperature) and args.temperature >= 0):
        raise ValueError(f"--temperature must be a finite number >= 0 (got {args.temperature})")
    keep = [args.checkpoint] if args.checkpoint else []
    if args.json:
        data.check_output_file(args.json, "--json", keep)
        if not args.json.endswith(".json"):
            raise ValueError(f"--json {args.json}: must end in .json")
        old = data.existing_json(args.json, "--json would overwrite it")
        if old is not None and not is_result_of(old, args.checkpoint):
            raise ValueError(f"--json {args.json}: holds something other than an evaluation of "
                             f"{args.checkpoint or 'the expert'}; not overwriting it")
    if args.video:
        if not args.video.endswith((".gif", ".mp4")):
            raise ValueError(f"--video {args.video}: must end in .gif or .mp4")
        data.check_output_file(args.video, "--video", keep)
        if os.path.isfile(args.video) and not is_video(args.video):
            raise ValueError(f"--video {args.video}: exists and is not a GIF or MP4 video; not overwriting it")
    if args.plot:
        data.check_output_dir(args.plot, "--plot")


def main(argv=None):
    p = data.ArgumentParser(description="Evaluate a trained BeT checkpoint with parallel rollouts.")
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
    args = p.parse_args(argv)
    check_args(args)
    model = BeT.load(args.checkpoint) if args.checkpoint else None
    digest = data.file_hash(args.checkpoint) if args.checkpoint else None     # the bytes these results belong to
    env_name = args.env or (model.meta.get("env") if model else "pusht")
    if env_name not in envs.ENV_NAMES:
        raise ValueError(f"unknown env '{env_name}'; choose one of {', '.join(envs.ENV_NAMES)}")
    if model is not None:
        check_obs_dim(model, env_name)
        temperature = args.temperature if args.temperature is not None else recorded_temperature(model, args.checkpoint)
        log = training_log(args.checkpoint) if args.plot else None
        if args.plot:                        # the figures it would replace must be figures
            tag = f"{env_name}-{model.meta.get('policy', 'bet')}"
            for name in ("rollouts", "loss"):
                data.check_png_output(os.path.join(args.plot, f"{tag}-{name}.png"), "--plot")
    if model is not None and args.env and model.meta.get("env") not in (None, args.env):
        print(f"note: {args.checkpoint} was trained on {model.meta['env']}; evaluating it on {args.env}, as --env asks",
              file=sys.stderr)
    if args.expert and env_name != "pusht":
        raise ValueError("--expert is implemented for pusht only")
    render = min(args.video_episodes, args.episodes) if args.video else 0
    torch.set_num_threads(1)         # tiny batched forward passes: threads cost more than they give
    expert = None
    if args.expert:
        expert, expert_trajectories = evaluate_expert(args.episodes, args.seed, render if model is None else 0)
    if model is None:
        results, trajectories = expert, expert_trajectories
    else:
        results, trajectories = evaluate(model, env_name, args.episodes, args.seed, temperature, True, render)
        if expert is not None:
            results["imitation_ratio"] = results["success_rate"] / max(expert["success_rate"], 1e-9)
    print_results(results)
    if expert is not None and model is not None:
        print_comparison(results, expert)
        results["expert"] = expert
    if args.video:
        write_video(trajectories, args.video)
        print(f"wrote {args.video}")
    if args.json:
        if model is not None:
            results["checkpoint"] = {"path": args.checkpoint, "sha256": digest}
        data.write_json(args.json, results)
    if args.plot and model is not None:
        os.makedirs(args.plot, exist_ok=True)
        if env_name in envs.ROUTES:
            plot_trajectories(env_name, trajectories, os.path.join(args.plot, f"{tag}-rollouts.png"),
                              f"{tag}: {results['success_rate']:.0%} success")
        if log is not None:
            plot_losses(log, os.path.join(args.plot, f"{tag}-loss.png"), f"{tag}: training loss")


if __name__ == "__main__":
    data.cli(main)
