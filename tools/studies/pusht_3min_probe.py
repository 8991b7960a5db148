"""The tuning probe behind docs/history/experiments.md#pusht-in-3-minutes-2026-12-01:
train.train on data/pusht.npz with the PushT row changed by the flags below, then 200 episodes on the tuning
seeds 1000-1199; prints and writes one JSON line. Weight decay, k-means restarts and a warm-up have no train.py
flag, so they are set here.

    python -m tools.studies.pusht_3min_probe --seed 0 --epochs 32 --ema 0.999 --compile 0 --out /tmp/probe.json
    python -m tools.studies.pusht_3min_probe --seed 10 --epochs 32 --ema 0.999 --compile 0 --k 128 --out /tmp/probe.json"""
import dataclasses, json, time
import torch
import data, evaluate, kmeans, train
from plumbing import demofiles, runs
from tools import studies


def main(argv=None):
    p = studies.parser(__spec__.name, __doc__)
    p.add_argument("--seed", type=int, default=0); p.add_argument("--layers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=34); p.add_argument("--lr", type=float, default=8e-3)
    p.add_argument("--batch", type=int, default=256); p.add_argument("--ema", type=float, default=0.0)
    p.add_argument("--wd", type=float, default=0.1); p.add_argument("--compile", type=int, default=1)
    p.add_argument("--restarts", type=int, default=1, help="k-means: keep the lowest objective of this many inits")
    p.add_argument("--episodes", type=int, default=200); p.add_argument("--threads", type=int, default=1)
    p.add_argument("--k", type=int, default=96); p.add_argument("--dropout", type=float, default=0.0); p.add_argument("--width", type=int, default=72); p.add_argument("--context", type=int, default=5)
    p.add_argument("--warmup", type=float, default=0.0, help="linear warm-up over this many epochs, then the cosine")
    p.add_argument("--out", required=True, help="the JSON file to write")
    a = p.parse_args(argv)
    runs.check_counts(("--seed", a.seed, 0), ("--restarts", a.restarts, 1, 100), ("--compile", a.compile, 0, 1),
                      ("--episodes", a.episodes, 1, runs.MAX_EPISODES), ("--threads", a.threads, 1), ("--width", a.width, 1, 4096))
    runs.check_workers(a.threads, "--threads")
    runs.check_json_output(a.out, "--out", lambda old: "train_seconds" in old, "a probe's result")
    for flag, value in (("--warmup", a.warmup), ("--wd", a.wd), ("--ema", a.ema)):
        runs.check_value(flag, value, "nonnegative")
    torch.set_num_threads(a.threads)
    fit = kmeans.fit
    def restarted(x, k, *, seed=0, **kw):
        """Best of a.restarts k-means fits (init seeds seed * restarts + r); restarts 1 is kmeans.fit itself."""
        fits = [fit(x, k, seed=seed * a.restarts + r, **kw) for r in range(a.restarts)]
        return min(fits, key=lambda c: float(kmeans.objective(torch.as_tensor(x, dtype=torch.float64), c.double())))
    kmeans.fit = restarted
    cosine = train.learning_rate
    def warmed(cfg, step, total_steps):
        """Linear warm-up over the first a.warmup epochs' steps, then train.learning_rate's schedule."""
        warm = a.warmup * total_steps / cfg.epochs
        return cosine(cfg, step, total_steps) * (min(1.0, (step + 1) / warm) if warm else 1.0)
    train.learning_rate = warmed
    cfg = dataclasses.replace(train.env_config("pusht"), n_layer=a.layers, epochs=a.epochs, lr=a.lr, batch_size=a.batch,
                              weight_decay=a.wd, ema=a.ema, compile=bool(a.compile),
                              n_embd=a.width, context=a.context, dropout=a.dropout, k=a.k)
    runs.check_settings(cfg)                          # train.py's own checks of each setting (its flags' names)
    if cfg.n_embd % cfg.n_head:
        raise ValueError(f"--width {a.width}: must be a multiple of the {cfg.n_head} attention heads")
    runs.check_memory(runs.training_bytes("bet", cfg), f"training with --batch {a.batch} --context {a.context} --k {a.k} "
                      f"--layers {a.layers} --width {a.width}")
    demos = demofiles.load_demos("data/pusht.npz", 18, 2)
    torch.manual_seed(a.seed)
    model = train.build_model(cfg)
    if getattr(model, "fit_centers", None) is fit:     # the model holds its own k-means (BeT(fit_centers=kmeans.fit)),
        model.fit_centers = restarted                  # bound before kmeans.fit was replaced above
    t0 = time.time()
    history = train.train(model, demos, cfg, a.seed)
    seconds = time.time() - t0
    torch.set_num_threads(1)
    r = evaluate.evaluate(model.eval(), "pusht", a.episodes, 1000, 1.0, log=lambda *x: None)
    result = {"args": vars(a), "train_seconds": seconds, "success": r["success_rate"], "ci": r["success_ci95"],
              "coverage": r["mean_max_reward"], "final_loss": history[-1]["loss"]}
    print(json.dumps(result))
    runs.write_json(a.out, result)


if __name__ == "__main__":
    studies.run(main)
