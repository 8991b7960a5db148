"""Bin occupancy of the PushT training actions: k-means k 128 against the 12x12 uniform grid (seed 0).

    python -m tools.studies.bin_occupancy            # from the repository root"""
import dataclasses

import numpy as np, torch

import data, kmeans, train
from plumbing import demofiles
from tools import studies


def main(argv=None):
    studies.parser(__spec__.name, __doc__).parse_args(argv)
    cfg = train.env_config("pusht")
    demos = demofiles.load_demos(data.default_path("pusht"), cfg.obs_dim, cfg.act_dim)
    for name, c in (("k-means, k 128", cfg), ("uniform 12x12 grid", dataclasses.replace(cfg, discretizer="uniform"))):
        torch.manual_seed(0)
        model = train.build_model(c).fit_bins(demos["obs"], demos["actions"], seed=0)
        bins = kmeans.encode(model.normalize_actions(torch.as_tensor(demos["actions"])), model.centers)[0]   # (N,)
        share = np.bincount(bins.numpy(), minlength=len(model.centers)) / len(bins)                         # (bins,)
        print(f"{name}: {len(share)} bins, {(share < 0.001).sum()} under 0.1 % ({(share == 0).sum()} empty), "
              f"busiest {share.max():.1%}")


if __name__ == "__main__":
    studies.run(main)
