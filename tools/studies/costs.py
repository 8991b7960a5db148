"""
The paper's cost comparison (Sec. 3.5, App. B): what each policy costs to train and to act, beside the paper's ratios
(IBC / BeT: about 14 h / 1 h to train and 17.70 / 1.65 s per rollout on Block push; 52 / 2.8 ms per action on
Kitchen).

    python -m tools.studies.costs --env pusht           # reads docs/ablations/pusht/ablations.json

Everything is timed here, in this one run, on one thread, on a freshly fitted model of each kind (time does not depend
on the weights: every pass is of fixed size, IBC's optimiser runs a fixed number of rounds):
    training   the second of two epochs of train.train (eager) times the env's epochs, plus the set-up
    acting     the median time of one `sample` call at batch 1 (the VAE's decodes 10 actions: divided by 10)
    rollout    that time x the table's mean episode length: the policy's share of a rollout (the env's is apart)
The tables' own train_seconds (runs beside each other, so slower) are printed beside the projection.
"""

import dataclasses
import json
import os
import time

import numpy as np
import torch

import data
import envs
import train
from plumbing import demofiles, runs
from tools import bench, studies

POLICIES = {"BeT": "bet", "MSE-BC (RBC)": "mse", "VAE (learned prior)": "vae", "Flow (with prior)": "flow", "IBC": "ibc"}
PAPER = {"train_hours": {"BeT": 1, "IBC": 14}, "ms_per_action": {"BeT": 2.8, "IBC": 52},
         "s_per_rollout": {"BeT": 1.65, "IBC": 17.70}}       # Sec. 3.5 (Block push), App. B (Kitchen: per action)


def training_seconds(model, demos, cfg):
    """Two epochs of train.train, the second timed (the first warms up), projected to the env's epochs: the set-up
    (normalisation, k-means) once, then cfg.epochs x an epoch (its batches, IBC's validation). Eager (a compiled
    loss would add its compile time)."""
    two = dataclasses.replace(cfg, epochs=2, compile=False)
    t0 = time.perf_counter()
    history = train.train(model, demos, two, seed=0, log=lambda *a: None)
    epoch = history[1]["seconds"] - history[0]["seconds"]
    return (time.perf_counter() - t0 - history[1]["seconds"]) + cfg.epochs * epoch


def main(argv=None):
    p = studies.parser(__spec__.name, __doc__)
    p.add_argument("--env", required=True, choices=list(envs.ENVS))
    p.add_argument("--folder", default=os.path.join("docs", "ablations"), help="holds <env>/ablations.json")
    p.add_argument("--repeats", type=int, default=200, help="timed sample calls per policy (default 200)")
    args = p.parse_args(argv)
    runs.check_counts(("--repeats", args.repeats, 1, 100_000))
    table = studies.ablation_table(args.folder, args.env, "runs")
    cfg = train.env_config(args.env)
    demos = demofiles.load_demos(data.default_path(args.env), cfg.obs_dim, cfg.act_dim)
    torch.set_num_threads(1)
    rows = {}
    for name, policy in POLICIES.items():          # a policy the table has not run yet: timed, no rollout length
        runs_ = table["runs"].get(name)
        torch.manual_seed(0)
        model = train.build_model(cfg, policy)
        seconds = training_seconds(model, demos, cfg)
        ms = bench.ms_per_action(model, demos, 1, args.repeats) / (getattr(model, "chunk", None) or 1)   # per action
        length = float(np.mean([r["mean_steps"] for r in runs_])) if runs_ else None
        rows[name] = {"train_seconds": seconds, "ms_per_action": ms, "mean_steps": length,
                      "table_train_seconds": float(np.mean([r["train_seconds"] for r in runs_])) if runs_ else None,
                      "policy_s_per_rollout": ms * length / 1000 if runs_ else None}
    rollout = lambda r: (f"{r['policy_s_per_rollout']:.2f} | {r['policy_s_per_rollout'] / bet['policy_s_per_rollout']:.1f}"
                         if r["mean_steps"] else "– | –")
    bet = rows["BeT"]
    print(f"{args.env}: one thread; episode lengths from {args.folder}/{args.env}/ablations.json\n")
    print("| policy | training (s) | ÷ BeT | the table's runs (s) | ms per action | ÷ BeT | policy s per rollout | ÷ BeT |\n"
          "|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['train_seconds']:.0f} | {r['train_seconds'] / bet['train_seconds']:.1f} | "
              f"{'–' if r['table_train_seconds'] is None else round(r['table_train_seconds'])} | "
              f"{r['ms_per_action']:.2f} | {r['ms_per_action'] / bet['ms_per_action']:.1f} | {rollout(r)} |")
    ratios = {k: v["IBC"] / v["BeT"] for k, v in PAPER.items()}
    print(f"\npaper, IBC ÷ BeT: training {ratios['train_hours']:.0f}, per action {ratios['ms_per_action']:.1f}, "
          f"per rollout {ratios['s_per_rollout']:.1f}")
    print(json.dumps({"env": args.env, "rows": rows, "paper_ratios": ratios}))


if __name__ == "__main__":
    studies.run(main)
