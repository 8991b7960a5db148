"""Where the PushT training step and a batch-1 action spend their time, and what compiling an action would cost
(docs/history/experiments.md#targets-not-met). One thread, the default PushT config, data/pusht.npz.

    python -m tools.studies.limits            # from the repository root; ~1-2 min (compiles twice)

prints JSON: (1) the training step's profile at batch 256 grouped into matmuls, the tiny attention matmuls (bmm),
compiled C++ kernels (GELU separately) and the rest; (2) each Linear's matmul GFLOP/s against one large matmul on
the same core (the attainable peak); (3) BeT.sample at batch 1, eager and torch.compile'd, and the compile time."""
import json, time
import numpy as np, torch
from torch.profiler import profile
import torch._inductor.config
import data, train
from plumbing import demofiles
from tools import studies


def median_seconds(f, n):
    ts = []
    for _ in range(n + 20):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts[20:]))


def main(argv=None):
    studies.parser(__spec__.name, __doc__).parse_args(argv)
    torch._inductor.config.cpp.enable_kernel_profile = True      # name the compiled kernels in the profile
    torch.set_num_threads(1)
    cfg = train.env_config('pusht')
    demos = demofiles.load_demos(data.default_path('pusht'), cfg.obs_dim, cfg.act_dim)
    obs, actions = torch.as_tensor(demos['obs']), torch.as_tensor(demos['actions'])
    index = torch.as_tensor(data.window_index(demos['episode_ends'], cfg.context))
    out = {}

    # (1) the training step at batch 256, compiled as train.py compiles it
    torch.manual_seed(0)
    model = train.build_model(cfg).fit_bins(demos['obs'], demos['actions']).train()
    opt, loss_fn = train.optimizer(model, cfg), train.loss_function(model, cfg)
    rows = torch.randint(len(index), (40, cfg.batch_size), generator=torch.Generator().manual_seed(0))
    for r in rows[:10]:
        train.train_step(model, opt, obs[index[r]], actions[index[r]], cfg.grad_clip, loss_fn)
    with profile() as prof:
        for r in rows[10:]:
            train.train_step(model, opt, obs[index[r]], actions[index[r]], cfg.grad_clip, loss_fn)
    groups = {'matmul (mm, addmm)': 0.0, 'attention bmm (1024 x 5x18 @ 18x5 and 5x5 @ 5x18)': 0.0,
              'compiled kernels: GELU (erf), forward and backward': 0.0, 'compiled kernels: the rest': 0.0, 'everything else': 0.0}
    for e in prof.key_averages():
        name, t = e.key, e.self_cpu_time_total
        if name in ('aten::mm', 'aten::addmm'): groups['matmul (mm, addmm)'] += t
        elif name == 'aten::bmm': groups['attention bmm (1024 x 5x18 @ 18x5 and 5x5 @ 5x18)'] += t
        elif 'cpp_fused' in name and 'gelu' in name: groups['compiled kernels: GELU (erf), forward and backward'] += t
        elif 'cpp_fused' in name: groups['compiled kernels: the rest'] += t
        else: groups['everything else'] += t
    total = sum(groups.values())
    out['train_step_batch256_ms'] = round(total / 1000 / (len(rows) - 10), 1)
    out['train_step_share'] = {k: round(v / total, 3) for k, v in groups.items()}

    # (2) the Linears' matmuls (forward, input gradient, weight gradient) against one large matmul
    N = cfg.batch_size * cfg.context
    peak = 2 * 2048 ** 3 / median_seconds(lambda a=torch.randn(2048, 2048): a @ a, 10) / 1e9
    out['matmul_gflops'] = {'2048x2048 (peak on this core)': round(peak)}
    for i, o in [(72, 216), (72, 72), (72, 288), (288, 72), (72, 96), (72, 192)]:
        X, W, dY = torch.randn(N, i), torch.randn(o, i), torch.randn(N, o)
        flops = 2 * N * i * o
        out['matmul_gflops'][f'{N}x{i} @ {i}x{o}'] = [round(flops / median_seconds(f, 100) / 1e9)
                                                        for f in (lambda: X @ W.t(), lambda: dY @ W, lambda: dY.t() @ X)]

    # (3) one action at batch 1, eager and compiled (static shapes)
    torch.manual_seed(0)
    model = train.build_model(cfg).fit_bins(demos['obs'], demos['actions']).eval()
    x = torch.as_tensor(demos['obs'][index[[97]]])
    g = torch.Generator().manual_seed(0)
    eager = median_seconds(lambda: model.sample(x, 1.0, g), 300)
    t0 = time.perf_counter()
    model.forward = torch.compile(model.forward, dynamic=False)
    model.sample(x, 1.0, g)
    compile_s = time.perf_counter() - t0
    compiled = median_seconds(lambda: model.sample(x, 1.0, g), 300)
    out['batch1_action_ms'] = {'eager': round(1000 * eager, 3), 'compiled': round(1000 * compiled, 3),
                               'compile_seconds': round(compile_s, 1),
                               'actions_to_repay_compile': int(compile_s / (eager - compiled))}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    studies.run(main)
