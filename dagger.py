"""
DAgger for PushT (Ross, Gordon & Bagnell 2011): let the trained BeT drive, ask the scripted expert what it
would have done in every state BeT visits, and add those (BeT's observations, expert's actions) episodes
to the demonstrations before training on.

Why: BeT imitates well in the states the expert visits, but its own small errors lead it into states the
demonstrations never show (most failures end near the goal with coverage 0.9-0.95, dithering). The expert
re-plans from any true state (pusht_expert.PushTExpert.act reads env.unwrapped), so it can label those.

    demos = dagger.aggregate(demos, dagger.relabelled_rollouts(model, episodes=50, seed=500))
"""

import numpy as np

import evaluate
import pusht_expert


def relabelled_rollouts(model, episodes, seed, temperature=1.0, max_steps=None):
    """Run `episodes` BeT episodes in parallel (env seeds seed, seed+1, ...), executing BeT's sampled actions
    and recording the expert's action as the label at every step (evaluate.rollout with labelling experts).
    Returns a dataset in data.py's format: obs (N, 18), actions (N, 2) expert labels, episode_ends (E,),
    seeds (E,), and success (E,) of BeT."""
    experts = [pusht_expert.PushTExpert(seed=seed + i) for i in range(episodes)]
    trajectories = evaluate.rollout(model, "pusht", episodes, seed, temperature, experts=experts, max_steps=max_steps)
    return dict(obs=np.concatenate([t["obs"][:-1] for t in trajectories]).astype(np.float32),   # one per label
                actions=np.concatenate([t["labels"] for t in trajectories]).astype(np.float32),
                episode_ends=np.cumsum([len(t["labels"]) for t in trajectories]).astype(np.int64),
                seeds=np.arange(seed, seed + episodes, dtype=np.int64),
                success=np.array([t["success"] for t in trajectories]))


def aggregate(demos, extra):
    """The union of two datasets (obs, actions, episode_ends, seeds; other keys dropped): DAgger's D <- D u D_i."""
    ends = np.concatenate([demos["episode_ends"], extra["episode_ends"] + demos["episode_ends"][-1]])
    return dict(obs=np.concatenate([demos["obs"], extra["obs"]]),
                actions=np.concatenate([demos["actions"], extra["actions"]]),
                episode_ends=ends, seeds=np.concatenate([demos["seeds"], extra["seeds"]]))


def train_with_dagger(model, demos, cfg, seed, device="cpu", log=print):
    """After train.train(): `dagger_rounds` rounds of (relabel `dagger_episodes` BeT rollouts on seeds from
    `dagger_seed`, aggregate, train `dagger_epochs` more epochs at `dagger_lr`, cosine). The k-means centres
    and normalisation stay those of the expert data. Returns the extra loss history."""
    import train    # train.py's loop; imported here because train.py imports this module lazily too
    history = []
    for r in range(cfg["dagger_rounds"]):
        first = cfg["dagger_seed"] + r * cfg["dagger_episodes"]
        extra = relabelled_rollouts(model.cpu().eval(), cfg["dagger_episodes"], first, cfg["temperature"])
        log(f"dagger round {r + 1}: BeT solved {extra['success'].mean():.0%} of seeds {first}.."
            f"{first + cfg['dagger_episodes'] - 1}; {len(extra['obs'])} states relabelled by the expert")
        demos = aggregate(demos, extra)
        round_cfg = {**cfg, "epochs": cfg["dagger_epochs"], "lr": cfg["dagger_lr"]}
        history += train.train(model.to(device), demos, round_cfg, seed + r + 1, device, log, fit=False)
    return history
