"""What several test files share: building a BeT, running a script in this process, checking its one error line,
forging a checkpoint, and listing processes."""

import concurrent.futures
import contextlib
import io
import os
import runpy
import signal
import sys
import traceback
import warnings

import numpy as np
import torch

import variants

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bet_model(obs_dim, act_dim, *, k=24, context=5, n_layer=4, n_head=4, n_embd=72, dropout=0.1, alpha=1.0, gamma=2.0,
              **parts):
    """A freshly initialised BeT, or a Table 3 variant (trunk=, discretizer=, head=, offsets=), built as train.py
    builds one (variants.build); sizes not given are Table 4's block-push column with its dropout 0.1."""
    return variants.build(variants.bet_config(obs_dim, act_dim, k=k, context=context, n_layer=n_layer, n_head=n_head,
                                              n_embd=n_embd, dropout=dropout, alpha=alpha, gamma=gamma, **parts))


def fitted_model(**kw):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = bet_model(4, 2, k=5, context=3, n_layer=1, n_head=2, n_embd=8, **kw)
    obs = rng.standard_normal((300, 4)) * [1, 10, 100, 0] + 7
    actions = rng.standard_normal((300, 2)) * [50, 0.1] + [100, 0]
    return model.fit_bins(obs, actions, seed=3), obs, actions


def train_briefly(model, obs, actions, steps=300, lr=3e-3):
    """fit_bins, then `steps` full-batch AdamW steps on the windows (obs, actions); the model in eval mode."""
    from mingpt import param_groups
    model.fit_bins(obs.reshape(-1, obs.shape[-1]), actions.reshape(-1, actions.shape[-1]), seed=0)
    opt = torch.optim.AdamW(param_groups(model, 0.0), lr=lr)
    for _ in range(steps):
        loss, _ = model.loss(obs, actions)
        opt.zero_grad(); loss.backward(); opt.step()
    return model.eval()


def cli(module, *argv):
    """Run a script's main as its __main__ block does (runs.cli), in this process: (exit code, stderr)."""
    from plumbing import runs
    err, old, code = io.StringIO(), signal.getsignal(signal.SIGTERM), 0
    try:
        with contextlib.redirect_stderr(err):
            runs.cli(lambda: module.main([str(a) for a in argv]))
    except SystemExit as stop:
        code = stop.code
    finally:
        signal.signal(signal.SIGTERM, old)
    return code, err.getvalue()


def one_error_line(code, err, *fragments):
    """Exit code 2 and one `error:` line holding every fragment, no traceback."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def forged(run_dir, path, edit):
    """A copy of the run's checkpoint with `edit(ckpt)` applied, saved at `path`."""
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    edit(ckpt)
    torch.save(ckpt, path)
    return path


QUIET = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)   # Python hides these by default


def run_here(script, *args, capfd, monkeypatch):
    """`python script args` run in this process (no torch import to wait for): the script's own
    `if __name__ == "__main__"` block (runpy), with sys.argv set and cwd=ROOT as a real process has it; (exit code,
    stdout, stderr). A warning that `python` would print (its default filters) is appended to stderr as it would
    appear there, and an escaping exception as its traceback with exit code 1. The SIGTERM handler runs.cli
    installs, torch's thread count and its RNG state are put back afterwards."""
    path = os.path.join(ROOT, script) if script.endswith(".py") else os.path.join(ROOT, *script.split(".")) + ".py"
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", [path, *map(str, args)])
    sigterm, threads, rng = signal.getsignal(signal.SIGTERM), torch.get_num_threads(), torch.get_rng_state()
    capfd.readouterr()
    code, extra = 0, ""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
                extra = "" if e.code is None or isinstance(e.code, int) else f"{e.code}\n"
            except Exception:
                code, extra = 1, traceback.format_exc()
    finally:
        if sigterm is not None:                  # None: a handler not set from Python, left as it is
            signal.signal(signal.SIGTERM, sigterm)
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)
    out, err = capfd.readouterr()
    shown = [w for w in caught if not issubclass(w.category, QUIET)
             or (issubclass(w.category, DeprecationWarning) and w.filename == path)]     # default::DeprecationWarning:__main__
    err += extra + "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in shown)
    return code, out, err


def processes():
    """(pid, parent pid, process group) of every live, non-zombie process, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                found.append((int(entry), int(fields[1]), int(fields[2])))
    return found


def two_at_a_time(calls):
    """The results of zero-argument `calls`, run two at once: for tests that start processes, most of each being
    torch's import (about 2 s of one core) while this process waits."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda call: call(), calls))


def interrupted_when_made(monkeypatch, maker):
    """tempfile.`maker` (mkstemp, mkdtemp) makes its file, then a SIGINT lands before the caller holds the name."""
    import tempfile
    real = getattr(tempfile, maker)
    def made_then_interrupted(*args, **kwargs):
        made = real(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)
        return made
    monkeypatch.setattr(tempfile, maker, made_then_interrupted)
