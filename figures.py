"""
The paper's point-mass figures, redrawn from our own checkpoints (matplotlib, imported lazily):

    Fig. 2 analogue  Multipath #1: demonstrations | BeT | MSE-BC
    Fig. 5 analogue  Multipath #2: demonstrations | BeT with history | BeT without history (context 1)

    python figures.py --out docs/        # after the README's point-mass training commands

Trajectories are coloured by the demonstrated route they follow; red ones leave every route.
"""

import argparse
import os
import sys

import torch

import data
import evaluate
from bet import BeT

PANELS = {
    "fig2_pointmass1.png": ("pointmass1", [("BeT", "runs/pointmass1/model.pt"),
                                           ("MSE-BC", "runs/pointmass1-mse/model.pt")]),
    "fig5_pointmass2.png": ("pointmass2", [("BeT, context 2", "runs/pointmass2/model.pt"),
                                           ("BeT, context 1 (no history)", "runs/pointmass2-context1/model.pt")]),
}


def demo_paths(env_name, n):
    """The first n demonstrations' (x, y) paths, each including the final position."""
    episodes = data.split_episodes(data.load_demos(data.default_path(env_name), 2, 2))[:n]
    return [torch.cat([torch.as_tensor(e["obs"]), torch.as_tensor(e["next_obs"][-1:])]).numpy() for e in episodes]


def main(argv=None):
    p = argparse.ArgumentParser(description="Draw the Fig. 2 / Fig. 5 analogues from trained point-mass checkpoints.")
    p.add_argument("--out", default="docs", help="output directory (default docs/)")
    p.add_argument("--episodes", type=int, default=100, help="rollouts per panel (default 100)")
    p.add_argument("--seed", type=int, default=100000, help="first evaluation env seed")
    args = p.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    for filename, (env_name, runs) in PANELS.items():
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), sharex=True, sharey=True)
        evaluate.draw_pointmass(axes[0], env_name, demo_paths(env_name, args.episodes), "demonstrations")
        for ax, (label, path) in zip(axes[1:], runs):
            model = BeT.load(path)
            temperature = model.meta.get("temperature", 1.0)
            results, trajectories = evaluate.evaluate(model, env_name, args.episodes, args.seed, temperature, True)
            title = f"{label}\nsuccess {results['success_rate']:.0%}, single route {results['single_route']:.0%}"
            evaluate.draw_pointmass(ax, env_name, [t["obs"][:, :2] for t in trajectories], title)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, filename), dpi=110)
        plt.close(fig)
        print(f"wrote {os.path.join(args.out, filename)}")


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
