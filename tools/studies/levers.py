"""What each training-speed lever buys, in one process: variants alternate in blocks of 20 steps
(docs/history/experiments.md#what-each-change-buys).

    python -m tools.studies.levers BATCH [ROUNDS]      # from the repository root; ROUNDS defaults to 5"""
import dataclasses
import statistics
import time
import types

import torch, torch.nn.functional as F

import data, train, mingpt
from mingpt import param_groups
from plumbing import demofiles, runs
from tools import studies


def sdpa_forward(self, x):          # the previous code's attention: torch's fused kernel
    Bn, T, C = x.shape
    q, k, v = self.qkv(x).split(C, dim=2)
    q, k, v = (t.view(Bn, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.attn_drop.p if self.training else 0.0)
    return self.resid_drop(self.proj(y.transpose(1, 2).contiguous().view(Bn, T, C)))


def main(argv=None):
    p = studies.parser(__spec__.name, __doc__)
    p.add_argument("batch", type=int, metavar="BATCH", help="training batch size")
    p.add_argument("rounds", type=int, metavar="ROUNDS", nargs="?", default=5,
                   help="timed rounds after one warm-up round (default: %(default)s)")
    args = p.parse_args(argv)
    runs.check_counts(("BATCH", args.batch, 1, runs.MOST["--batch-size"]), ("ROUNDS", args.rounds, 1, 1000))
    torch.set_num_threads(1)
    B, rounds = args.batch, args.rounds
    base = dataclasses.replace(train.env_config('pusht'), batch_size=B)
    demos = demofiles.load_demos(data.default_path('pusht'), base.obs_dim, base.act_dim)
    obs, actions = torch.as_tensor(demos['obs']), torch.as_tensor(demos['actions'])
    index = torch.as_tensor(data.window_index(demos['episode_ends'], 5))

    def variant(dropout, fused, written, compiled):
        cfg = dataclasses.replace(base, dropout=dropout, compile=compiled)
        torch.manual_seed(0)
        model = train.build_model(cfg).fit_bins(demos['obs'], demos['actions']).train()
        if not written:
            for m in model.modules():
                if isinstance(m, mingpt.CausalSelfAttention): m.forward = types.MethodType(sdpa_forward, m)
                pass
        opt = torch.optim.AdamW(param_groups(model, 0.1), lr=cfg.lr, betas=cfg.betas, fused=fused)
        return model, opt, train.loss_function(model, cfg)

    variants = {
        'before (dropout 0.1, SDPA, AdamW loop, eager)': (0.1, False, False, False),
        '+ dropout 0': (0.0, False, False, False),
        '+ fused AdamW': (0.0, True, False, False),
        '+ written-out attention (eager default)': (0.0, True, True, False),
        '+ torch.compile (PushT default)': (0.0, True, True, True),
        'compiled, but SDPA': (0.0, True, False, True),
    }
    built = {n: variant(*v) for n, v in variants.items()}
    rows = torch.randint(len(index), (20, B), generator=torch.Generator().manual_seed(0))
    times = {n: [] for n in variants}
    for r in range(rounds + 1):
        for n, (model, opt, loss_fn) in built.items():
            t0 = time.perf_counter()
            for rr in rows:
                train.train_step(model, opt, obs[index[rr]], actions[index[rr]], 1.0, loss_fn)
            if r: times[n].append(len(rows) * B / (time.perf_counter() - t0))   # round 0 warms up (and compiles)
    first = statistics.median(times[next(iter(times))])
    for n, t in times.items():
        m = statistics.median(t); print(f"{n:60s} {m:8.0f} samples/s  {m / first:5.2f}x")


if __name__ == "__main__":
    studies.run(main)
