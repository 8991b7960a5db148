"""
Train a BeT policy on an environment's demonstrations, save it, then evaluate it (Algorithm 1).

    python train.py --env pointmass1                 # train, save runs/pointmass1/model.pt, evaluate
    python train.py --env pointmass1 --policy mse    # the MSE behaviour-cloning baseline (RBC)
    python train.py --env pointmass1 --policy nn     # the nearest-neighbour baseline (lwr: LWR); stores, no training
    python train.py --env pointmass1 --policy ibc    # Implicit BC (vae: the VAE, flow: the normalizing flow)
    python train.py --env pusht --collect 200        # (re)generate data/pusht.npz with the scripted expert

Per-environment settings live in each env's record (envs/<env>.py); every Config field with a flag can be overridden
on the command line (`python train.py --help` lists them with the paper's values).
"""

if __name__ == "__main__":
    import plumbing.early             # Ctrl-C while torch loads: exit 130, one line

import copy
import dataclasses
import math
import os
import shutil
import sys
import time

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import data
import envs
import evaluate
from plumbing import runs
import variants
from variants.baselines import NEIGHBOURS, NearestNeighbours
from mingpt import param_groups
from plumbing.runs import setting


@dataclasses.dataclass(frozen=True)
class Config:
    """One environment's settings, each declared once: default, help (with App. B's value, Tables 4-5:
    point-mass / block push) and flag (batch_size -> --batch-size)."""
    obs_dim: int
    act_dim: int
    # BeT (Table 4)
    k: int = setting(24, "number of bins (1 = no binning)", "2 (#1), 3 (#2) / 24", check=1)
    context: int = setting(5, "history length h (1 = no history)", "2 / 5", check=1)
    n_layer: int = setting(4, "trunk depth: transformer blocks (or MLP, TCN, LSTM layers)", "1 / 4", check=1)
    n_head: int = setting(4, "attention heads", "2 / 4", flag=False)
    n_embd: int = setting(72, "trunk width", "20 / 72", flag=False)
    dropout: float = setting(0.1, "dropout in the trunk", "0.1 / 0.1", check="fraction")
    alpha: float = setting(1.0, "offset loss weight (App. B.2)", "no value, 'losses of the same order'", check="nonnegative")
    gamma: float = setting(2.0, "focal loss exponent (Sec. 2.2)", "no value; Lin et al. use 2", check="nonnegative")
    offsets: bool = setting(True, "predict an offset per bin (--no-offsets: the action is the bin centre, Table 3)")
    mask_padding: bool = setting(False, "leave a padded window's repeats of its episode's first step out of the loss "
                                 "(--mask-padding; Alg. 1's windows never repeat a step)")
    trunk: str = setting("gpt", "ablation: mlp = an MLP over the stacked window, tcn = a causal temporal convolution, "
                         "lstm = an LSTM, each of the GPT's width and depth (Table 3, App. C.3)",
                         choices=("gpt", "mlp", "tcn", "lstm"))
    discretizer: str = setting("kmeans", "ablation: uniform = a uniform grid (Table 3)", choices=("kmeans", "uniform"))
    # training (Table 5: Adam, weight decay 0.1, betas (0.9, 0.95), gradient clip 1.0)
    epochs: int = setting(50, "training epochs", "10 / 350", check=1)
    batch_size: int = setting(64, "windows per batch", "64", check=1)
    lr: float = setting(1e-3, "learning rate", "1e-4", check="positive")
    schedule: str = setting("constant", "learning-rate schedule (cosine: decay to 0)", "constant", choices=("constant", "cosine"))
    weight_decay: float = setting(0.1, "AdamW weight decay on Linear weights", "0.1", flag=False)
    betas: tuple = setting((0.9, 0.95), "AdamW betas", "(0.9, 0.95)", flag=False)
    grad_clip: float = setting(1.0, "gradient norm clip", "1.0", flag=False)
    ema: float = setting(0.0, "keep an exponential moving average of the weights with this decay per step and save it "
                         "(0 = off; not in the paper)", "none", check="fraction")
    compile: bool = setting(False, "torch.compile the training loss (needs a C++ compiler)")
    threads: int = setting(0, "torch CPU threads for training (0 = the cores not busy with other work, printed; "
                                  "evaluation runs on one)", check=0)
    # the RBC baseline (Sec. 3.2); depth and width by validation MSE (App. B.1: tools.ablations --tune-rbc); the VAE,
    # Flow and IBC baselines' MLPs are of the same size
    rbc_layers: int = setting(2, "--policy mse, vae, flow, ibc: hidden layers of the MLPs", check=1)
    rbc_width: int = setting(64, "--policy mse, vae, flow, ibc: width of the MLPs", check=1)
    # evaluation
    temperature: float = setting(1.0, "bin sampling temperature (0 = argmax)", "1 (Sec. 2.4)", check="temperature")
    eval_episodes: int = setting(100, "evaluation episodes after training (0 = skip)", flag="--episodes", check=0)
    eval_seed: int = setting(runs.EVAL_SEED, "first evaluation env seed: episode i uses seed + i", check=0)


def env_config(name):
    """An env's Config: its record's settings (envs/<env>.py says why each departs from App. B)."""
    return Config(**envs.get(name).settings)


def build_model(cfg, policy="bet"):
    """BeT from a Config (Table 3's variants by cfg.trunk, cfg.discretizer, cfg.offsets, k and context; see
    variants/). policy="mdn" is GPT-MDN; "mse" the RBC baseline (Sec. 3.2): one bin (the focal term is then exactly 0
    and Eq. 2 is plain MSE regression) and an MLP trunk on the current observation, of its own depth and width;
    "nn" or "lwr" the nearest-neighbour or LWR baseline (Sec. 3.2, App. B.1): no weights to train; "vae", "flow",
    "ibc" the generative baselines (Sec. 3.2, App. B), whose MLPs are the RBC's size."""
    if policy in NEIGHBOURS:
        return variants.build(dict(policy=policy, obs_dim=cfg.obs_dim, act_dim=cfg.act_dim, neighbours=NEIGHBOURS[policy]))
    if policy in variants.GENERATIVE:
        return variants.build(variants.generative_config(policy, cfg.obs_dim, cfg.act_dim, cfg.rbc_layers, cfg.rbc_width))
    sizes = dict(k=cfg.k, context=cfg.context, n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd,
                 dropout=cfg.dropout, alpha=cfg.alpha, gamma=cfg.gamma)
    if policy == "mdn":
        return variants.build(variants.bet_config(cfg.obs_dim, cfg.act_dim, **sizes, head="mdn"))
    if policy == "mse":
        sizes.update(k=1, context=1, n_layer=cfg.rbc_layers, n_embd=cfg.rbc_width, dropout=0.0)
        return variants.build(variants.bet_config(cfg.obs_dim, cfg.act_dim, **sizes, trunk="mlp"))
    if cfg.discretizer == "uniform":     # a grid has levels**D bins: the smallest grid with at least k
        levels = 1
        while levels ** cfg.act_dim < cfg.k:
            levels += 1
        sizes["k"] = levels ** cfg.act_dim
    return variants.build(variants.bet_config(cfg.obs_dim, cfg.act_dim, **sizes, offsets=cfg.offsets, trunk=cfg.trunk,
                                              discretizer=cfg.discretizer))


def learning_rate(cfg, step, total_steps):
    """Constant (App. B Table 5 gives a rate and no schedule), or cosine decay to 0 over the run."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
    return cfg.lr


def optimizer(model, cfg):
    """Table 5's Adam with weight decay 0.1, as decoupled decay (AdamW) on Linear weights only, as minGPT does;
    fused=True updates all parameters in one kernel."""
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, fused=True)


def loss_function(model, cfg, log=print):
    """model.loss, or with cfg.compile its torch.compile'd version for full batches (an epoch's shorter last batch
    runs eagerly: compiling a second shape costs more than it saves). Compiling needs a C++ compiler on PATH;
    without one, or where compiling fails (runs.compiled_or_eager), training runs eagerly and says so."""
    if not cfg.compile:
        return model.loss
    if not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
        log("note: torch.compile needs a C++ compiler (g++ or clang++); training eagerly instead")
        return model.loss
    compiled = runs.compiled_or_eager(torch.compile(model.loss, dynamic=False), model.loss, log)
    return lambda obs, actions, mask=None: (compiled if len(obs) == cfg.batch_size else model.loss)(obs, actions, mask)


def train_step(model, opt, obs, actions, grad_clip, loss_fn=None, mask=None):
    """One update of Algorithm 1: the loss on a batch of windows, backward, gradient clipping, AdamW.
    obs (B, h, obs_dim), actions (B, h, act_dim) -> (loss, parts) as BeT.loss returns them."""
    loss, parts = (loss_fn or model.loss)(obs, actions, mask)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss, parts


def train(model, demos, cfg, seed, device="cpu", log=print, fit=True, state=None):
    """Algorithm 1: fit the k-means bins (fit=False keeps the model's), then minibatches of the windows ending at every
    step of every episode. `state` (runs.TrainingState) resumes a stopped run. Returns the per-epoch losses."""
    if isinstance(model, NearestNeighbours):     # App. B.1: "during training, [it] simply stores all the (o, a) pairs"
        model.fit(demos["obs"], demos["actions"])
        return []
    torch.manual_seed(seed)
    validation = None      # IBC (App. B: "quite easy to overfit"): early stopping on held-out episodes, not on rollouts
    if getattr(model, "held_out", 0):
        demos, validation = data.hold_out(demos, model.held_out, seed)
    if fit and not (state and state.resuming):
        model.fit_bins(demos["obs"], demos["actions"], seed=seed)                 # "Learn k-means encoder/decoder"
    model.to(device).train()
    obs, actions = (torch.as_tensor(demos[key], device=device) for key in ("obs", "actions"))   # (N, obs_dim), (N, D)
    index = torch.as_tensor(data.window_index(demos["episode_ends"], model.context), device=device)  # (N, h)
    if getattr(model, "horizon", 1) > 1:     # the VAE baseline's loss also sees the steps after t: (N, h + H - 1)
        ahead = torch.as_tensor(data.action_chunks(demos["episode_ends"], model.horizon)[:, 1:], device=device)
        index = torch.cat([index, ahead], 1)
    real = torch.as_tensor(data.real_steps(demos["episode_ends"], model.context), device=device)     # (N, h)
    opt, loss_fn = optimizer(model, cfg), loss_function(model, cfg, log)
    g = torch.Generator(device="cpu").manual_seed(seed)                                    # the batches' order
    total_steps = cfg.epochs * math.ceil(len(index) / cfg.batch_size)
    # not in the paper: an exponential moving average of the weights (decay cfg.ema a step), saved in their place
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema else None
    history, step, best = state.resume(model, opt, g, averaged, log) if state else ([], 0, None)
    t0 = time.time() - (history[-1]["seconds"] if history else 0.0)
    for epoch in range(len(history), cfg.epochs):
        perm, sums = torch.randperm(len(index), generator=g).to(device), {"loss": 0.0, "focal": 0.0, "offset": 0.0}
        for i in range(0, len(perm), cfg.batch_size):
            rows = index[perm[i:i + cfg.batch_size]]                                       # (B, h)
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, step, total_steps)
            loss, parts = train_step(model, opt, obs[rows], actions[rows], cfg.grad_clip, loss_fn,
                                     real[perm[i:i + cfg.batch_size]] if cfg.mask_padding else None)
            runs.check_finite(loss, epoch, step)
            if averaged is not None:
                averaged.update_parameters(model)
            step += 1
            sums = {key: sums[key] + value.item() * len(rows) for key, value in dict(loss=loss, **parts).items()}
        history.append({"epoch": epoch + 1, **{k: v / len(perm) for k, v in sums.items()}, "seconds": round(time.time() - t0, 2)})
        if validation is not None:           # early stopping: keep the weights of the lowest validation loss so far
            history[-1]["validation"] = model.eval().validation_loss(validation)
            model.train()
            if history[-1]["validation"] <= min(h["validation"] for h in history):
                best = copy.deepcopy(model.state_dict())
        if state:
            state.save(model, opt, g, averaged, history, step, best)
        runs.log_epoch(log, history[-1], cfg.epochs)
    if best is not None:
        model.load_state_dict(best)
        log(f"early stopping: the weights of epoch {min(history, key=lambda h: h['validation'])['epoch']}")
    elif averaged is not None:
        model.load_state_dict(averaged.module.state_dict())
    return history


def parser():
    """train.py's flags: runs.train_parser's, then one for each Config field that has one (see Config)."""
    p = runs.train_parser(envs.ENVS)
    runs.add_flags(p, Config)
    return p


def parse_args(argv=None):
    return parser().parse_args(argv)


def config_from_args(args):
    """The env's Config, with every field whose flag was given replaced."""
    if args.env not in envs.ENVS:
        raise ValueError(f"unknown env '{runs.one_line(args.env)}'; choose one of {', '.join(envs.ENVS)}")
    return dataclasses.replace(env_config(args.env), **runs.given(args, Config))


def data_path(args):
    """The demonstrations a run trains on: --data, or the env's committed file under data/."""
    return args.data if args.data is not None else data.default_path(args.env)


def collect(args, cfg, path):
    """--collect N: run the env's scripted expert until N successful episodes, write them to --data."""
    runs.check_collect_path(path, cfg, args.env, data.default_path(args.env))
    demos = data.collect(envs.get(args.env).demo_episode, args.collect, seed=args.seed, workers=args.workers)
    runs.save_demos(path, demos, env=args.env)
    print(f"wrote {path}: {len(demos['episode_ends'])} episodes, {len(demos['obs'])} steps")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    # settings: the env's record, then the flags; every flag and path is checked before any work
    args = parse_args(argv)
    cfg, path = config_from_args(args), data_path(args)
    out = None if args.collect else args.out if args.out is not None else \
        runs.default_out(args, cfg, env_config(args.env), data.default_path(args.env))        # (--collect trains nothing)
    runs.check_train_args(args, cfg, out)
    threads, why = runs.training_threads(cfg.threads)
    torch.set_num_threads(threads)
    if why:
        print(why)
    if args.collect:
        return collect(args, cfg, path)
    # the demonstrations, checked, and the run folder: one run at a time in it, resumable
    demos = runs.training_data(path, cfg, args)
    runs.check_run_folder(out, args.env)
    meta, command = runs.run_record(args, cfg, path)
    state = runs.TrainingState(out, command, resuming=args.resume)
    with runs.RunLock(out):
        runs.remove_stale_temp_files(out)
        print(f"{args.env}: {len(demos['episode_ends'])} episodes, {len(demos['obs'])} steps from {path}")
        # the model: weight init is part of the training seed
        torch.manual_seed(args.seed)
        model = build_model(cfg, args.policy)
        print(runs.describe_model(model, args.policy))
        # Algorithm 1; a stop (Ctrl-C) keeps the finished epochs for --resume
        t0 = time.time()
        with runs.on_interrupt(lambda: state.interrupted(argv)):
            history = train(model, demos, cfg, args.seed, args.device, state=state)
        seconds = time.time() - t0
        model_path, digest = runs.finish_run(out, model, meta, history, seconds)
        # evaluation: cfg.eval_episodes rollouts on env seeds eval_seed, eval_seed + 1, ... (as evaluate.py, one thread)
        if cfg.eval_episodes > 0:
            torch.set_num_threads(1)
            with runs.on_interrupt(f"{model_path} is saved; evaluate it with: python evaluate.py {model_path}"):
                results = evaluate.evaluate(model.cpu().eval(), args.env, cfg.eval_episodes, cfg.eval_seed,
                                            cfg.temperature, log=print)
            results.update(train_seconds=round(seconds, 2), checkpoint={"path": model_path, "sha256": digest})
            runs.write_json(os.path.join(out, "eval.json"), results)
            runs.print_results(results)
            print(f"wrote {os.path.join(out, 'eval.json')}")


if __name__ == "__main__":
    runs.cli(main)
