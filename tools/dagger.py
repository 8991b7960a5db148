"""
DAgger (Ross, Gordon & Bagnell, AISTATS 2011) as a controlled experiment: does asking the expert in the
learner's own states beat more demonstrations, for the same number of expert labels?

    round 0   BC: BeT trained on N expert demonstrations (Ross et al.'s first iteration, beta_1 = 1)
    round r   roll out pi_r = beta_r * expert + (1 - beta_r) * BeT (each step the expert's action with
              probability beta_r), label every visited state with the expert (the env record's label, a function of
              the state), aggregate D <- D u D_r, train BeT on D (continuing the last model, by default)
    control   BC on the first |D| transitions of the demonstrations: as many labels, all in the expert's states,
              trained as round r of DAgger is (continuing the control's round r-1 model, by default); with
              --more M, also BC with 2, 4, ..., 2**M times the last round's labels (more demonstrations)

Every model of a training seed keeps the bins and normalisation fitted on round 0's demonstrations: refitting
k-means would renumber the classes the bin head predicts, and the learner's off-course states would move the
normalisation, so the comparison would mix a data change with a model change.

    python -m tools.dagger --env cartpole       # 3 min 37 s on 2 cores: docs/dagger_cartpole.png and .json
    python -m tools.dagger --env track          # 5 min 18 s on 2 cores: docs/dagger_track.png and .json
    python -m tools.dagger --env pusht          # 55 min on 2 cores: docs/dagger_pusht.png and .json

Results and their diagnosis: docs/results.md#dagger-against-more-demonstrations.
"""

import dataclasses
import math
import os
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
from plumbing.runs import setting
from plumbing import demofiles

# per env: labels0 demonstration transitions in round 0, DAgger rounds, rollouts labelled per round and their
# step limit (horizon, None: whole episodes), gradient steps of round 0's training and of each later one,
# held-out evaluation episodes per point, and whether each later training continues the arm's previous model
# (warm, as CS285 does) or retrains from scratch. Chosen on evaluation seeds 1000+
# (docs/results.md#dagger-against-more-demonstrations).
# Who demonstrates (round 0 and the BC control): by default the labelling expert's own episodes (at most `horizon`
# steps, seeds 300000+), so one expert, a function of the state, gives every label of every arm. CartPole's data
# file is not used: its demonstrations carry DART-style flips, themselves a remedy for compounding errors.
# PushT takes its data file (--demonstrations data): the labeller plans afresh every step, and its own episodes
# make poor demonstrations (BC 32 % from 24,000 of its labels, against 56 % from 19,611 of the demonstrator's),
# so only the demonstrator's episodes give a round 0 that already works. The price: DAgger's labels then come
# from a second expert, which on the demonstrator's own states acts a median 38 px away from it
# (docs/results.md#dagger-against-more-demonstrations).


@dataclasses.dataclass(frozen=True)
class Settings:
    """One env's DAgger experiment; each field is also a dagger.py flag (labels0 -> --labels0)."""
    labels0: int = setting(None, "expert transitions in round 0", check=1)
    rounds: int = setting(None, "DAgger rounds after round 0", check=1)
    episodes: int = setting(None, "rollouts labelled per round", check=1)
    horizon: int = setting(None, "step limit of the rollouts labelled per round (none: whole episodes)", check=1)
    steps: int = setting(None, "gradient steps of round 0's training", check=1)
    round_steps: int = setting(None, "gradient steps of each later training, DAgger's and BC's", check=1)
    eval_episodes: int = setting(None, "held-out evaluation episodes per point", check=1)
    warm: bool = setting(True, "continue training the previous round's model (--no-warm: retrain from scratch)")
    more: int = setting(0, "BC-only points past the last round, each with twice the labels of the one before "
                           "(how far more demonstrations go)", check=0)
    demonstrations: str = setting("labeller", "who demonstrates in round 0 and the BC control: labeller (the "
                                  "labelling expert's own episodes) or data (data/<env>.npz)",
                                  choices=("labeller", "data"))


# each env's budgets live in its record (envs/<env>.py, `dagger`); these are the envs that have them
SETTINGS = {name: dataclasses.asdict(Settings(**record.dagger)) for name, record in envs.ENVS.items() if record.dagger}
SCHEDULES = ("ross", "half", "expert")   # beta_r for r >= 1: 0 (Ross et al.'s default), 0.5**r, 1 (= more demos)
DEMO_SEED = 300000                       # demonstration i starts from env seed 300000 + i
ROLLOUT_SEED = 200000                    # round r of training seed s rolls out env seeds 200000 + 10000 s + 1000 r + i


def learner(env_name):
    """The env's training settings, eager, with this experiment's own changes (its record's dagger_learner)."""
    return dataclasses.replace(train.env_config(env_name), compile=False, **envs.get(env_name).dagger_learner)


def beta(schedule, r):
    """The expert's share of the actions executed in round r >= 1 (round 0 is the expert's demonstrations)."""
    return {"ross": 0.0, "half": 0.5 ** r, "expert": 1.0}[schedule]


def first_transitions(demos, n):
    """The first n transitions of a dataset, the last episode cut short if needed (BC with exactly n labels)."""
    assert len(demos["obs"]) >= n, f"{n} transitions asked of a dataset holding {len(demos['obs'])}"
    ends = demos["episode_ends"]
    kept = int(np.searchsorted(ends, n)) + 1                     # episodes that hold the first n steps
    return dict(obs=demos["obs"][:n], actions=demos["actions"][:n], seeds=demos["seeds"][:kept],
                episode_ends=np.minimum(ends[:kept], n))


def label_policy(env_name):
    """The labelling expert (the env record's label) as an evaluate.rollout policy: it reads each env's true state."""
    label = envs.get(env_name).label
    return lambda history, ids, envs_: np.stack([label(envs_[i]) for i in ids])


def as_dataset(trajectories, labels, first_seed):
    """evaluate.rollout's trajectories as a dataset: each step's observation with its label (one list per
    episode), episode_ends and the episodes' env seeds."""
    episodes = [{"obs": t["obs"][:-1].astype(np.float32), "actions": np.asarray(a, np.float32)}
                for t, a in zip(trajectories, labels)]
    return dict(data.join_episodes(episodes), seeds=np.arange(first_seed, first_seed + len(episodes), dtype=np.int64))


def expert_episodes(env_name, first_seed, episodes, horizon):
    """The labelling expert driving `episodes` episodes from env seeds first_seed, first_seed+1, ... for at most
    `horizon` steps, failures included: a dataset (obs, actions, episode_ends, seeds)."""
    trajectories = evaluate.rollout(label_policy(env_name), env_name, episodes, first_seed, max_steps=horizon)
    return as_dataset(trajectories, [t["actions"] for t in trajectories], first_seed)


def collect_demonstrations(env_name, settings, n, workers=1, chunk=10):
    """At least n transitions of expert episodes from seeds DEMO_SEED, DEMO_SEED+1, ..., in chunks of `chunk`
    episodes, `workers` chunks at a time. The first n transitions do not depend on `workers`."""
    parts = []
    with processes.pool_if_several(workers) as pool:
        while sum(len(p["obs"]) for p in parts) < n:
            jobs = [(env_name, DEMO_SEED + (len(parts) + j) * chunk, chunk, settings["horizon"]) for j in range(workers)]
            parts += pool.starmap(expert_episodes, jobs) if pool else [expert_episodes(*job) for job in jobs]
    demos = parts[0]
    for part in parts[1:]:
        demos = aggregate(demos, part)
    return demos


def demonstrations(env_name, settings, n, cache=None):
    """At least n transitions of demonstrations, in the order round 0 and the BC control take them: the env's data
    file, or the labelling expert's episodes (read from `cache` when it holds enough)."""
    if settings["demonstrations"] == "data":
        return demofiles.load_demos(data.default_path(env_name))
    if cache and os.path.exists(cache):
        demos = demofiles.load_demos(cache)
        if len(demos["obs"]) >= n:
            return demos
    return collect_demonstrations(env_name, settings, n)


def aggregate(demos, extra):
    """D <- D u D_r: the two datasets end to end, episode boundaries and seeds kept."""
    # Exercise dagger: concatenate; extra's episode_ends count from its own start, so shift them.
    ### BEGIN SOLUTION dagger
    return dict(obs=np.concatenate([demos["obs"], extra["obs"]]),
                actions=np.concatenate([demos["actions"], extra["actions"]]),
                episode_ends=np.concatenate([demos["episode_ends"], extra["episode_ends"] + len(demos["obs"])]),
                seeds=np.concatenate([demos["seeds"], extra["seeds"]]))
    ### END SOLUTION


def labelled_rollouts(model, env_name, episodes, seed, beta_r, temperature, horizon=None):
    """Run pi = beta_r * expert + (1 - beta_r) * BeT on env seeds seed, seed+1, ...; label every visited state
    with the env record's label. Returns D_r (obs, expert actions, episode_ends, seeds) and the episodes' success."""
    learner = evaluate.bet_policy(model, temperature, seed)
    coins = [np.random.default_rng(seed + i) for i in range(episodes)]   # episode i's expert-or-learner draws
    labels, label = [[] for _ in range(episodes)], envs.get(env_name).label   # label(env): the expert's action

    def policy(history, ids, envs_):
        actions = learner(history, ids, envs_)                                  # (E_running, act_dim)
        # Exercise dagger (Ross et al. 2011, Alg. 3.1): label every state with the expert (label(envs_[i])); with
        # probability beta_r (one coins[i].random() draw per step), execute the expert's action instead.
        ### BEGIN SOLUTION dagger
        for row, i in enumerate(ids):
            labels[i].append(label(envs_[i]))
            if coins[i].random() < beta_r:
                actions[row] = labels[i][-1]
        ### END SOLUTION
        return actions
    trajectories = evaluate.rollout(policy, env_name, episodes, seed, model.context, max_steps=horizon)
    return as_dataset(trajectories, labels, seed), np.array([t["success"] for t in trajectories])


def fit(cfg, demos, seed, steps, bins=None, model=None):
    """BeT trained for about `steps` gradient steps on `demos` (cosine schedule over them). bins: a model
    whose centres and normalisation to keep (else they are fitted on `demos`); model: continue this one."""
    epochs = max(1, round(steps / math.ceil(len(demos["obs"]) / cfg.batch_size)))
    if model is None:
        torch.manual_seed(seed)
        model = train.build_model(cfg)
        if bins is not None:
            for name in ("centers", "obs_mean", "obs_std", "act_mean", "act_std", "fitted"):
                getattr(model, name).copy_(getattr(bins, name))
    train.train(model, demos, dataclasses.replace(cfg, epochs=epochs, schedule="cosine"), seed,
                log=lambda *a: None, fit=bins is None)
    return model.eval()


def score(model, env_name, cfg, episodes, seed):
    """The point's y value on held-out seeds: success rate, or mean return for CartPole."""
    results = evaluate.evaluate(model, env_name, episodes, seed, cfg.temperature)
    return {"success_rate": results["success_rate"], "mean_return": results.get("mean_return")}


def round0(env_name, settings, seed, demos):
    """Round 0's data (the first labels0 transitions of `demos`) and an untrained model holding the bins and
    normalisation fitted on them, exactly as train.train fits them, which every model of this seed keeps."""
    cfg = learner(env_name)
    D0 = first_transitions(demos, settings["labels0"])
    torch.manual_seed(seed)
    return cfg, D0, train.build_model(cfg).fit_bins(D0["obs"], D0["actions"], seed=seed)


def dagger_rounds(env_name, seed, settings, schedule, out, eval_seed, log=print):
    """One training seed's DAgger: round 0 (BC), then `rounds` rounds of labelled rollouts, aggregation and
    retraining. Saves each round's D_r as <out>/seed<seed>/round<r>.npz. Returns the points (dicts) and round 0's
    model weights (where the control starts)."""
    torch.set_num_threads(1)
    t0 = time.time()
    demos = demonstrations(env_name, settings, settings["labels0"], os.path.join(out, "demos.npz"))
    cfg, D, bins = round0(env_name, settings, seed, demos)
    folder = os.path.join(out, f"seed{seed}")
    os.makedirs(folder, exist_ok=True)
    runs.save_demos(os.path.join(folder, "round0.npz"), D)
    model = fit(cfg, D, seed, settings["steps"], bins=bins)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    points = [dict(arm="bc", round=0, labels=len(D["obs"]), beta=1.0,
                   **score(model, env_name, cfg, settings["eval_episodes"], eval_seed))]
    log(f"seed {seed} round 0: {points[-1]}  {time.time() - t0:.0f}s")
    for r in range(1, settings["rounds"] + 1):
        b = beta(schedule, r)
        D_r, success = labelled_rollouts(model, env_name, settings["episodes"], ROLLOUT_SEED + 10000 * seed + 1000 * r,
                                         b, cfg.temperature, settings["horizon"])
        runs.save_demos(os.path.join(folder, f"round{r}.npz"), D_r)
        D = aggregate(D, D_r)
        model = fit(cfg, D, seed, settings["round_steps"], bins=bins, model=model if settings["warm"] else None)
        points.append(dict(arm="dagger", round=r, labels=len(D["obs"]), beta=b, rollout_success=float(success.mean()),
                           **score(model, env_name, cfg, settings["eval_episodes"], eval_seed)))
        log(f"seed {seed} round {r}: {points[-1]}  {time.time() - t0:.0f}s")
    return [dict(p, seed=seed) for p in points], start


def matched_bc(env_name, seed, settings, controls, start, eval_seed, out, log=print):
    """The control of one seed: for each (labels, round) of `controls`, BC on the demonstrations' first `labels`
    transitions, trained as DAgger's round is: from round 0's weights `start`, each continuing the one before
    (when warm), with this seed's round-0 bins. Returns the points."""
    torch.set_num_threads(1)
    t0 = time.time()
    demos = demonstrations(env_name, settings, max(n for n, _ in controls), os.path.join(out, "demos.npz"))
    cfg, _, bins = round0(env_name, settings, seed, demos)
    model = train.build_model(cfg)
    model.load_state_dict(start)
    points = []
    for labels, r in controls:
        model = fit(cfg, first_transitions(demos, labels), seed, settings["round_steps"], bins=bins,
                    model=model if settings["warm"] else None)
        points.append(dict(arm="bc", round=r, labels=labels, beta=1.0, seed=seed,
                           **score(model, env_name, cfg, settings["eval_episodes"], eval_seed)))
        log(f"seed {seed} BC with {labels} labels: {points[-1]}  {time.time() - t0:.0f}s")
    return points


def run(env_name, seeds, settings, schedule, out, eval_seed, workers):
    """Every seed's DAgger rounds, then each round's matched BC; in `workers` processes, the controls of a
    seed starting as soon as its DAgger rounds end. Returns all points, in seed and round order."""
    if settings["demonstrations"] == "labeller":     # every demonstration any arm can need, collected once for all
        demos = collect_demonstrations(env_name, settings, most_labels(env_name, settings), workers)
        runs.save_demos(os.path.join(out, "demos.npz"), demos)
    jobs = [(env_name, s, settings, schedule, out, eval_seed) for s in range(seeds)]
    controls = lambda points: [c for p in points if p["arm"] == "dagger" for c in controls_of(p, settings)]
    if workers == 1:
        chains = [dagger_rounds(*job) for job in jobs]
        return ([p for points, _ in chains for p in points] +
                [p for s, (points, start) in enumerate(chains)
                 for p in matched_bc(env_name, s, settings, controls(points), start, eval_seed, out)])
    with processes.pool(min(workers, 2 * seeds)) as pool:
        chains = [pool.apply_async(dagger_rounds, job) for job in jobs]
        points, bc = [], []
        for s, chain in enumerate(chains):                  # a seed's control starts as soon as its DAgger ends
            seed_points, start = chain.get()
            points += seed_points
            job = (env_name, s, settings, controls(seed_points), start, eval_seed, out)
            bc.append(pool.apply_async(matched_bc, job))
        return points + [p for job in bc for p in job.get()]


def most_labels(env_name, settings):
    """The most demonstration transitions any arm can need: round 0, every round's rollouts run to their step
    limit, and the --more points."""
    env = envs.make(env_name)
    longest = settings["horizon"] or env.spec.max_episode_steps
    env.close()
    return (settings["labels0"] + settings["rounds"] * settings["episodes"] * longest) * 2 ** settings["more"]


def controls_of(point, settings):
    """The BC points a DAgger point calls for, as (labels, round): one with as many labels; after the last
    round, also `more` points with 2, 4, ... times as many (rounds past the last)."""
    extra = settings["more"] if point["round"] == settings["rounds"] else 0
    return [(point["labels"] * 2 ** j, point["round"] + j) for j in range(extra + 1)]


def labels_to_reach(summary, arm, target):
    """The fewest mean expert labels at which an arm's mean reaches `target` (None: not within the run); round 0
    (BC) is the first point of both arms."""
    reached = [s["labels"] for s in summary if (s["arm"] == arm or s["round"] == 0) and s["mean"] >= target]
    return min(reached) if reached else None


def summarise(points, metric, episodes):
    """Mean and std over seeds of each (arm, round): the curves of the figure; for a success rate also the 95 %
    Wilson interval of all the point's episodes pooled (seeds x `episodes`)."""
    rows = []
    for arm in ("bc", "dagger"):
        for r in sorted({p["round"] for p in points}):
            group = [p for p in points if p["arm"] == arm and p["round"] == r]
            if group:
                values = np.array([p[metric] for p in group])
                rows.append(dict(arm=arm, round=r, labels=float(np.mean([p["labels"] for p in group])),
                                 mean=float(values.mean()), std=float(values.std()), seeds=len(group)))
                if metric == "success_rate":
                    rows[-1]["ci95"] = stats.wilson(round(values.sum() * episodes), len(group) * episodes)
    return rows


def expert_score(env_name, episodes, seed):
    """The demonstrating expert on the evaluation seeds (the figure's top line): the env's scripted expert where it
    has one apart from its labeller (PushT), else the labeller."""
    if envs.get(env_name).expert:
        return evaluate.evaluate_expert(episodes, seed, env_name=env_name)[0]["success_rate"]
    trajectories = evaluate.rollout(label_policy(env_name), env_name, episodes, seed)
    return evaluate.metrics(env_name, trajectories, 0.0)[envs.get(env_name).metric]


def parser():
    p = runs.ArgumentParser(prog="python -m tools.dagger", description="DAgger against BC with as many expert labels, over several training seeds.")
    p.add_argument("--env", required=True, choices=sorted(SETTINGS), help="the environment (its record's dagger budgets)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 (default 3)")
    runs.add_flags(p, Settings)
    runs.add_flags(p, train.Config, ["eval_seed"], defaults={"eval_seed": runs.EVAL_SEED})
    p.add_argument("--schedule", default="ross", choices=SCHEDULES,
                   help="beta in rounds >= 1: ross 0, half 0.5**r, expert 1 (default ross)")
    p.add_argument("--workers", type=int, help="processes at once (default: one per training seed, up to 4 a core; "
                                               "each trains on one thread, and 3 seeds balance better on 3 than on 2)")
    p.add_argument("--out", help="each round's dataset (default runs/dagger-<env>)")
    p.add_argument("--json", help="every point (default <out>/dagger_<env>.json; the committed record is "
                   "docs/dagger_<env>.json: name it to refresh it)")
    p.add_argument("--plot", help="the figure (default <out>/dagger_<env>.png; committed: docs/dagger_<env>.png)")
    return p


def run_record(args, settings):
    """What a DAgger folder's run.json says of the run that fills it: one folder, one run."""
    return dict(env=args.env, seeds=args.seeds, settings=settings, schedule=args.schedule, eval_seed=args.eval_seed)


def check_one_run(out, record):
    """--out holds this run's files or none: a run.json of other settings, or rounds without one, is refused, and
    so is a folder of another script's outputs (a train.py run, an ablation table)."""
    runs.check_folder_kind(out, "--out", "a DAgger run")
    old = runs.existing_json(os.path.join(out, "run.json"), "the record of the DAgger run in this folder")
    if old is not None and old != record:
        changed = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
        raise ValueError(f"--out {out}: holds a DAgger run with other settings (differs in {', '.join(changed)}); "
                         f"choose another --out or remove that folder")
    if old is None and os.path.isdir(out) and any(n.startswith("seed") for n in os.listdir(out)):
        raise ValueError(f"--out {out}: holds rounds of an earlier DAgger run with no record of its settings; choose "
                         f"another --out or remove that folder")


def checked(args, settings, out, json_path, plot_path):
    """Every flag, folder and output file, before any work."""
    runs.check_settings(Settings(**settings))
    runs.check_counts(("--seeds", args.seeds, 1), ("--eval-seed", args.eval_seed, 0), ("--workers", args.workers, 1))
    runs.check_episodes(("--eval-episodes", settings["eval_episodes"]), ("--episodes", settings["episodes"]))
    runs.check_workers(args.workers)
    cfg = learner(args.env)
    if settings["labels0"] < cfg.k:
        raise ValueError(f"--labels0 {settings['labels0']}: round 0 needs at least k={cfg.k} labels for its bins")
    if settings["demonstrations"] == "data":
        path, most = data.default_path(args.env), most_labels(args.env, settings)
        held = len(demofiles.load_demos(path, cfg.obs_dim, cfg.act_dim)["obs"])
        if held < most:
            raise ValueError(f"--demonstrations data: {path} holds {held} transitions, and this run may need up to "
                             f"{most} (labels0 + rounds x episodes x step limit, x 2**more)")
    runs.check_output_dir(out)
    check_one_run(out, run_record(args, settings))
    cache = os.path.join(out, "demos.npz")     # an earlier run's demonstrations, reused: they must be this env's
    if os.path.exists(cache) and not runs.holds_demos(cache, cfg.obs_dim, cfg.act_dim):
        raise ValueError(f"--out {out}: its demos.npz is not {args.env} demonstrations; pick another folder")
    for flag, path in (("--json", json_path), ("--plot", plot_path)):    # never over the run's own record
        if os.path.abspath(path) in {os.path.abspath(os.path.join(out, n)) for n in ("run.json", "demos.npz")}:
            raise ValueError(f"{flag} {path}: that is the run's own record; name another file")
    runs.check_json_output(json_path, "--json", lambda old: old.get("env") == args.env and "points" in old,
                           f"a DAgger result for {args.env}", own=out)
    runs.check_png(plot_path, "--plot", own=out)


def main(argv=None):
    args = parser().parse_args(argv)
    args.workers = min(args.seeds, 4 * runs.cores()) if args.workers is None else args.workers
    settings = {**SETTINGS[args.env], **runs.given(args, Settings)}
    out = args.out if args.out is not None else os.path.join("runs", f"dagger-{args.env}")
    json_path = args.json if args.json is not None else os.path.join(out, f"dagger_{args.env}.json")
    plot_path = args.plot if args.plot is not None else os.path.join(out, f"dagger_{args.env}.png")
    checked(args, settings, out, json_path, plot_path)
    metric = envs.get(args.env).metric
    print(f"dagger on {args.env}: {args.seeds} seeds, {settings}, schedule {args.schedule}, "
          f"{'warm start' if settings['warm'] else 'retrained from scratch'} each round", flush=True)
    t0 = time.time()
    with runs.on_interrupt(f"nothing written to {json_path} or {plot_path}; the rounds so far are in {out}"), \
            runs.RunLock(out):
        runs.write_json(os.path.join(out, "run.json"), run_record(args, settings))
        points = run(args.env, args.seeds, settings, args.schedule, out, args.eval_seed, args.workers)
        torch.set_num_threads(1)
        expert = expert_score(args.env, settings["eval_episodes"], args.eval_seed)
    summary = summarise(points, metric, settings["eval_episodes"])
    target = expert - 0.05 * (1 if metric == "success_rate" else expert)          # within 5 points of the expert
    reach = {arm: labels_to_reach(summary, arm, target) for arm in ("dagger", "bc")}
    result = dict(env=args.env, kernel_path=runs.kernel_path(), metric=metric, settings=settings, schedule=args.schedule,
                  seeds=args.seeds, eval_seed=args.eval_seed, expert=expert, seconds=round(time.time() - t0, 1),
                  labels_to_reach=dict(target=target, **reach), summary=summary, points=points)
    runs.write_json(json_path, result)
    plots.plot_dagger(summary, metric, expert, args.env, plot_path)
    print(f"\n{'arm':<8} {'round':>5} {'labels':>8} {metric:>14}")
    for s in summary:
        interval = f"  ({s['ci95'][0]:.3f}–{s['ci95'][1]:.3f}, all episodes)" if "ci95" in s else ""
        print(f"{s['arm']:<8} {s['round']:>5} {s['labels']:>8.0f} {s['mean']:>8.3f} ± {s['std']:.3f} over seeds"
              + interval)
    shown = {arm: "not within the run" if n is None else f"{n:.0f}" for arm, n in reach.items()}
    print(f"expert {expert:.3f}; expert labels to reach {target:.3f}: DAgger {shown['dagger']}, BC {shown['bc']}")
    print(f"{result['seconds']:.0f}s; wrote {json_path} and {plot_path}")


if __name__ == "__main__":
    runs.cli(main)
