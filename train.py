"""
Train a BeT policy on an environment's demonstrations, save it, then evaluate it (Algorithm 1).

    python train.py --env pointmass1                 # train, save runs/pointmass1/model.pt, evaluate
    python train.py --env pointmass1 --policy mse    # the MSE behaviour-cloning baseline (RBC)
    python train.py --env pusht --collect 200        # (re)generate data/pusht.npz with the scripted expert

Per-environment settings live in the one table ENVS below (a Config per env, starting from App. B,
Tables 4-5); a flag of the same name overrides any field. Run `python train.py --help` for the flags.
"""

import argparse
import dataclasses
import math
import os
import shlex
import shutil
import sys
import time

import numpy as np
import torch

import data
import evaluate
from bet import BeT
from mingpt import param_groups


@dataclasses.dataclass(frozen=True)
class Config:
    """One environment's settings. Comments give the paper's value (App. B Tables 4-5: point-mass / block
    push) where it has one. Every field but the dimensions is a train.py flag: --batch-size sets batch_size."""
    obs_dim: int
    act_dim: int
    # BeT (Table 4)
    k: int = 24                   # bins; paper 2 (#1) or 3 (#2) / 24
    context: int = 5              # history length h; paper 2 / 5
    n_layer: int = 4              # paper 1 / 4
    n_head: int = 4               # paper 2 / 4
    n_embd: int = 72              # paper 20 / 72
    dropout: float = 0.1          # paper 0.1 / 0.1
    alpha: float = 1.0            # offset loss weight; paper: no value, "the two losses are of the same order" (App. B.2)
    gamma: float = 2.0            # focal loss; paper: no value; 2 is the focal-loss paper's default (Lin et al. 2017)
    offsets: bool = True          # Table 3 ablations: offsets, k=1, context=1, trunk="mlp", discretizer="uniform"
    trunk: str = "gpt"
    discretizer: str = "kmeans"
    # training (Table 5: Adam, lr 1e-4, weight decay 0.1, betas (0.9, 0.95), gradient clip 1.0)
    epochs: int = 50              # paper 10 / 350
    batch_size: int = 64          # paper 64 / 64
    lr: float = 1e-3              # paper 1e-4
    schedule: str = "constant"    # paper: constant; or "cosine" decay to 0 over the run
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.95)
    grad_clip: float = 1.0
    compile: bool = False         # torch.compile the loss (see loss_function): repays its ~35 s only in long runs
    # the RBC baseline (Sec. 3.2): an MLP on the current observation, depth and width picked by validation
    # MSE on a 95/5 split of the demonstrations (App. B.1): `python ablations.py --env E --tune-rbc` writes
    # docs/ablations/<env>/rbc_tuning.json, whose best entry is copied here (the default is untuned)
    rbc_layers: int = 2
    rbc_width: int = 64
    # evaluation
    temperature: float = 1.0      # bin sampling temperature (Sec. 2.4 samples at 1)
    eval_episodes: int = 100
    eval_seed: int = 100000       # evaluation episode i uses env seed eval_seed + i
    metric: str = "success_rate"  # what the ablation table and k sweep judge the env by
    k_sweep: tuple = (1, 2, 4, 8)


# Where we depart from the paper, the comment says why; docs/experiments.md records what was tried.
ENVS = {
    # Point-mass. Departures from Table 4-5 (tuned on eval seeds 1000+):
    # - lr 1e-3 x 100 epochs: lr 1e-4 x 10 epochs (250 steps on 1,600 samples) is far from converged.
    # - width 64, no dropout: width 20 left the bin head unable to tell a corner from its neighbour.
    # - temperature 0.5: focal loss stops pushing once p_t is high, so unambiguous states keep a few
    #   % of mass on wrong bins; over 16 steps those slips break routes. Halving the temperature
    #   sharpens them but leaves an even split (the forks) even. The docs report temperature 1 too.
    "pointmass1": Config(obs_dim=2, act_dim=2, k=2, context=2, n_layer=1, n_head=2, n_embd=64, dropout=0.0,
                         epochs=100, alpha=1.0, temperature=0.5, eval_episodes=200,
                         rbc_layers=3, rbc_width=256, k_sweep=(1, 2, 3, 4, 6, 8)),
    "pointmass2": Config(obs_dim=2, act_dim=2, k=3, context=2, n_layer=1, n_head=2, n_embd=64, dropout=0.0,
                         epochs=100, alpha=1.0, temperature=0.5, eval_episodes=200, metric="single_route",
                         rbc_layers=4, rbc_width=128, k_sweep=(1, 2, 3, 4, 6, 8)),
    # CartPole is not in the paper: a quick check on a classic control task (point-mass settings, 10 epochs).
    "cartpole":   Config(obs_dim=4, act_dim=1, k=2, context=2, n_layer=1, n_head=2, n_embd=20, dropout=0.1,
                         epochs=10, alpha=1.0, metric="mean_return"),
    # PushT, from Table 4's block-push column (4 layers, 4 heads, width 72, context 5).
    # Departures, tuned on eval seeds 1000-1199 (docs/experiments.md has the tables):
    # - AdamW lr 2e-3, batch 256, cosine, 40 epochs, compiled (~7 min on one core): 1e-4 is far from converged
    #   in a CPU budget; batch 256 runs ~1.4x the samples/s of batch 64.
    # - dropout 0 (paper 0.1): at this budget 0.1 gave 81.5 % against 87.5 % success, and costs 1.5x the time.
    # - k=96: the failures end next to the goal (coverage 0.9-0.95), where fine pushes need precise
    #   actions; finer bins shrink the offset error (k 24 / 48 / 96: 53 / 69 / 71.5 % success after 25 epochs).
    # - alpha=10: the offset term is ~0.03 in normalised units; 100 made the clipped steps slower
    #   for both terms. Temperature 1: 0.5 and 0.75 were within noise (+-5 %) of it.
    "pusht":      Config(obs_dim=18, act_dim=2, k=96, context=5, n_layer=4, n_head=4, n_embd=72, dropout=0.0,
                         epochs=40, batch_size=256, lr=2e-3, schedule="cosine", compile=True, alpha=10.0,
                         rbc_layers=3, rbc_width=256, k_sweep=(1, 8, 24, 48, 96)),
}


def episode_fn(env_name):
    """The scripted expert's demo_episode(seed) for an env (imported lazily: PushT's expert is heavier)."""
    if env_name == "pusht":
        import pusht_expert
        return pusht_expert.demo_episode
    import experts
    return experts.EPISODE_FNS[env_name]


def build_model(cfg, policy="bet"):
    """BeT from a Config. policy="mse" is the RBC baseline (Sec. 3.2): one bin (the focal term is then exactly 0
    and Eq. 2 is plain MSE regression) and an MLP trunk on the current observation, of its own depth and width."""
    if policy == "mse":
        return BeT(cfg.obs_dim, cfg.act_dim, k=1, context=1, n_layer=cfg.rbc_layers, n_embd=cfg.rbc_width,
                   dropout=0.0, alpha=cfg.alpha, trunk="mlp")
    k = cfg.k
    if cfg.discretizer == "uniform":     # a grid has levels**D bins: the smallest grid with at least k
        levels = 1
        while levels ** cfg.act_dim < k:
            levels += 1
        k = levels ** cfg.act_dim
    return BeT(cfg.obs_dim, cfg.act_dim, k=k, context=cfg.context, n_layer=cfg.n_layer, n_head=cfg.n_head,
               n_embd=cfg.n_embd, dropout=cfg.dropout, alpha=cfg.alpha, gamma=cfg.gamma, offsets=cfg.offsets,
               trunk=cfg.trunk, discretizer=cfg.discretizer)


def learning_rate(cfg, step, total_steps):
    """Constant (App. B Table 5), or cosine decay to 0 over the run."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
    return cfg.lr


def optimizer(model, cfg):
    """Table 5's Adam with weight decay 0.1, as decoupled decay (AdamW) on Linear weights only, as minGPT does.
    fused=True updates all parameters in one kernel: 1.13x the training samples/s of the per-parameter loop at
    batch 64 (1.02x at 256)."""
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, fused=True)


def loss_function(model, cfg, log=print):
    """model.loss, through torch.compile when cfg.compile is set (PushT: it fuses a step's small ops into C++
    loops, 1.13x the samples/s of eager mode, after ~35 s of compiling on a first run; later runs reuse
    torch's on-disk cache). On CPU this needs a C++ compiler on PATH; without one, training runs eagerly
    and says so."""
    if not cfg.compile:
        return model.loss
    if not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
        log("note: torch.compile needs a C++ compiler (g++ or clang++); training eagerly instead")
        return model.loss
    return torch.compile(model.loss, dynamic=False)


def train_step(model, opt, obs, actions, grad_clip, loss_fn=None):
    """One update of Algorithm 1: the loss on a batch of windows, backward, gradient clipping, AdamW.
    obs (B, h, obs_dim), actions (B, h, act_dim) -> (loss, parts) as BeT.loss returns them.
    `loss_fn` is model.loss or its compiled version (see loss_function)."""
    loss, parts = (loss_fn or model.loss)(obs, actions)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss, parts


def train(model, demos, cfg, seed, device="cpu", log=print, fit=True, state_path=None, resume=False, command=None):
    """Algorithm 1's training loop: k-means on the actions (unless fit=False: keep the model's bins, e.g. to
    train on), then minibatches of windows ending at every step of every episode (the last window included).
    With `state_path`, the full training state is saved there after every epoch; `resume=True` continues
    from it, giving the same weights as an uninterrupted run (`command`, saved with the state, lets the caller
    check that a resume continues the same run). Returns the per-epoch loss history."""
    torch.manual_seed(seed)
    if fit and not resume:
        model.fit_bins(demos["obs"], demos["actions"], seed=seed)
    model.to(device).train()
    obs = torch.as_tensor(demos["obs"], device=device)                                     # (N, obs_dim)
    actions = torch.as_tensor(demos["actions"], device=device)                             # (N, act_dim)
    index = torch.as_tensor(data.window_index(demos["episode_ends"], model.context), device=device)  # (N, h)
    opt = optimizer(model, cfg)
    loss_fn = loss_function(model, cfg, log)
    steps_per_epoch = math.ceil(len(index) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    g = torch.Generator(device="cpu").manual_seed(seed)
    history, step, first_epoch = [], 0, 0
    if resume:                           # everything the next epoch depends on: weights, Adam, step, RNGs
        state = torch.load(state_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"]); opt.load_state_dict(state["optimizer"])
        g.set_state(state["generator"]); torch.set_rng_state(state["torch_rng"])
        history, step, first_epoch = state["history"], state["step"], state["epoch"]
        log(f"resuming after epoch {first_epoch}/{cfg.epochs}")
    t0 = time.time() - (history[-1]["seconds"] if history else 0.0)
    for epoch in range(first_epoch, cfg.epochs):
        perm = torch.randperm(len(index), generator=g).to(device)
        sums = {"loss": 0.0, "focal": 0.0, "offset": 0.0}
        for i in range(0, len(perm), cfg.batch_size):
            rows = index[perm[i:i + cfg.batch_size]]                                       # (B, h)
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, step, total_steps)
            # an epoch's shorter last batch runs eagerly: compiling its shape too would cost ~20 s more
            step_loss = loss_fn if len(rows) == cfg.batch_size else model.loss
            loss, parts = train_step(model, opt, obs[rows], actions[rows], cfg.grad_clip, step_loss)   # (B, h, ...) windows
            if not math.isfinite(loss.item()):
                raise ValueError(f"training diverged: the loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                                 f"no model was written (lower --lr, or check the data)")
            step += 1
            n = len(rows)
            sums["loss"] += loss.item() * n; sums["focal"] += parts["focal"].item() * n
            sums["offset"] += parts["offset"].item() * n
        history.append({"epoch": epoch + 1, **{k: v / len(perm) for k, v in sums.items()},
                        "seconds": round(time.time() - t0, 2)})
        if state_path:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": g.get_state(),
                     "torch_rng": torch.get_rng_state(), "history": history, "step": step, "epoch": epoch + 1,
                     "command": command}
            data.atomic_write(state_path, lambda f: torch.save(state, f))
        h = history[-1]
        if epoch == 0 or (epoch + 1) % max(1, cfg.epochs // 20) == 0 or epoch + 1 == cfg.epochs:
            log(f"epoch {epoch + 1:4d}/{cfg.epochs}  loss {h['loss']:.4f}  focal {h['focal']:.4f}  "
                f"offset {h['offset']:.5f}  {h['seconds']:.1f}s")
    return history


def parser():
    """The flags. Those whose dest is a Config field override that field (see config_from_args)."""
    p = data.ArgumentParser(description="Train a Behavior Transformer (or the MSE baseline) on scripted demonstrations, then evaluate it.")
    p.add_argument("--env", required=True, help=f"one of {', '.join(ENVS)}")
    p.add_argument("--policy", default="bet", choices=["bet", "mse"], help="bet, or mse = MSE behaviour cloning (RBC)")
    p.add_argument("--data", help="demonstrations .npz (default data/<env>.npz)")
    p.add_argument("--collect", type=int, metavar="N", help="collect N expert demonstrations into --data and exit")
    p.add_argument("--workers", type=int, default=2, help="processes for --collect (default 2)")
    p.add_argument("--seed", type=int, default=0, help="training seed (k-means, init, batches); with --collect, the first env seed")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for these small models)")
    p.add_argument("--out", help="output dir (default runs/<env>/, or runs/<env>-mse/)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from its last "
                   "finished epoch (same flags); the weights equal an uninterrupted run's")
    # Config overrides: each dest is a field name
    p.add_argument("--epochs", type=int)
    p.add_argument("--k", type=int, help="number of bins (1 = no binning)")
    p.add_argument("--context", type=int, help="history length h (1 = no history)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--alpha", type=float, help="offset loss weight (App. B.2)")
    p.add_argument("--dropout", type=float, help="dropout in the trunk (Table 4: 0.1)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the training loss (default: on for pusht)")
    p.add_argument("--gamma", type=float, help="focal loss exponent (Sec. 2.2)")
    p.add_argument("--schedule", choices=["constant", "cosine"], help="learning-rate schedule")
    p.add_argument("--no-offsets", dest="offsets", action="store_false", default=None,
                   help="ablation: the action is the bin centre")
    p.add_argument("--trunk", choices=["gpt", "mlp"], help="ablation: mlp = MLP over the stacked window (App. C.3)")
    p.add_argument("--discretizer", choices=["kmeans", "uniform"], help="ablation: uniform = a uniform grid of bins (Table 3)")
    p.add_argument("--rbc-layers", type=int, help="--policy mse: hidden layers of the MLP")
    p.add_argument("--rbc-width", type=int, help="--policy mse: width of the MLP")
    p.add_argument("--episodes", dest="eval_episodes", type=int, help="evaluation episodes after training (0 = skip)")
    p.add_argument("--eval-seed", type=int, help="first evaluation env seed (default 100000)")
    p.add_argument("--temperature", type=float, help="bin sampling temperature at evaluation (0 = argmax)")
    return p


def parse_args(argv=None):
    return parser().parse_args(argv)


def config_from_args(args):
    """The env's Config, with every field that has a flag given on the command line replaced."""
    if args.env not in ENVS:
        raise ValueError(f"unknown env '{args.env}'; choose one of {', '.join(ENVS)}")
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if getattr(args, f.name, None) is not None}
    return dataclasses.replace(ENVS[args.env], **given)


def check_args(args, cfg, out):
    """Every flag and path, checked before any work, so a bad one writes nothing: raise ValueError naming it."""
    flag = lambda name: "--" + name.replace("_", "-")
    data.check_at_least(*[(flag(n), getattr(cfg, n), 1) for n in ("k", "context", "epochs", "batch_size", "rbc_layers", "rbc_width")],
                        ("--workers", args.workers, 1), ("--threads", args.threads, 1), ("--collect", args.collect, 1),
                        ("--seed", args.seed, 0), ("--eval-seed", cfg.eval_seed, 0), ("--episodes", cfg.eval_episodes, 0))
    data.check_workers(args.workers)
    data.check_threads(args.threads)
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"--lr must be a positive finite number (got {cfg.lr})")
    for name in ("alpha", "gamma", "temperature"):
        if not (math.isfinite(getattr(cfg, name)) and getattr(cfg, name) >= 0):
            raise ValueError(f"{flag(name)} must be a finite number >= 0 (got {getattr(cfg, name)})")
    if args.policy == "mse" and cfg.rbc_width ** 2 * cfg.rbc_layers > 10 ** 9:
        raise ValueError(f"--rbc-width {cfg.rbc_width} with --rbc-layers {cfg.rbc_layers}: over a billion weights")
    if not (0 <= cfg.dropout < 1):
        raise ValueError(f"--dropout must be in [0, 1) (got {cfg.dropout})")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device {args.device}: not a device name (e.g. cpu, cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {args.device}: only cpu and cuda are supported")
    data.check_output_dir(out)


def check_collect_path(path, cfg, env):
    """--collect writes a new dataset, or replaces one of the same env: never a checkpoint, a folder, another
    env's dataset or another kind of file."""
    if not path.endswith(".npz"):
        raise ValueError(f"--data {path}: must end in .npz (a dataset)")
    data.check_output_file(path, "--data")
    if os.path.exists(path) and not data.holds_demos(path, cfg.obs_dim, cfg.act_dim):
        raise ValueError(f"--data {path}: holds something other than {env} demonstrations; not overwriting it")


def check_fits_data(cfg, demos, path):
    """The model's sizes must make sense for the dataset: k-means needs at least k actions, and a window longer
    than the longest episode only repeats its first observation."""
    if cfg.k > len(demos["actions"]):
        raise data.DataError(f"--k {cfg.k}: {path} holds only {len(demos['actions'])} actions to cluster")
    longest = int(np.diff(demos["episode_ends"], prepend=0).max())
    if cfg.context > longest:
        raise ValueError(f"--context {cfg.context}: longer than the longest episode in {path} ({longest} steps)")


def check_run_folder(out, env, flag="--out"):
    """A run folder holds one env's run: refuse to train into a folder whose model.pt or train_log.json is
    another env's, or whose model.pt cannot be read (so it cannot be told apart)."""
    model_path, log_path = os.path.join(out, "model.pt"), os.path.join(out, "train_log.json")
    previous = []
    if os.path.exists(model_path):
        try:
            previous.append(BeT.load(model_path).meta.get("env"))
        except ValueError:
            raise ValueError(f"{flag} {out}: holds an unreadable model.pt; remove it or pick another folder") from None
    try:
        meta = (data.existing_json(log_path, "the run's training log") or {}).get("meta")
    except ValueError:
        meta = None                                      # not a log this script wrote: the model decides
    if isinstance(meta, dict):
        previous.append(meta.get("env"))
    for other in previous:
        if other is not None and other != env:
            raise ValueError(f"{flag} {out}: holds a {other} run; train {env} into another folder")


class CannotResume(ValueError):
    """The training state in --out cannot continue this command: unreadable, or written by another command."""


def check_resume(state_path, command):
    """--resume continues only the run that wrote `state_path`: the same env, data, policy, seed and settings."""
    if not os.path.exists(state_path):
        raise ValueError(f"--resume: {state_path} not found (nothing to resume)")
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        saved = state["command"]
    except Exception as e:
        raise CannotResume(f"--resume: {state_path} is not a readable training state ({type(e).__name__})") from None
    parts = {"model": dict, "optimizer": dict, "generator": torch.Tensor, "torch_rng": torch.Tensor, "history": list,
             "step": int, "epoch": int}
    if not isinstance(saved, dict) or not all(isinstance(state.get(k), t) for k, t in parts.items()):
        raise CannotResume(f"--resume: {state_path} is not a training state written by train.py")
    if saved != command:
        changed = sorted(k for k in set(saved) | set(command) if saved.get(k) != command.get(k))
        raise CannotResume(f"--resume: {state_path} belongs to another command (differs in {', '.join(changed)})")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    cfg = config_from_args(args)
    out = args.out if args.out is not None else os.path.join("runs", args.env + ("-mse" if args.policy == "mse" else ""))
    check_args(args, cfg, out)
    torch.set_num_threads(args.threads)
    path = args.data if args.data is not None else data.default_path(args.env)
    if args.collect:
        check_collect_path(path, cfg, args.env)
        demos = data.collect(episode_fn(args.env), args.collect, seed=args.seed, workers=args.workers)
        data.save_demos(path, demos)
        print(f"wrote {path}: {len(demos['episode_ends'])} episodes, {len(demos['obs'])} steps")
        return
    extra = {"state": 5} if args.env == "pusht" else None
    try:
        demos = data.load_demos(path, cfg.obs_dim, cfg.act_dim, extra=extra)
    except data.DataError as e:
        hint = f"; regenerate it with: python train.py --env {args.env} --collect N" if not os.path.exists(path) else ""
        raise data.DataError(f"{e}{hint}") from None
    if args.policy == "bet":                         # (the MSE baseline has one bin and no history)
        check_fits_data(cfg, demos, path)
    check_run_folder(out, args.env)
    meta = {"env": args.env, "policy": args.policy, "seed": args.seed, "data": os.path.abspath(path),
            "data_sha256": data.file_hash(path), "epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
            "schedule": cfg.schedule, "temperature": cfg.temperature}
    state_path = os.path.join(out, "train_state.pt")
    command = {**{k: v for k, v in meta.items() if k not in ("data",)},
               **{k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}}
    command = {k: v for k, v in command.items() if k not in ("eval_episodes", "eval_seed", "temperature")}
    if args.resume:
        check_resume(state_path, command)
    with data.RunLock(out):                      # one run at a time in a folder
        print(f"{args.env}: {len(demos['episode_ends'])} episodes, {len(demos['obs'])} steps from {path}")
        torch.manual_seed(args.seed)                 # weight init is part of the training seed
        model = build_model(cfg, args.policy)
        print(f"policy {args.policy}: {sum(p.numel() for p in model.parameters())} parameters, "
              f"k={model.k}, context={model.context}, trunk={model.config['trunk']}, offsets={model.config['offsets']}")
        t0 = time.time()
        try:
            with data.sigterm_as_ctrl_c():
                history = train(model, demos, cfg, args.seed, args.device, state_path=state_path,
                                resume=args.resume, command=command)
        except KeyboardInterrupt:
            resume = shlex.join(["python", "train.py", *[a for a in argv if a != "--resume"], "--resume"])
            done = f"the state after the last finished epoch is in {state_path}" if os.path.exists(state_path) else \
                "no epoch had finished"
            print(f"\ninterrupted: {done}; to resume: {resume}", file=sys.stderr)
            sys.exit(130)
        train_seconds = time.time() - t0
        model_path, results_path = os.path.join(out, "model.pt"), os.path.join(out, "eval.json")
        if os.path.exists(results_path):
            os.remove(results_path)                  # an earlier model's results never sit beside the new model
        digest = model.save(model_path, meta=meta)
        data.write_json(os.path.join(out, "train_log.json"), {"meta": meta, "train_seconds": round(train_seconds, 2), "history": history})
        os.remove(state_path)                        # the run is complete: model.pt holds everything
        print(f"saved {model_path} after {train_seconds:.1f}s of training")
        if cfg.eval_episodes > 0:
            torch.set_num_threads(1)                 # as evaluate.py: episode i's floats then do not depend on the batch
            results = evaluate.evaluate(model.cpu().eval(), args.env, cfg.eval_episodes, cfg.eval_seed, cfg.temperature)
            results.update(train_seconds=round(train_seconds, 2), checkpoint={"path": model_path, "sha256": digest})
            data.write_json(results_path, results)
            evaluate.print_results(results)


if __name__ == "__main__":
    data.cli(main)
