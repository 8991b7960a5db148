import contextlib, os, signal, sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pytest
import torch
torch.set_num_threads(int(os.environ.get("BET_TEST_THREADS", "2")))   # .ci/run also runs the suite on 1

from tools import coursework


def unimplemented():
    """{exercise: its file} of the coursework exercises still a stub here (a student's handout): their tests, and
    the tests that need every exercise (needs_solutions), are left out, and the run ends with a line for each."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {name: path for name, path in coursework.FILES.items()
            if f'raise NotImplementedError("Exercise {name}:' in open(os.path.join(root, path), encoding="utf-8").read()}


STUBS = unimplemented()


def pytest_collection_modifyitems(config, items):
    if not STUBS:
        return
    waiting = [item for item in items if item.get_closest_marker("needs_solutions")
               or any(item.get_closest_marker(f"ex_{name}") for name in STUBS)]
    items[:] = [item for item in items if item not in waiting]
    config.hook.pytest_deselected(items=waiting)


def pytest_terminal_summary(terminalreporter):
    for name, path in STUBS.items():
        terminalreporter.write_line(f"not implemented yet: {name} \u2014 {path}")
    if STUBS:
        terminalreporter.write_line(f"{len(STUBS)} exercise(s) to do; their tests and the tests that need every "
                                    f"exercise were left out (python -m pytest -m ex_<name> runs one exercise's)")


def pytest_sessionfinish(session, exitstatus):
    if STUBS and exitstatus == 0:
        session.exitstatus = 1                        # not done yet: not a green run


def pytest_configure(config):
    """One marker per coursework exercise (ex_<name>): `python -m tools.coursework grade` selects a test by it."""
    config.addinivalue_line("markers", "needs_solutions: uses the exercises' solutions indirectly (training, "
                            "rollouts); in the handout it fails until they are done")
    for name, (points, title) in coursework.EXERCISES.items():
        config.addinivalue_line("markers", f"ex_{name}: a test of the coursework exercise '{name}' ({title})")


@contextlib.contextmanager
def deadline(seconds, message, before=None):
    """Within the block, SIGALRM after `seconds` raises TimeoutError(message): a hang becomes a failure. `before()`,
    if given, runs first (e.g. to release a thread blocked where the signal cannot reach it)."""
    def stop(signum, frame):
        if before:
            before()
        raise TimeoutError(message)
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class FusedAttentionRefused(torch.overrides.TorchFunctionMode):
    """Inside CausalSelfAttention.forward under an attention test: torch's fused attention kernels raise."""
    REFUSED = {"scaled_dot_product_attention", "multi_head_attention_forward", "_scaled_dot_product_attention_math"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in self.REFUSED:
            raise AssertionError(f"the attention exercise is to write attention out; mingpt calls torch's {func.__name__}")
        return func(*args, **(kwargs or {}))


@pytest.fixture(autouse=True)
def signals_as_they_were():
    """A script's main() run in this process may leave SIGINT and SIGTERM ignored (a reported stop ignores a second
    one until its process ends): each test starts with the handlers the one before it found."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


@pytest.fixture(autouse=True)
def attention_written_out(request, monkeypatch):
    """A test of the attention exercise fails if the answer calls torch's fused attention instead of writing it out."""
    if request.node.get_closest_marker("ex_attention") is not None:
        import mingpt
        forward = mingpt.CausalSelfAttention.forward
        def refusing_fused(self, *args, **kwargs):
            with FusedAttentionRefused():
                return forward(self, *args, **kwargs)
        monkeypatch.setattr(mingpt.CausalSelfAttention, "forward", refusing_fused)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A finished pointmass1 run: model.pt, train_log.json, eval.json (trained once, read by several files' tests,
    which copy it before changing anything)."""
    import train
    out = tmp_path_factory.mktemp("runs") / "run"
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "2", "--out", str(out)])
    return out


@pytest.fixture
def run(capfd, monkeypatch):
    """Run one of the CLIs as `python script args` does (its __main__ block, cwd ROOT), in this process to spare a
    torch import per call; return (exit code, stdout, stderr). test_plumbing_flags runs each script as a real
    process too."""
    from helpers import run_here
    return lambda script, *args: run_here(script, *args, capfd=capfd, monkeypatch=monkeypatch)
