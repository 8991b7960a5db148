"""
How and when do CartPole's BC policies fail, at the label counts where BC is not yet at the expert's level?

    python -m tools.studies.cartpole_failures            # ~1 min on one core; tuning seeds 1000-1049

For BC on the first 50, 100 and 150 labels of the labelling expert's 50-step episodes (dagger.py's round 0 and
control, training seeds 0-2, 1000 gradient steps), 50 rollouts on tuning seeds 1000+: the mean return, and of the
episodes that end early, how many end because the pole fell (|theta| > 12 deg) or the cart left the track
(|x| > 2.4), with the median step of each, and the median |x| at the end of the failed episodes against the
largest |x| in the expert's own demonstrations: a failure in states the demonstrations never show.
"""


import numpy as np
import torch

from tools import dagger, studies
import evaluate


def failures(trajectories):
    """(episodes that end with the pole down, their steps), (with the cart off the track, their steps)."""
    pole, cart = [], []
    for t in trajectories:
        steps, last = len(t["actions"]), t["obs"][-1]
        if steps < 500:
            (cart if abs(last[0]) > 2.4 else pole).append(steps)
    return pole, cart


def main(argv=None):
    studies.parser(__spec__.name, __doc__).parse_args(argv)
    torch.set_num_threads(1)
    settings = dagger.SETTINGS["cartpole"]
    demos = dagger.demonstrations("cartpole", settings, 150)
    print(f"expert demonstrations: max |x| {np.abs(demos['obs'][:150, 0]).max():.3f}")
    print(f"{'labels':>6} {'seed':>4} {'return':>7} {'pole falls (median step)':>26} {'cart off track (median step)':>30} {'|x| at end':>10}")
    for labels in (50, 100, 150):
        for seed in range(3):
            cfg, _, bins = dagger.round0("cartpole", settings, seed, demos)
            model = dagger.fit(cfg, dagger.first_transitions(demos, labels), seed, settings["steps"], bins=bins)
            trajectories = evaluate.rollout(evaluate.bet_policy(model, cfg.temperature, 1000), "cartpole", 50, 1000,
                                            model.context)
            pole, cart = failures(trajectories)
            mean_return = np.mean([len(t["actions"]) for t in trajectories])
            end_x = [abs(t["obs"][-1][0]) for t in trajectories if len(t["actions"]) < 500]
            print(f"{labels:>6} {seed:>4} {mean_return:>7.1f} {len(pole):>14} ({np.median(pole) if pole else 0:>5.0f})"
                  f" {len(cart):>18} ({np.median(cart) if cart else 0:>5.0f}) {np.median(end_x) if end_x else 0:>10.2f}")


if __name__ == "__main__":
    studies.run(main)
