"""
Does DAgger on PushT lose because of the learner's states or because of the second expert's labels?

    python -m tools.studies.pusht_second_expert runs/dagger-pusht      # 6 min on 2 cores with its caches, ~20 without

From training seed 0's round-0 model (20,000 of data/pusht.npz's transitions, 9,000 steps; retrained unless
runs/dagger-pusht-diagnosis/round0_seed0.pt holds it), continue 1,500 steps, as DAgger's round 1 does, on round
0's data plus as many extra labels of one of three kinds:
- the labeller (pusht_expert.label) in the learner's states: DAgger's own round 1 (<run>/seed0/round1.npz);
- the labeller in its own states: its own episodes (env seeds 300000+, as tools.dagger --demonstrations labeller);
- the demonstrator in its own states: the next transitions of data/pusht.npz (the matched BC control).
Scores on tuning seeds 1000-1099 (100 episodes), with round 0 itself and 1,500 more steps on round 0's data alone.
"""

import json
import multiprocessing as mp
import os

import torch

from tools import dagger
from tools import studies
import data
from plumbing import runs
import train
from plumbing import demofiles

CACHE = os.path.join("runs", "dagger-pusht-diagnosis")

ARMS = ("round 0", "round 0's data, 1,500 more steps", "+ labeller in the learner's states (DAgger round 1)",
        "+ labeller in its own states", "+ demonstrator in its own states (BC control)")


def arm(folder, name):
    """One row: round 0's model, trained on the row's data for round_steps more (as a DAgger or control round
    is; the first row not at all), scored on tuning seeds 1000-1099."""
    torch.set_num_threads(1)
    settings = dagger.SETTINGS["pusht"]
    demos = demofiles.load_demos(data.default_path("pusht"))
    cfg, D0, bins = dagger.round0("pusht", settings, 0, demos)
    learner = demofiles.load_demos(os.path.join(folder, "seed0", "round1.npz"))
    n = len(learner["obs"])
    labeller = dagger.demonstrations("pusht", dict(settings, demonstrations="labeller"), n,
                                     os.path.join(CACHE, "labeller_demos.npz"))
    datasets = {ARMS[0]: D0, ARMS[1]: D0, ARMS[2]: dagger.aggregate(D0, learner),
                ARMS[3]: dagger.aggregate(D0, dagger.first_transitions(labeller, n)),
                ARMS[4]: dagger.first_transitions(demos, len(D0["obs"]) + n)}
    model = train.build_model(cfg)
    model.load_state_dict(torch.load(os.path.join(CACHE, "round0_seed0.pt")))
    if name != ARMS[0]:
        model = dagger.fit(cfg, datasets[name], 0, settings["round_steps"], bins=bins, model=model)
    success = dagger.score(model.eval(), "pusht", cfg, 100, 1000)["success_rate"]
    return dict(data=name, labels=len(datasets[name]["obs"]), success_rate=success)


def diagnose(folder, workers=2):
    """Round 0's model and the labeller's episodes, made once (or read from CACHE), then the rows in parallel."""
    torch.set_num_threads(1)
    settings = dagger.SETTINGS["pusht"]
    os.makedirs(CACHE, exist_ok=True)
    weights, episodes = os.path.join(CACHE, "round0_seed0.pt"), os.path.join(CACHE, "labeller_demos.npz")
    if not os.path.exists(weights):
        cfg, D0, bins = dagger.round0("pusht", settings, 0, demofiles.load_demos(data.default_path("pusht")))
        state = dagger.fit(cfg, D0, 0, settings["steps"], bins=bins).state_dict()
        runs.atomic_write(weights, lambda f: torch.save(state, f))         # whole or absent: a killed run re-fits
    if not os.path.exists(episodes):
        n = len(demofiles.load_demos(os.path.join(folder, "seed0", "round1.npz"))["obs"])
        runs.save_demos(episodes, dagger.collect_demonstrations("pusht", dict(settings, demonstrations="labeller"),
                                                                n, workers))
    with mp.get_context("spawn").Pool(workers) as pool:
        for row in pool.starmap(arm, [(folder, name) for name in ARMS]):
            print(json.dumps(row), flush=True)


def main(argv=None):
    diagnose(studies.dagger_folder(__spec__.name, __doc__, argv, "pusht"))


if __name__ == "__main__":
    studies.run(main)
