"""
The paper's ablations (Table 3, App. C) and the Sec. 3.2 baselines (MSE, nearest neighbour, LWR, VAE, Flow, IBC), as
one command per environment.

    python -m tools.ablations --env pointmass2 --seeds 3 --out docs/ablations/pointmass2   # refreshes the committed tables

Every variant is a train.py flag. Each one is trained with training seeds 0..seeds-1 and evaluated on the
same evaluation seeds (NN and LWR store the data and use no seed: their seeds repeat one result). The outputs are:
    ablations.json   every number of every run
    ablations.md     the Table 3-style table: performance relative to full BeT, mean ± std over seeds
    k_sweep.png      the Fig. 6-style sweep over the number of bins k
"""

import contextlib
import dataclasses
import json
import math
import os
import shlex
import sys
import time

import numpy as np
import torch

import data
import envs
import evaluate
from plumbing import plots, processes
from plumbing import runs
from plumbing import stats
import train
from plumbing import demofiles

MAX_K_VALUES = 32                  # values --k-sweep may name (Fig. 6 draws 7)
VARIANTS = {                       # Table 3 row -> train.py flags
    "BeT": [],
    "No offsets": ["--no-offsets"],
    "No binning (k=1)": ["--k", "1"],
    "No history (context 1)": ["--context", "1"],
    "MLP trunk": ["--trunk", "mlp"],
    "TCN trunk": ["--trunk", "tcn"],
    "LSTM trunk": ["--trunk", "lstm"],
    "GPT-MDN": ["--policy", "mdn"],
    "Unif. quant.": ["--discretizer", "uniform"],
    "MSE-BC (RBC)": ["--policy", "mse"],
    "Nearest neighbour": ["--policy", "nn"],
    "LWR (5-NN)": ["--policy", "lwr"],
    "VAE (learned prior)": ["--policy", "vae"],
    "Flow (with prior)": ["--policy", "flow"],
    "IBC": ["--policy", "ibc"],
}


def route_entropy(routes):
    """Normalised entropy of the route fractions: 1 = all demonstrated routes equally often, 0 = one route."""
    return stats.entropy_nats(routes.values()) / math.log(len(routes))


def run(env, flags, seed, args):
    """Train + evaluate one variant with one training seed; return its eval results.

    A run directory whose results belong to this exact command and to the checkpoint beside them is reused
    (unless --fresh), and one interrupted mid-training resumes from its last epoch, so a stopped table
    picks up where it was."""
    out = run_folder(flags, seed, args)
    argv = ["--env", env, "--seed", str(seed), "--out", out, "--episodes", str(args.eval_episodes),
            "--eval-seed", str(args.eval_seed), *flags]
    if args.epochs is not None:
        argv += ["--epochs", str(args.epochs)]
    command_path, results_path = os.path.join(out, "command.json"), os.path.join(out, "eval.json")
    command = record(argv)
    if args.fresh or not finished(out, command):
        os.makedirs(out, exist_ok=True)
        resume = not args.fresh and os.path.exists(os.path.join(out, "train_state.pt"))
        threads = ["--threads", "1"]     # one thread per run, so the numbers do not depend on --workers
        with open(os.path.join(out, "stdout.txt"), "a" if resume else "w") as log, contextlib.redirect_stdout(log):
            try:
                train.main(argv + threads + (["--resume"] if resume else []))
            except runs.CannotResume:
                train.main(argv + threads)       # the saved state belongs to another command: start over
        runs.write_json(command_path, command)   # written last (atomically): its presence means the run finished
    results = _read(results_path)
    if "routes" in results:
        results["route_entropy"] = route_entropy(results["routes"])
        results["route_entropy_nats"] = stats.entropy_nats(results["routes"].values())
    return results


def run_folder(flags, seed, args):
    """A run's folder in --runs: the variant's flags and the seed (and --epochs, given: other weights, another
    folder, so a table sharing --runs keeps its own)."""
    name = "_".join([f.strip("-").replace("-", "") for f in flags]) or "bet"
    epochs = f"-epochs{args.epochs}" if args.epochs is not None else ""
    return os.path.join(args.runs, f"{name}-seed{seed}{epochs}")


def check_evaluations(jobs, args):
    """A finished run is reused only by a table of the same evaluation (--episodes, --eval-seed): another would
    re-evaluate it in place and change the eval.json an earlier table was made from. Refuse, before any work,
    unless --fresh."""
    for name, flags, seed in [] if args.fresh else jobs:
        path = os.path.join(run_folder(flags, seed, args), "command.json")
        try:
            argv = _read(path)["argv"]
            evaluation = {flag: argv[argv.index(flag) + 1] for flag in ("--episodes", "--eval-seed")}
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            continue                                          # no finished run there: nothing to keep
        if evaluation != {"--episodes": str(args.eval_episodes), "--eval-seed": str(args.eval_seed)}:
            episodes, eval_seed = (runs.one_line(str(evaluation[flag])) for flag in ("--episodes", "--eval-seed"))
            raise ValueError(f"--runs {args.runs}: {os.path.dirname(path)} was evaluated with --episodes {episodes} "
                             f"--eval-seed {eval_seed}; a table evaluated otherwise needs its own --runs (or --fresh to "
                             f"retrain it here)")


def record(argv):
    """What a finished run's command.json holds: its train.py flags and the fingerprint train.py resumes by
    (runs.run_record: every setting, the data's hash), so that a run trained under another env's settings or
    on other data is retrained, not reused."""
    args = train.parse_args(argv)
    _, command = runs.run_record(args, train.config_from_args(args), train.data_path(args))
    return json.loads(json.dumps({"argv": argv, "command": command}))           # as it reads back from JSON


def finished(out, command):
    """True if `out` holds the results of `command` (see record), evaluated on the checkpoint beside them."""
    paths = [os.path.join(out, name) for name in ("command.json", "eval.json", "model.pt")]
    if not all(os.path.exists(p) for p in paths) or _read(paths[0]) != command:
        return False
    results = _read(paths[1])
    return results.get("checkpoint", {}).get("sha256") == runs.file_hash(paths[2])


def check_folders_hold(env, out, runs_dir):
    """--out and --runs belong to one env: refuse folders that already hold another env's table or runs."""
    table = os.path.join(out, "ablations.json")
    if os.path.exists(table):
        old = runs.existing_json(table, "--out would overwrite it")
        if old.get("env") != env:
            raise ValueError(f"--out {out}: holds the ablation table of {old.get('env')}; write {env}'s elsewhere")
    if os.path.isdir(runs_dir):
        for name in sorted(os.listdir(runs_dir)):
            runs.check_run_folder(os.path.join(runs_dir, name), env, "--runs")


def _job(job):
    """One pool task: (name, flags, seed, env, args) -> (name, seed, results)."""
    name, flags, seed, env, args = job
    return name, seed, run(env, flags, seed, args)


def _read(path):
    with open(path) as f:
        return json.load(f)


# the Sec. 3.2 baselines that store the data and train nothing: every seed gives the same policy
UNTRAINED = tuple(name for name, flags in VARIANTS.items() if flags[:1] == ["--policy"] and flags[1] in train.NEIGHBOURS)


def pooled_interval(results, rate):
    """The 95 % Wilson interval of rate(result) over the results' episodes pooled."""
    return stats.wilson(sum(round(rate(r) * r["episodes"]) for r in results), sum(r["episodes"] for r in results))


def summarise(per_seed, metric, reference, untrained=False):
    """Mean ± std over seeds of the raw metric and of the metric relative to full BeT's mean; intervals pool
    the seeds' episodes (an untrained policy's seeds are one run, counted once)."""
    values = np.array([r[metric] for r in per_seed])
    rel = values / reference if reference > 0 else np.full_like(values, np.nan)
    out = {"metric": metric, "mean": float(values.mean()), "std": float(values.std()),
           "relative_mean": float(rel.mean()), "relative_std": float(rel.std()),
           "success_rate": float(np.mean([r["success_rate"] for r in per_seed]))}
    distinct = per_seed[:1] if untrained else per_seed
    out["success_ci95"] = pooled_interval(distinct, lambda r: r["success_rate"])
    if metric != "success_rate":                     # pointmass2: the rate of rollouts on one route
        out["metric_ci95"] = pooled_interval(distinct, lambda r: r[metric])
    for key in ("mean_max_reward", "final_coverage", "edge_entropy_nats", "route_entropy", "route_entropy_nats", "single_route",
                "order_entropy_nats"):
        if key in per_seed[0]:                       # PushT: coverage and modes; point-mass: routes; Block push: orders
            out[key] = float(np.mean([r[key] for r in per_seed]))
    if "order_entropy_nats" in per_seed[0]:          # Block push: Table 1 and Table 2, the seeds' episodes pooled
        keys = per_seed[0]["blockpush"]
        out["blockpush"] = {k: float(np.mean([r["blockpush"][k] for r in distinct])) for k in keys}
        out["blockpush_ci95"] = {k: pooled_interval(distinct, lambda r: r["blockpush"][k]) for k in keys}
    return out


def markdown(env, table, seeds, args):
    """The Table 3-style Markdown table."""
    metric = envs.get(env).metric
    cols = ["variant", f"{metric} (mean ± std)", "relative to BeT", "success (95 % interval, seeds pooled)"]
    cols += [f"{metric} (95 % interval, seeds pooled)"] if metric != "success_rate" else []
    pointmass = "route_entropy" in next(iter(table.values()))
    pusht = "mean_max_reward" in next(iter(table.values()))
    blocks = "order_entropy_nats" in next(iter(table.values()))
    if pusht:
        cols += ["mean max reward", "final coverage", "first-pushed-edge entropy (nats)"]
    if blocks:
        cols += ["R2 (95 % interval)", "red reached first", "order entropy (nats, max 1.39)"]
    if pointmass:
        cols += ["single route"] if metric != "single_route" else []
        cols += ["route entropy (normalised)", "route entropy (nats)"]
    lines = [f"{env}: {len(seeds)} training seeds, {args.eval_episodes} evaluation episodes from seed {args.eval_seed}"
             + (f", {args.epochs} epochs" if args.epochs else ""), "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, s in table.items():
        row = [name, f"{s['mean']:.3f} ± {s['std']:.3f}", f"{s['relative_mean']:.2f} ± {s['relative_std']:.2f}",
               f"{s['success_rate']:.3f} ({s['success_ci95'][0]:.2f}–{s['success_ci95'][1]:.2f})"]
        if "metric_ci95" in s:
            row += [f"{s['mean']:.3f} ({s['metric_ci95'][0]:.2f}–{s['metric_ci95'][1]:.2f})"]
        if pusht:
            row += [f"{s['mean_max_reward']:.3f}"] + [f"{s[key]:.{digits}f}" if key in s else "–"   # (rows kept by
                    for key, digits in (("final_coverage", 3), ("edge_entropy_nats", 2))]           # --update from before)
        if blocks:
            row += [f"{s['blockpush']['R2']:.3f} ({s['blockpush_ci95']['R2'][0]:.2f}–{s['blockpush_ci95']['R2'][1]:.2f})",
                    f"{s['blockpush']['first_red']:.2f}", f"{s['order_entropy_nats']:.2f}"]
        if pointmass:
            row += [f"{s['single_route']:.3f}"] if metric != "single_route" else []
            row += [f"{s['route_entropy']:.2f}", f"{s['route_entropy_nats']:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines + (blockpush_tables(table) if blocks else [])) + "\n"


def blockpush_tables(table):
    """Block push's Table 1 (R1-P2) and Table 2 (first block; each block's target) for every row, seeds pooled."""
    keys = list(next(iter(table.values()))["blockpush"])          # envs/blockpush.py tables()' order
    lines = ["", "Table 1 and Table 2 (fractions of all rollouts, 95 % interval, seeds pooled):", "",
             "| variant | " + " | ".join(keys) + " | order entropy (nats) |", "|" + "---|" * (len(keys) + 2)]
    for name, s in table.items():
        cells = [f"{s['blockpush'][k]:.3f} ({s['blockpush_ci95'][k][0]:.2f}–{s['blockpush_ci95'][k][1]:.2f})"
                 for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {s['order_entropy_nats']:.3f} |")
    return lines


def tune_rbc(env, layers, widths, seed):
    """App. B.1's protocol for the RBC baseline: train the MLP (current observation, MSE) for each depth x width
    on 95 % of the demonstrations (whole episodes, split with `seed`), and score it by the MSE of its predicted
    actions on the other 5 % (normalised units, summed over action dims). No environment is used."""
    cfg = train.env_config(env)
    demos = demofiles.load_demos(data.default_path(env), cfg.obs_dim, cfg.act_dim)
    episodes = data.split_episodes(demos)
    order = np.random.default_rng(seed).permutation(len(episodes))
    n_val = max(1, round(0.05 * len(episodes)))
    split = {name: data.join_episodes([episodes[i] for i in idx])
             for name, idx in (("train", order[n_val:]), ("validation", order[:n_val]))}
    rows = []
    for n_layer in layers:
        for width in widths:
            run_cfg = dataclasses.replace(cfg, rbc_layers=n_layer, rbc_width=width)
            torch.manual_seed(seed)
            model = train.build_model(run_cfg, "mse")
            history = train.train(model, split["train"], run_cfg, seed, log=lambda *a: None)
            with torch.no_grad():
                obs = torch.as_tensor(split["validation"]["obs"])[:, None]           # (N, 1, obs_dim): context 1
                actions = torch.as_tensor(split["validation"]["actions"])[:, None]   # (N, 1, act_dim)
                val = model.eval().loss(obs, actions)[1]["offset"].item()            # Eq. 2 with k=1: the MSE
            rows.append({"layers": n_layer, "width": width, "train_mse": history[-1]["offset"], "validation_mse": val})
            print(f"rbc {n_layer} x {width}: train MSE {rows[-1]['train_mse']:.4f}  validation MSE {val:.4f}", flush=True)
    best = min(rows, key=lambda r: r["validation_mse"])
    return {"env": env, "seed": seed, "episodes": {k: len(v["episode_ends"]) for k, v in split.items()},
            "epochs": cfg.epochs, "rows": rows, "best": best}


def rbc_markdown(result):
    """The RBC tuning grid: validation MSE per depth (rows) and width (columns), the best in bold."""
    widths = sorted({r["width"] for r in result["rows"]})
    lines = [f"{result['env']}: RBC validation MSE (normalised actions) on {result['episodes']['validation']} held-out "
             f"of {sum(result['episodes'].values())} episodes, {result['epochs']} epochs, seed {result['seed']}", "",
             "| layers | " + " | ".join(f"width {w}" for w in widths) + " |", "|" + "---|" * (len(widths) + 1)]
    for n_layer in sorted({r["layers"] for r in result["rows"]}):
        cells = [(f"**{r['validation_mse']:.4f}**" if r == result["best"] else f"{r['validation_mse']:.4f}")
                 for r in result["rows"] if r["layers"] == n_layer]
        lines.append(f"| {n_layer} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parser():
    p = runs.ArgumentParser(prog="python -m tools.ablations", description="Train and evaluate BeT's ablations (Table 3) and the k sweep (Fig. 6) for one env.")
    p.add_argument("--env", required=True, choices=list(envs.ENVS), help="the environment (its record in envs/)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 (default 3)")
    runs.add_flags(p, train.Config, ["epochs", "eval_episodes", "eval_seed"], defaults={"eval_episodes": 100,
                                                                                      "eval_seed": runs.EVAL_SEED})
    p.add_argument("--variants", help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--k-sweep", help="comma-separated k values (default per env; 'none' to skip)")
    p.add_argument("--update", action="store_true", help="keep the rows and k values of --out's ablations.json "
                   "that this command does not run (it must have the same seeds, episodes and epochs)")
    p.add_argument("--workers", type=int, default=1, help="runs trained at the same time, one process and one thread "
                   "each (default 1); the numbers do not depend on it")
    p.add_argument("--fresh", action="store_true", help="retrain runs even when --runs already holds their results")
    p.add_argument("--out", help="tables and figure (default runs/ablations/<env>; the committed tables are "
                   "docs/ablations/<env>: name it to refresh them)")
    p.add_argument("--runs", help="checkpoints and logs of every run (default runs/ablations/<env>)")
    p.add_argument("--tune-rbc", action="store_true", help="instead: pick the RBC baseline's depth and width by "
                   "validation MSE (App. B.1) and write rbc_tuning.json to --out")
    p.add_argument("--tune-seed", type=int, default=100, help="--tune-rbc: split and training seed (default 100)")
    return p


def checked(args):
    """Every flag and folder, before any run: returns (variant names, k values, the table's header)."""
    cfg, record = train.env_config(args.env), envs.get(args.env)
    for flag, value in (("--variants", args.variants), ("--k-sweep", args.k_sweep)):
        if value is not None and not value.strip():
            raise ValueError(f"{flag} must not be empty (leave it out for the default)")
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or ("BeT" not in names and not args.update):
        raise ValueError(f"--variants must include 'BeT' (unless --update) and only these: {', '.join(VARIANTS)} "
                         f"(got {unknown or names})")
    if len(set(names)) < len(names):
        raise ValueError(f"--variants names a variant twice ({args.variants}); each trains into its own folders")
    try:
        ks = [] if args.k_sweep == "none" else [int(k) for k in (args.k_sweep.split(",") if args.k_sweep else record.k_sweep)]
    except ValueError:
        raise ValueError(f"--k-sweep must be comma-separated integers or 'none' (got {args.k_sweep!r})") from None
    if len(set(ks)) < len(ks):
        raise ValueError(f"--k-sweep names a k twice ({args.k_sweep}); each is one point of the sweep")
    runs.check_counts(("--seeds", args.seeds, 1), ("--episodes", args.eval_episodes, 1), ("--workers", args.workers, 1),
                      ("--eval-seed", args.eval_seed, 0), ("--epochs", args.epochs, 1),
                      ("--k-sweep values", min(ks, default=1), 1),
                      ("--k-sweep values", max(ks, default=1), 1, runs.MOST["--k"]),
                      ("--k-sweep's number of values", len(ks), 0, MAX_K_VALUES))
    runs.check_episodes(("--episodes", args.eval_episodes))
    runs.check_workers(args.workers)
    runs.check_output_dir(args.out)
    runs.check_output_dir(args.runs, "--runs")
    runs.check_folder_kind(args.out, "--out", "an ablation table")
    runs.check_folder_kind(args.runs, "--runs", "an ablation table")       # a folder of runs, never a run's
    check_folders_hold(args.env, args.out, args.runs)
    actions = len(demofiles.load_demos(data.default_path(args.env), cfg.obs_dim, cfg.act_dim)["actions"])
    if max(ks, default=1) > actions:
        raise ValueError(f"--k-sweep: k={max(ks)} is more bins than the {actions} actions of {args.env}'s demonstrations")
    header = {"env": args.env, "metric": record.metric, "seeds": list(range(args.seeds)), "episodes": args.eval_episodes,
              "eval_seed": args.eval_seed, "epochs": args.epochs}
    if args.update:
        previous = os.path.join(args.out, "ablations.json")
        if not os.path.exists(previous):
            raise ValueError(f"--update: {previous} not found")
        old = _read(previous)
        if any(old.get(key) != value for key, value in header.items()):
            raise ValueError(f"--update: {previous} was made with other settings "
                             f"({ {key: old.get(key) for key in header} }), not {header}")
    return names, ks, header


def run_rbc_tuning(args):
    """--tune-rbc: the RBC grid of App. B.1, written to --out as rbc_tuning.json and .md."""
    runs.check_counts(("--tune-seed", args.tune_seed, 0), ("--workers", args.workers, 1))
    runs.check_workers(args.workers)
    runs.check_output_dir(args.out)
    runs.check_folder_kind(args.out, "--out", "an ablation table")      # beside a table, never in a run's folder
    torch.set_num_threads(1)
    result = tune_rbc(args.env, (1, 2, 3, 4), (32, 64, 128, 256), args.tune_seed)
    runs.write_json(os.path.join(args.out, "rbc_tuning.json"), result)
    text = rbc_markdown(result)
    runs.write_text(os.path.join(args.out, "rbc_tuning.md"), text)
    print("\n" + text)
    print(f"best: {result['best']['layers']} layers x {result['best']['width']} wide; "
          f"wrote {os.path.join(args.out, 'rbc_tuning.json')} and rbc_tuning.md")


def train_all(args, jobs):
    """Every (variant, flags, seed) run in --workers processes, one thread each; {(variant, seed): results}."""
    done, t0, metric = {}, time.time(), envs.get(args.env).metric
    tasks = [(name, flags, s, args.env, args) for name, flags, s in jobs]
    stopped = lambda: (f"after {len(done)} of {len(jobs)} runs; run the same command again to resume "
                       f"(finished runs are reused, an interrupted one continues from its last epoch)")
    with runs.on_interrupt(stopped), processes.pool(args.workers) as pool:
        for i, (name, s, results) in enumerate(pool.imap_unordered(_job, tasks)):   # leaving the block stops them
            done[name, s] = results
            print(f"[{i + 1}/{len(jobs)}] {name:<24} seed {s}  {metric} {results[metric]:.3f}"
                  f"   ({time.time() - t0:.0f}s)", flush=True)
    return done


def main(argv=None):
    args = parser().parse_args(argv)
    args.out = args.out if args.out is not None else os.path.join("runs", "ablations", args.env)
    args.runs = args.runs if args.runs is not None else os.path.join("runs", "ablations", args.env)
    if args.tune_rbc:
        return run_rbc_tuning(args)
    names, ks, header = checked(args)
    cfg, seeds, metric = train.env_config(args.env), header["seeds"], header["metric"]
    todo = [(n, VARIANTS[n]) for n in names] + [(f"k={k}", ["--k", str(k)]) for k in ks]
    key = lambda flags: () if flags == ["--k", str(cfg.k)] else tuple(flags)   # full BeT uses the default k
    first = {}                                         # flags -> the first variant trained with them
    for name, flags in todo:
        first.setdefault(key(flags), name)
    same = {name: first[key(flags)] for name, flags in todo}     # e.g. "k=1" reuses "No binning (k=1)"
    jobs = [(name, flags, s) for name, flags in todo if same[name] == name for s in seeds]
    check_evaluations(jobs, args)
    print(f"{len(jobs)} runs ({len(todo)} variants x {len(seeds)} seeds, shared runs reused) on {args.workers} "
          f"worker(s)", flush=True)
    done = train_all(args, jobs)
    summary = lambda results: {k: v for k, v in results.items() if k != "per_episode"}   # episodes stay in eval.json
    raw = {name: [summary(done[same[name], s]) for s in seeds] for name, _ in todo}
    command = "python -m tools.ablations " + shlex.join(argv if argv is not None else sys.argv[1:])
    commands = {name: command for name in raw}
    previous = os.path.join(args.out, "ablations.json")
    if args.update:                                    # rows this command did not run keep their old runs
        old = _read(previous)
        raw, commands = {**old["runs"], **raw}, {**old.get("commands", {}), **commands}
    names = [n for n in VARIANTS if n in raw]
    ks = sorted(int(n[2:]) for n in raw if n.startswith("k="))
    reference = float(np.mean([r[metric] for r in raw["BeT"]]))
    table = {n: summarise(raw[n], metric, reference, untrained=n in UNTRAINED) for n in names}
    sweep = {str(k): summarise(raw[f"k={k}"], metric, reference) for k in ks}
    runs.write_json(previous, {**header, "kernel_path": runs.kernel_path(), "table": table, "k_sweep": sweep, "runs": raw,
                               "commands": commands})
    text = markdown(args.env, table, seeds, args)
    runs.write_text(os.path.join(args.out, "ablations.md"), text)
    if ks:
        plots.plot_k_sweep(args.env, sweep, metric, os.path.join(args.out, "k_sweep.png"))
    print("\n" + text)
    print(f"wrote {args.out}/ablations.json, ablations.md" + (", k_sweep.png" if ks else ""))


if __name__ == "__main__":
    runs.cli(main)
