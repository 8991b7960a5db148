"""
What do fixed 64-row batches cost an evaluation? evaluate.py pads every forward pass of a rollout to
runs.ROWS rows (so an episode's actions do not depend on how many run beside it); this times the same
evaluation with and without the padding, alternating in one process, and prints the ratio.

    python -m tools.studies.eval_batches runs/pusht/model.pt --episodes 100 --repeats 2

The unpadded variant calls the policy once on all running episodes, as evaluate.py did before 2026-12-07.
"""

import time

import torch

import envs
import evaluate
from plumbing import runs
from tools import studies


def timed(model, env, episodes, seed):
    t0 = time.perf_counter()
    evaluate.evaluate(model, env, episodes, seed)
    return time.perf_counter() - t0


def main(argv=None):
    p = studies.parser(__spec__.name, __doc__)
    p.add_argument("checkpoint", help="a train.py model.pt")
    p.add_argument("--episodes", type=int, default=100, help="episodes per timing (default 100)")
    p.add_argument("--repeats", type=int, default=2, help="timings of each variant, alternating (default 2)")
    p.add_argument("--seed", type=int, default=1000, help="first env seed (default 1000, a tuning seed)")
    args = p.parse_args(argv)
    runs.check_counts(("--episodes", args.episodes, 1, runs.MAX_EPISODES), ("--repeats", args.repeats, 1, 100),
                      ("--seed", args.seed, 0))
    torch.set_num_threads(1)                                  # as evaluate.main runs
    model = runs.load_model(args.checkpoint)
    env = model.meta.get("env")
    if not isinstance(env, str) or env not in envs.ENVS:            # as evaluate.py says of it
        raise ValueError(f"{args.checkpoint}: records no known env ({runs.one_line(repr(env))})")
    fixed, unpadded = runs.in_fixed_batches, lambda fn, x, generators, rows: fn(x, list(generators)).cpu()
    times = {"fixed 64-row batches": [], "one batch of the running episodes": []}
    for _ in range(args.repeats):
        for name, batches in zip(times, (fixed, unpadded)):
            runs.in_fixed_batches = batches
            times[name].append(timed(model, env, args.episodes, args.seed))
    runs.in_fixed_batches = fixed
    for name, t in times.items():
        print(f"{name:<36} " + "  ".join(f"{x:.1f}s" for x in t))
    a, b = (min(t) for t in times.values())
    print(f"fixed / unpadded (best of {args.repeats}): {a / b:.2f}x the time, {args.episodes} episodes of {env}")


if __name__ == "__main__":
    studies.run(main)
