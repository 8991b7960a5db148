"""
What the coursework grader runs inside its sandbox (tools/coursework.py, plumbing/sandbox.py). Each probe calls
one exercise's code on arrays the grader sends and returns arrays; the grader, outside, compares them with what
the worked solution returns from the same probe on the same arrays. Nothing here knows an expected value.

    python -I tools/probes.py < job > results     # the grader's protocol, below

Job (stdin): one JSON line {"cases": [{"id", "probe", "params"}]}, then an .npz of every case's inputs, keyed
"<id>/<name>". Results (stdout): per case one JSON line {"id", "error", "printed", "arrays": [[name, nbytes]]},
then each array as .npy bytes. A probe's own prints and errors travel in "printed" and "error", cut short.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import traceback

import numpy as np

torch = None           # in the sandbox, main() imports it unless every case's probe needs numpy alone (a second or
NUMPY_ONLY = {"windows"}   # two saved); the grader itself, which imports this module, has it loaded anyway
if __name__ != "__main__":
    import torch
PROBES = {}            # name -> function(inputs {name: array}, params {}) -> {name: array}
SHOWN = 1500           # characters of a probe's error or prints sent back


def probe(f):
    PROBES[f.__name__] = f
    return f


def tensor(x, name):
    return torch.from_numpy(np.array(x[name]))


# ---------------------------------------------------------------- windows, kmeans_codec

@probe
def windows(x, p):
    import data
    return {"index": data.window_index(x["episode_ends"], int(p["context"]))}


@probe
def codec(x, p):
    """encode, then decode what it returned (numpy inputs when params say so)."""
    import kmeans
    take = (lambda name: x[name]) if p.get("numpy") else (lambda name: tensor(x, name))
    out = {}
    bins, residuals = kmeans.encode(take("actions"), take("centers"))
    out.update(bins=bins, residuals=residuals)
    if p.get("decode", True):
        back = kmeans.decode(np.asarray(bins) if p.get("numpy") else bins,
                             np.asarray(residuals) if p.get("numpy") else residuals, take("centers"))
        out["decoded"] = back
    return out


# ---------------------------------------------------------------- focal_loss, offset_loss

def loss_and_gradient(loss_fn, x, wrt, others):
    leaf = tensor(x, wrt).requires_grad_(True)
    loss = loss_fn(leaf, *[tensor(x, name) for name in others])
    out = {"loss": loss.detach()}
    if loss.requires_grad:
        loss.backward()
        if leaf.grad is not None:
            out["grad"] = leaf.grad
    return out


@probe
def focal_loss(x, p):
    import bet
    return loss_and_gradient(lambda z, t: bet.focal_loss(z, t, float(p["gamma"])), x, "logits", ["target"])


@probe
def offset_loss(x, p):
    import bet
    return loss_and_gradient(bet.offset_loss, x, "pred", ["bins", "residuals"])


# ---------------------------------------------------------------- attention

def with_recorders(model):
    import mingpt

    class Recorder(torch.nn.Module):
        """Stands in for attn_drop: records what passes through it (the attention weights), then drops as it would."""

        def __init__(self, dropout, seen):
            super().__init__()
            self.dropout, self.seen = dropout, seen

        def forward(self, weights):
            self.seen.append(weights.detach().clone())
            return self.dropout(weights)

    seen = []
    for module in list(model.modules()):
        if isinstance(module, mingpt.CausalSelfAttention):
            module.attn_drop = Recorder(module.attn_drop, seen)
    return seen


def load_state(model, x):
    state = {name[len("state."):]: tensor(x, name) for name in x if name.startswith("state.")}
    model.load_state_dict(state, strict=False)


@probe
def attention(x, p):
    """One CausalSelfAttention (or, with params gpt, a whole GPT) with the sent weights, on x; in training mode
    under torch.manual_seed(seed). Returns its output and the weights that passed through attn_drop."""
    import mingpt
    config = mingpt.GPTConfig(**p["config"])
    model = mingpt.GPT(config) if p.get("gpt") else mingpt.CausalSelfAttention(config)
    load_state(model, x)
    seen = with_recorders(model)
    model.train(bool(p.get("train")))
    torch.manual_seed(int(p.get("seed", 0)))
    out = {"y": model(tensor(x, "x")).detach()}
    for i, weights in enumerate(seen):
        out[f"weights{i}"] = weights
    return out


# ---------------------------------------------------------------- sample

def feature_trunk(obs):
    """(B, T, obs_dim) -> (B, T, obs_dim + 2): the observation, its position and a 1, so that the heads' outputs
    differ by position and by row."""
    B, T, _ = obs.shape
    position = torch.arange(T, dtype=obs.dtype)[None, :, None].expand(B, T, 1)
    return torch.cat([obs, position, torch.ones(B, T, 1, dtype=obs.dtype)], -1)


@contextlib.contextmanager
def replaced(module, name, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


@probe
def sample(x, p):
    """BeT.sample on a model whose heads read feature_trunk's features. kmeans.decode (another exercise) is not
    run: a stand-in records the bins and residuals it is given and returns zeros, so that the grader checks them
    (and that the action is unnormalize_actions of what decode returned)."""
    import bet
    import kmeans
    obs_dim, k, act_dim = x["obs"].shape[-1], x["centers"].shape[0], x["centers"].shape[1]
    model = bet.BeT(feature_trunk, obs_dim, act_dim, k, x["obs"].shape[1], obs_dim + 2, 1.0, 2.0,
                    offsets=bool(p.get("offsets", True))).eval()
    load_state(model, x)
    for name in ("centers", "act_mean", "act_std"):
        getattr(model, name).copy_(tensor(x, name))
    model.fitted.fill_(True)
    if "row_seeds" in x:
        generator = [torch.Generator().manual_seed(int(s)) for s in x["row_seeds"]]
    else:
        generator = torch.Generator().manual_seed(int(p.get("seed", 0)))
    calls = []

    def decode(bins, residuals, centers):
        calls.append((torch.as_tensor(bins).clone(), torch.as_tensor(residuals).clone()))
        return torch.zeros(len(bins), act_dim)
    with replaced(kmeans, "decode", decode):
        actions = model.sample(tensor(x, "obs"), float(p["temperature"]), generator)
    out = {"actions": actions}
    if calls:
        out.update(decoded_bins=calls[-1][0], decoded_residuals=calls[-1][1])
    return out


# ---------------------------------------------------------------- dagger

@probe
def aggregate(x, p):
    from tools import dagger
    parts = [{key: x[f"{which}.{key}"] for key in ("obs", "actions", "episode_ends", "seeds")} for which in p["parts"]]
    total = parts[0]
    for extra in parts[1:]:
        total = dagger.aggregate(total, extra)
    return dict(total)


@probe
def labelled_rollouts(x, p):
    """DAgger's rollouts with a learner that always takes the sent action (evaluate.bet_policy replaced)."""
    from tools import dagger
    fixed = x["learner_action"]
    learner = lambda model, temperature, seed: (lambda history, ids, envs: np.repeat(fixed[None], len(ids), 0).copy())
    model = type("Learner", (), {"context": int(p["context"])})()
    with replaced(dagger.evaluate, "bet_policy", learner):
        D, success = dagger.labelled_rollouts(model, p["env"], int(p["episodes"]), int(p["seed"]), float(p["beta"]),
                                              1.0, horizon=int(p["horizon"]))
    return {**{key: D[key] for key in ("obs", "actions", "episode_ends", "seeds")}, "success": success}


# ---------------------------------------------------------------- a trained policy (Part 3 of the sheet)

@probe
def policy(x, p):
    """A submitted checkpoint, read by the project's safe loader (runs.load_model: weights only, every shape and
    value checked), evaluated as evaluate.py would, at its recorded temperature. Runs on the worked solution's
    modules: no student code runs here, the checkpoint is data."""
    import evaluate
    from plumbing import runs
    model = runs.load_model(p["checkpoint"])
    if model.meta.get("env") != p["env"]:
        raise ValueError(f"the checkpoint was trained on {model.meta.get('env')!r}, not {p['env']}")
    results, trajectories = evaluate.evaluate(model, p["env"], int(p["episodes"]), int(p["seed"]),
                                              runs.recorded_temperature(model, p["checkpoint"]), True)
    return {"success": np.array([bool(t["success"]) for t in trajectories]), "seeds": np.array([t["seed"] for t in trajectories])}


# ---------------------------------------------------------------- the protocol

def as_array(value):
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.dtype == object:
        raise TypeError(f"returned an object array ({value.dtype}), not numbers")
    return value


def run_case(case, inputs):
    """(error text or None, printed text, {name: array}) of one case; prints go to a file of the child's /tmp."""
    with tempfile.TemporaryFile("w+b") as printed:
        saved = os.dup(1), os.dup(2)
        os.dup2(printed.fileno(), 1), os.dup2(printed.fileno(), 2)
        error, arrays = None, {}
        try:
            arrays = {name: as_array(v) for name, v in PROBES[case["probe"]](inputs, case["params"]).items()}
        except BaseException as e:                     # the student's code: anything may come out of it
            error = "".join(traceback.format_exception_only(type(e), e)).strip()
            frames = [f for f in traceback.extract_tb(e.__traceback__)
                      if not f.filename.endswith("probes.py") and not f.filename.startswith("<")]
            if frames:
                error = f"{frames[-1].filename}:{frames[-1].lineno}: " + error
            error = error.replace(os.getcwd() + os.sep, "")
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        printed.seek(0)
        text = printed.read()[-SHOWN:].decode("utf-8", "replace")
    return error and error[-SHOWN:], text, arrays


def import_torch():
    global torch
    import torch
    torch.set_num_threads(int(os.environ.get("BET_PROBE_THREADS", "1")))


def main():
    channel = os.fdopen(os.dup(1), "wb")              # results; the probes' own output goes elsewhere
    os.dup2(2, 1)
    stdin = sys.stdin.buffer
    job = json.loads(stdin.readline())
    inputs = np.load(io.BytesIO(stdin.read()), allow_pickle=False)
    sys.path[0] = os.getcwd()                          # the tree's root, not tools/
    if any(case["probe"] not in NUMPY_ONLY for case in job["cases"]):
        import_torch()
    for case in job["cases"]:
        prefix = case["id"] + "/"
        x = {name[len(prefix):]: inputs[name] for name in inputs.files if name.startswith(prefix)}
        error, printed, arrays = run_case(case, x)
        blobs = []
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            blobs.append((name, buffer.getvalue()))
        header = {"id": case["id"], "error": error, "printed": printed, "arrays": [[n, len(b)] for n, b in blobs]}
        channel.write(json.dumps(header).encode() + b"\n" + b"".join(b for _, b in blobs))
        channel.flush()


if __name__ == "__main__":
    main()
