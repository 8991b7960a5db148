"""Speed of the checkout in the current directory, for back-to-back comparisons of old and new code (docs/experiments.md#speed-benchpy):
    cd CHECKOUT && python /path/to/ab.py BATCH STEPS train|act
prints JSON: training samples/s at BATCH with the checkout's default PushT config, or ms per BeT.sample call at batch 1 and 64."""
import sys, time, json, dataclasses, torch, numpy as np
sys.path.insert(0, '.')
import data, train
torch.set_num_threads(1)
batch, steps, what = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cfg = dataclasses.replace(train.ENVS['pusht'], batch_size=batch)
demos = data.load_demos(data.default_path('pusht'), cfg.obs_dim, cfg.act_dim)
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
