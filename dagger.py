"""
DAgger for PushT (Ross, Gordon & Bagnell 2011): let the trained BeT drive, ask the scripted expert what it
would have done in every state BeT visits, and add those (BeT's observations, expert's actions) episodes
to the demonstrations before training on.

Why: BeT imitates well in the states the expert visits, but its own small errors lead it into states the
demonstrations never show. The expert re-plans from any true state (pusht_expert.PushTExpert.act reads
env.unwrapped), so it can label those.

    python dagger.py --rounds 1          # train BeT on data/pusht.npz, then one DAgger round (runs/pusht-dagger/)
"""

import argparse
import dataclasses
import os

import numpy as np
import torch

import data
import evaluate
import pusht_expert
import train

# one round: relabel EPISODES BeT rollouts (env seeds from SEED), then EPOCHS more epochs at LR (cosine)
EPISODES, SEED, EPOCHS, LR = 50, 500, 10, 5e-4


def labelling(policy, experts, labels):
    """Wrap a rollout policy so that, before each step, expert i records in labels[i] its action for env i's state."""
    def act(history, ids, envs_):
        for i in ids:
            labels[i].append(experts[i].act(envs_[i]))
        return policy(history, ids, envs_)
    return act


def relabelled_rollouts(model, episodes, seed, temperature=1.0, max_steps=None):
    """Run `episodes` BeT episodes in parallel (env seeds seed, seed+1, ...), executing BeT's sampled actions
    and recording the expert's action as the label at every step. Returns a dataset in data.py's format:
    obs (N, 18), actions (N, 2) expert labels, episode_ends (E,), seeds (E,), and success (E,) of BeT."""
    experts = [pusht_expert.PushTExpert(seed=seed + i) for i in range(episodes)]
    labels = [[] for _ in range(episodes)]
    policy = labelling(evaluate.bet_policy(model, temperature, seed), experts, labels)
    trajectories = evaluate.rollout(policy, "pusht", episodes, seed, model.context, max_steps=max_steps)
    return dict(obs=np.concatenate([t["obs"][:-1] for t in trajectories]).astype(np.float32),   # one per label
                actions=np.concatenate(labels).astype(np.float32),
                episode_ends=np.cumsum([len(t["actions"]) for t in trajectories]).astype(np.int64),
                seeds=np.arange(seed, seed + episodes, dtype=np.int64),
                success=np.array([t["success"] for t in trajectories]))


def aggregate(demos, extra):
    """The union of two datasets (obs, actions, episode_ends, seeds; other keys dropped): DAgger's D <- D u D_i."""
    ends = np.concatenate([demos["episode_ends"], extra["episode_ends"] + demos["episode_ends"][-1]])
    return dict(obs=np.concatenate([demos["obs"], extra["obs"]]),
                actions=np.concatenate([demos["actions"], extra["actions"]]),
                episode_ends=ends, seeds=np.concatenate([demos["seeds"], extra["seeds"]]))


def train_with_dagger(model, demos, cfg, rounds, seed, log=print):
    """After train.train(): `rounds` rounds of (relabel EPISODES BeT rollouts, aggregate, train EPOCHS more
    epochs at LR). The k-means centres and normalisation stay those of the expert data. Returns the loss history."""
    history = []
    for r in range(rounds):
        first = SEED + r * EPISODES
        extra = relabelled_rollouts(model.eval(), EPISODES, first, cfg.temperature)
        log(f"dagger round {r + 1}: BeT solved {extra['success'].mean():.0%} of seeds {first}.."
            f"{first + EPISODES - 1}; {len(extra['obs'])} states relabelled by the expert")
        demos = aggregate(demos, extra)
        round_cfg = dataclasses.replace(cfg, epochs=EPOCHS, lr=LR, schedule="cosine")
        history += train.train(model, demos, round_cfg, seed + r + 1, log=log, fit=False)
    return history


def main(argv=None):
    p = argparse.ArgumentParser(description="BeT on PushT, then DAgger rounds with the scripted expert.")
    p.add_argument("--env", default="pusht", help="pusht (the only env whose expert labels any state)")
    p.add_argument("--rounds", type=int, default=1, help="DAgger rounds after training (default 1)")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--episodes", type=int, default=100, help="evaluation episodes at the end (default 100)")
    p.add_argument("--out", default=os.path.join("runs", "pusht-dagger"))
    args = p.parse_args(argv)
    if args.env != "pusht":
        raise ValueError("DAgger needs an expert that labels any state: pusht only")
    data.check_at_least(("--rounds", args.rounds, 0), ("--seed", args.seed, 0), ("--episodes", args.episodes, 1))
    data.check_output_dir(args.out)
    torch.set_num_threads(1)
    cfg = train.ENVS["pusht"]
    demos = data.load_demos(data.default_path("pusht"), cfg.obs_dim, cfg.act_dim)
    torch.manual_seed(args.seed)
    model = train.build_model(cfg)
    history = train.train(model, demos, cfg, args.seed)
    history += train_with_dagger(model, demos, cfg, args.rounds, args.seed)
    model.save(os.path.join(args.out, "model.pt"), meta={"env": "pusht", "policy": "bet", "seed": args.seed,
                                                         "dagger_rounds": args.rounds, "temperature": cfg.temperature})
    results = evaluate.evaluate(model.eval(), "pusht", args.episodes, cfg.eval_seed, cfg.temperature)
    data.write_json(os.path.join(args.out, "eval.json"), {**results, "history": history})
    evaluate.print_results(results)


if __name__ == "__main__":
    data.cli(main)
