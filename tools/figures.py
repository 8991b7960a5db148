"""
The paper's point-mass figures, redrawn from our own checkpoints (matplotlib, imported lazily):

    Fig. 2 analogue  Multipath #1: demonstrations | BeT | MSE-BC
    Fig. 5 analogue  Multipath #2: demonstrations | BeT with history | BeT without history (context 1)
    bins.png         Sec. 2.1 on the PushT demonstrations: k-means bins and residuals (no checkpoint needed)

    python -m tools.figures                   # into runs/figures/; the checkpoints it needs are in PANELS, with the
                                        # command that trains each; --out docs refreshes the README's figures

Trajectories are coloured by the demonstrated route they follow; red ones leave every route.
"""

import os

import torch

import data
from envs import pointmass
import evaluate
import kmeans
from plumbing import plots
from plumbing import runs
from plumbing import demofiles

PANELS = {    # figure: (env, [(panel title, checkpoint, the command that trains it)])
    "fig2_pointmass1.png": ("pointmass1", [
        ("BeT", "runs/pointmass1/model.pt", "python train.py --env pointmass1"),
        ("MSE-BC", "runs/pointmass1-mse/model.pt", "python train.py --env pointmass1 --policy mse")]),
    "fig5_pointmass2.png": ("pointmass2", [
        ("BeT, context 2", "runs/pointmass2/model.pt", "python train.py --env pointmass2"),
        ("BeT, context 1 (no history)", "runs/pointmass2-context1/model.pt",
         "python train.py --env pointmass2 --context 1 --out runs/pointmass2-context1")]),
}


def demo_paths(env_name, n):
    """The first n demonstrations' (x, y) paths, each including the final position."""
    episodes = data.split_episodes(demofiles.load_demos(data.default_path(env_name), 2, 2))[:n]
    return [torch.cat([torch.as_tensor(e["obs"]), torch.as_tensor(e["next_obs"][-1:])]).numpy() for e in episodes]


def draw_bins(path, k=24, arrows=40, seed=0):
    """Sec. 2.1 as a picture: PushT's demonstrated actions coloured by k-means bin, the centres A_i, and for a
    few actions the residual <a> = a - A_floor(a) as an arrow from its centre (k-means on raw actions here)."""
    plt = plots.pyplot()
    actions = demofiles.load_demos(data.default_path("pusht"), 18, 2)["actions"].astype("float64")   # (N, 2) px
    centers = kmeans.fit(actions, k, seed=seed)                                                  # (k, 2)
    bins, residuals = kmeans.encode(actions, centers)
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.scatter(actions[:, 0], actions[:, 1], c=bins.numpy() % 10, cmap="tab10", s=1, alpha=0.25)
    ax.scatter(centers[:, 0], centers[:, 1], c="k", marker="x", s=30, label="bin centres $A_i$")
    pick = torch.randperm(len(actions), generator=torch.Generator().manual_seed(seed))[:arrows]
    for i in pick.tolist():
        c, r = centers[bins[i]].numpy(), residuals[i].numpy()
        ax.annotate("", xy=c + r, xytext=c, arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set_title(f"PushT actions: {k} k-means bins, and residuals\n"
                 r"$a = A_{\lfloor a \rfloor} + \langle a \rangle$ (Sec. 2.1)", fontsize=9)
    ax.set_xlabel("target x (px)"); ax.set_ylabel("target y (px)"); ax.set_aspect("equal"); ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=7)
    plots.save(fig, path, dpi=110)


def parser():
    p = runs.ArgumentParser(prog="python -m tools.figures", description="Draw the Fig. 2 / Fig. 5 analogues from trained point-mass checkpoints.")
    p.add_argument("--out", default=os.path.join("runs", "figures"), help="output directory (default runs/figures/; "
                   "--out docs refreshes the README's committed figures)")
    p.add_argument("--episodes", type=int, default=100, help="rollouts per panel (default 100)")
    p.add_argument("--seed", type=int, default=runs.EVAL_SEED, help="first evaluation env seed")
    p.add_argument("--bins-only", action="store_true", help="draw only bins.png (needs no checkpoints)")
    return p


def checked(args):
    """Every flag, checkpoint and figure this command would replace, before drawing: {path: (model, temperature)}."""
    runs.check_counts(("--episodes", args.episodes, 1), ("--seed", args.seed, 0))
    runs.check_episodes(("--episodes", args.episodes))
    runs.check_output_dir(args.out)
    runs.check_not_anothers(args.out, "--out", args.out)
    models = {}
    for filename, (env_name, panels) in ({} if args.bins_only else PANELS).items():
        for _, path, command in panels:
            if not os.path.exists(path):
                raise ValueError(f"{path}: not found; {filename} needs it: train it with: {command}")
            model = runs.load_model(path)
            if model.meta.get("env") != env_name:
                raise ValueError(f"{path}: trained on {model.meta.get('env')}, but {filename} needs a {env_name} run")
            runs.check_obs_dim(model, env_name)        # a forged meta names the env; the weights must fit it too
            models[path] = model, runs.recorded_temperature(model, path)
    for filename in ["bins.png"] + ([] if args.bins_only else list(PANELS)):
        runs.check_png(os.path.join(args.out, filename), "--out")
    return models


def main(argv=None):
    args = parser().parse_args(argv)
    models = checked(args)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    draw_bins(os.path.join(args.out, "bins.png"))
    print(f"wrote {os.path.join(args.out, 'bins.png')}")
    for filename, (env_name, panels) in ({} if args.bins_only else PANELS).items():
        fig, axes = plots.pyplot().subplots(1, 3, figsize=(10, 3.6), sharex=True, sharey=True)
        pointmass.draw(axes[0], env_name, demo_paths(env_name, args.episodes), "demonstrations")
        for ax, (label, path, _) in zip(axes[1:], panels):
            model, temperature = models[path]
            results, trajectories = evaluate.evaluate(model, env_name, args.episodes, args.seed, temperature, True)
            title = f"{label}\nsuccess {results['success_rate']:.0%}, single route {results['single_route']:.0%}"
            pointmass.draw(ax, env_name, [t["obs"][:, :2] for t in trajectories], title)
        plots.save(fig, os.path.join(args.out, filename), dpi=110)
        print(f"wrote {os.path.join(args.out, filename)}")


if __name__ == "__main__":
    runs.cli(main)
