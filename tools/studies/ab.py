"""Speed of the checkout in the current directory, for back-to-back comparisons of old and new code
(docs/history/experiments.md#speed-benchpy): prints JSON, training samples/s at BATCH with the checkout's default
PushT config, or ms per BeT.sample call at batch 1 and 64.

    python -m tools.studies.ab BATCH STEPS train|act                      # this checkout, from the repository root
    cd CHECKOUT && python /path/to/tools/studies/ab.py BATCH STEPS train|act   # any other checkout

Inside another checkout the script imports that checkout's data.py and train.py (the current directory goes first
on sys.path), so it also runs on older checkouts (train.ENVS instead of train.env_config, no train.loss_function).
`cd CHECKOUT && PYTHONPATH=/path/to/repo python -m tools.studies.ab ...` works too, unless CHECKOUT has its own
tools/ package without studies/ (then `tools` resolves to CHECKOUT's)."""
import json
import sys
import time

from tools import studies


def main(argv=None):
    p = studies.parser(__spec__.name, __doc__)
    p.add_argument("batch", type=int, metavar="BATCH", help="training batch size (train)")
    p.add_argument("steps", type=int, metavar="STEPS", help="timed training steps (train) or BeT.sample calls (act)")
    p.add_argument("what", choices=("train", "act"), help="train: samples/s; act: ms per BeT.sample call")
    args = p.parse_args(argv)
    from plumbing import runs
    runs.check_counts(("BATCH", args.batch, 1, runs.MOST["--batch-size"]), ("STEPS", args.steps, 1, 100_000))
    import dataclasses
    import numpy as np
    import torch
    sys.path.insert(0, '.')          # the checkout in the current directory: its data.py and train.py
    import data, train
    torch.set_num_threads(1)
    batch, steps, what = args.batch, args.steps, args.what
    # the checkout's default PushT config: train.env_config now, train.ENVS in checkouts before the envs/ package
    default = train.env_config('pusht') if hasattr(train, 'env_config') else train.ENVS['pusht']
    cfg = dataclasses.replace(default, batch_size=batch)
    load = data.load_demos if hasattr(data, 'load_demos') else __import__('plumbing.demofiles').demofiles.load_demos
    demos = load(data.default_path('pusht'), cfg.obs_dim, cfg.act_dim)      # (plumbing/demofiles.py from 2026-12-07)
    obs, actions = torch.as_tensor(demos['obs']), torch.as_tensor(demos['actions'])
    index = torch.as_tensor(data.window_index(demos['episode_ends'], cfg.context))
    torch.manual_seed(0)
    model = train.build_model(cfg).fit_bins(demos['obs'], demos['actions'])
    out = {}
    if what == 'train':
        if hasattr(train, 'loss_function'):
            opt, loss_fn = train.optimizer(model, cfg), train.loss_function(model, cfg)
        else:
            from mingpt import param_groups
            opt, loss_fn = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas), model.loss
        model.train()
        rows = torch.randint(len(index), (steps + 10, batch), generator=torch.Generator().manual_seed(0))
        for i, r in enumerate(rows):
            if i == 10: t0 = time.perf_counter()
            loss, _ = loss_fn(obs[index[r]], actions[index[r]])
            opt.zero_grad(set_to_none=True); loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip); opt.step()
        out['train_samples_per_second'] = steps * batch / (time.perf_counter() - t0)
    else:
        model.eval()
        for b in (1, 64):
            x = torch.as_tensor(demos['obs'][index[np.arange(b) * 97]])
            g = torch.Generator().manual_seed(0)
            ts = []
            for _ in range(steps + 20):
                t0 = time.perf_counter(); model.sample(x, 1.0, g); ts.append(time.perf_counter() - t0)
            out[f'ms_batch{b}'] = 1000 * float(np.median(ts[20:]))
    print(json.dumps(out))


if __name__ == "__main__":
    studies.run(main)
