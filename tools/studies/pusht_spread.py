"""
How much does a PushT recipe's success vary over training seeds and kernel paths? Trains one model per (kernel path,
training seed), evaluates each on the same held-out episodes, and prints the table issue 38 asks for: every run's
success, mean max reward and final coverage, the pooled rate with its Wilson interval, the worst run, training seconds, the kernel path.

    python -m tools.studies.pusht_spread --seeds 0 1 2 3 4 --episodes 500 --eval-seed 400000 --out runs/pusht-spread
    python -m tools.studies.pusht_spread --seeds 100 101 102 --episodes 200 --eval-seed 1000 --out runs/tune-mask -- --mask-padding

Kernel paths: `native` (this CPU's own) and `default` (ATEN_CPU_CAPABILITY=default, MKL capped at SSE4.2), each a
different "machine" for the floats. Arguments after `--` go to train.py. A finished run (its eval.json) is reused.
Tune on evaluation seeds 1000+ only; the held-out seeds of a reported table are never used to choose a recipe.
"""

import json
import os
import signal
import subprocess
import sys

from plumbing import files, runs, stats
from tools import studies

PATHS = {"native": {}, "default": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}}


OWN_FLAGS = ("--env", "--seed", "--episodes", "--out", "--resume",     # this study sets them for each run,
             "--collect", "-h", "--help")                            # and trains: it never collects or only helps


def run(cmd, path):
    """One train.py or evaluate.py run on a kernel path; its failure (its own message above) is one line here too.
    A Ctrl-C from the terminal reaches the run as well, which says in one line what it saved: this study then stops
    without a second line. (Stopped alone, by SIGTERM, it stops the run the same way, after 5 s at most.)"""
    print("$", " ".join(cmd), f"  [{path}]", flush=True)
    child = subprocess.Popen([sys.executable, *cmd], env={**os.environ, **PATHS[path]})
    try:
        code = child.wait()
    except KeyboardInterrupt:
        try:
            code = child.wait(timeout=5)
        except subprocess.TimeoutExpired:            # it did not get the signal: pass it on
            child.send_signal(signal.SIGINT)
            code = child.wait()
        if code in (130, -signal.SIGINT):
            sys.exit(130)
        raise
    if code:
        raise ValueError(f"{cmd[0]} ended with exit {code} (its message is above); the finished runs are kept")


def check(args, extra):
    """Bad input ends before any training: seeds, episodes and the evaluation seed in range, and an --out that holds
    no other recipe's runs (its recipe.json names the train flags its runs are made with; a recipe whose first run
    never finished training holds none)."""
    runs.check_counts(*[("--seeds", s, 0, runs.LARGEST) for s in args.seeds], ("--episodes", args.episodes, 1, runs.MAX_EPISODES),
                      ("--eval-seed", args.eval_seed, 0), ("--seeds' number of values", len(args.seeds), 1,
                                                            runs.MOST["--seeds"]))
    for flag, values in (("--seeds", args.seeds), ("--paths", args.paths)):
        if len(set(values)) < len(values):
            raise ValueError(f"{flag} names a value twice ({' '.join(map(str, values))}); the pooled rate would count "
                             f"its runs twice")
    taken = [f for f in extra if f.split("=")[0] in OWN_FLAGS]
    if taken:
        raise ValueError(f"{taken[0].split('=')[0]} after --: this study sets it for each run ({', '.join(OWN_FLAGS)}); "
                         f"give --out, --seeds, --episodes before --")
    runs.check_output_dir(args.out)
    runs.check_not_anothers(args.out, "--out", args.out)          # a folder of runs, not a run
    import train
    train_args = train.parse_args(["--env", "pusht", *extra])
    cfg = train.config_from_args(train_args)
    runs.check_settings(cfg)                                                    # the train flags after --
    if train_args.data is not None:                   # a dataset after --: every run would fail on it, one by one
        runs.training_data(train_args.data, cfg, train_args)
    recipe = os.path.join(args.out, "recipe.json")
    old = runs.existing_json(recipe, "it names the train flags of --out's runs")
    made = [d for d in (os.listdir(args.out) if os.path.isdir(args.out) else [])
            if os.path.exists(os.path.join(args.out, d, "model.pt"))]
    if old is not None and old.get("train_flags") != extra and made:     # (no run made yet: a failed start)
        raise ValueError(f"--out {args.out} holds runs of other train flags ({old.get('train_flags')}); give another --out")
    files.write_json(recipe, {"train_flags": extra})


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    p = studies.parser(__spec__.name, __doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="training seeds (default 0-4)")
    p.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS), help="kernel paths (default both)")
    p.add_argument("--episodes", type=int, default=500, help="evaluation episodes per model (default 500)")
    p.add_argument("--eval-seed", type=int, default=400000, help="first evaluation env seed (default 400000)")
    p.add_argument("--out", required=True, help="folder for the runs and summary.json")
    args = p.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    check(args, extra)
    rows = []
    for path in args.paths:
        for seed in args.seeds:
            folder = os.path.join(args.out, f"{path}-seed{seed}")
            result = os.path.join(folder, f"eval-{args.eval_seed}-{args.episodes}.json")
            if not os.path.exists(result):
                run(["train.py", "--env", "pusht", "--seed", str(seed), "--episodes", "0", "--out", folder, *extra], path)
                run(["evaluate.py", os.path.join(folder, "model.pt"), "--episodes", str(args.episodes),
                     "--seed", str(args.eval_seed), "--json", result], path)
            r, log = json.load(open(result)), json.load(open(os.path.join(folder, "train_log.json")))
            rows.append(dict(path=path, seed=seed, success=r["success_rate"], wins=round(r["success_rate"] * r["episodes"]),
                             episodes=r["episodes"], max_reward=r["mean_max_reward"],
                             final_coverage=r["final_coverage"], train_seconds=log["train_seconds"],
                             kernel=r["kernel_path"]["cpu_capability"]))
    wins, n = sum(r["wins"] for r in rows), sum(r["episodes"] for r in rows)
    summary = dict(train_flags=extra, eval_seed=args.eval_seed, runs=rows, pooled=wins / n, pooled_ci95=stats.wilson(wins, n),
                   worst=min(r["success"] for r in rows), max_reward=sum(r["max_reward"] for r in rows) / len(rows),
                   final_coverage=sum(r["final_coverage"] for r in rows) / len(rows),
                   slowest_train_seconds=max(r["train_seconds"] for r in rows))
    files.write_json(os.path.join(args.out, "summary.json"), summary)
    print("| kernel path | seed | success | mean max reward | final coverage | training (s) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kernel']} | {r['seed']} | {r['success']:.3f} | {r['max_reward']:.3f} | {r['final_coverage']:.3f} | "
              f"{r['train_seconds']:.0f} |")
    print(f"pooled {summary['pooled']:.3f} ({summary['pooled_ci95'][0]:.3f}-{summary['pooled_ci95'][1]:.3f}), worst run "
          f"{summary['worst']:.3f}, mean max reward {summary['max_reward']:.3f}, "
          f"final coverage {summary['final_coverage']:.3f}, slowest training {summary['slowest_train_seconds']:.0f} s")


if __name__ == "__main__":
    studies.run(main)
