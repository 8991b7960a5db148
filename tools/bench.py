"""
Speed of one env's configuration, printed as JSON: how fast training steps run, how long one action takes,
and how evaluation time splits between the policy and the environment.

    python -m tools.bench --env pusht                   # one thread, the env's batch size
    python -m tools.bench --env pusht --episodes 500    # the evaluation split over 500 episodes

Everything runs on real data (data/<env>.npz) with the env's Config from train.py; the model is freshly
initialised (speed does not depend on the weights), with its bins fitted as train.train fits them.
"""

import dataclasses
import json
import time

import numpy as np
import torch

import data
import envs
import evaluate
from plumbing import runs
import train
from plumbing import demofiles


def train_samples_per_second(model, demos, cfg, steps, seed=0):
    """Training windows per second through train.train_step (loss, backward, clip, AdamW), after 5 warm-up steps
    (which include torch.compile's compiling when cfg.compile is set)."""
    device = model.centers.device
    obs, actions = torch.as_tensor(demos["obs"], device=device), torch.as_tensor(demos["actions"], device=device)
    index = torch.as_tensor(data.window_index(demos["episode_ends"], model.context), device=device)  # (N, h)
    batches = torch.randint(len(index), (steps + 5, cfg.batch_size), generator=torch.Generator().manual_seed(seed))
    opt, loss_fn = train.optimizer(model, cfg), train.loss_function(model, cfg, log=runs.note)   # stdout is the JSON
    model.train()
    for i, rows in enumerate(batches):
        if i == 5:
            t0 = time.perf_counter()
        train.train_step(model, opt, obs[index[rows]], actions[index[rows]], cfg.grad_clip, loss_fn)
    return steps * cfg.batch_size / (time.perf_counter() - t0)


def ms_per_action(model, demos, batch, repeats, seed=0):
    """Milliseconds for one BeT.sample call on `batch` windows (the rollout's call), median of `repeats` (any policy
    with BeT.sample's signature: the baselines too)."""
    index = data.window_index(demos["episode_ends"], model.context)
    rows = np.random.default_rng(seed).integers(len(index), size=batch)
    history = torch.as_tensor(demos["obs"][index[rows]], device=model.obs_mean.device)       # (batch, h, obs_dim)
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    times = []
    for _ in range(repeats + 10):
        t0 = time.perf_counter()
        model.sample(history, 1.0, generator)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times[10:]))


def evaluation_split(model, env_name, episodes, seed, temperature):
    """Seconds spent in the policy and everywhere else (env steps, bookkeeping) in one evaluate.rollout."""
    policy, spent = evaluate.bet_policy(model, temperature, seed), [0.0]
    def timed(history, ids, envs_):
        t0 = time.perf_counter()
        actions = policy(history, ids, envs_)
        spent[0] += time.perf_counter() - t0
        return actions
    t0 = time.perf_counter()
    evaluate.rollout(timed, env_name, episodes, seed, model.context)
    total = time.perf_counter() - t0
    return {"episodes": episodes, "policy_seconds": round(spent[0], 3), "env_seconds": round(total - spent[0], 3),
            "policy_over_env": round(spent[0] / (total - spent[0]), 3)}


def main(argv=None):
    p = runs.ArgumentParser(prog="python -m tools.bench", description="Benchmark training and inference speed for one env's configuration (JSON).")
    p.add_argument("--env", required=True, choices=list(envs.ENVS), help="the environment (its record in envs/)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda (untested on real hardware)")
    runs.add_flags(p, train.Config, ["batch_size", "compile"])
    p.add_argument("--steps", type=int, default=100, help="timed training steps (default 100)")
    p.add_argument("--repeats", type=int, default=200, help="timed sample calls per batch size (default 200)")
    p.add_argument("--episodes", type=int, default=50, help="evaluation episodes for the time split (default 50; 0 = skip)")
    p.add_argument("--seed", type=int, default=1000, help="first evaluation env seed (default 1000)")
    p.add_argument("--all-cores", action="store_true", help="also time the training steps on every core, and give "
                   "the ratio to --threads")
    args = p.parse_args(argv)
    cfg = dataclasses.replace(train.env_config(args.env), **runs.given(args, train.Config))
    runs.check_settings(cfg)
    runs.check_counts(("--threads", args.threads, 1), ("--steps", args.steps, 1), ("--repeats", args.repeats, 1),
                      ("--episodes", args.episodes, 0), ("--seed", args.seed, 0))
    runs.check_episodes(("--episodes", args.episodes))
    runs.check_threads(args.threads)
    device = runs.check_device(args.device)
    torch.set_num_threads(args.threads)
    demos = demofiles.load_demos(data.default_path(args.env), cfg.obs_dim, cfg.act_dim)
    fresh = lambda: train.build_model(cfg).fit_bins(demos["obs"], demos["actions"]).to(device)   # after seed 0
    torch.manual_seed(0)
    model = fresh()
    result = {"env": args.env, "device": args.device, "threads": args.threads, "batch_size": cfg.batch_size, "compile": cfg.compile, "torch": torch.__version__,
              "train_samples_per_second": round(train_samples_per_second(model, demos, cfg, args.steps), 1),
              "ms_per_action": {str(b): round(ms_per_action(model, demos, b, args.repeats), 3) for b in (1, 64)}}
    cores = runs.cores()
    if args.all_cores and cores > args.threads:       # the same steps on every core, in this run (a fresh model)
        torch.set_num_threads(cores)
        torch.manual_seed(0)
        result["all_cores"] = {"threads": cores,
                               "train_samples_per_second": round(train_samples_per_second(fresh(), demos, cfg, args.steps), 1)}
        result["all_cores"]["over_threads"] = round(result["all_cores"]["train_samples_per_second"] /
                                                    result["train_samples_per_second"], 2)
        torch.set_num_threads(args.threads)
    if args.episodes:
        result["evaluation"] = evaluation_split(model.eval(), args.env, args.episodes, args.seed, cfg.temperature)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    runs.cli(main)
