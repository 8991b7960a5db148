import contextlib, os, signal, sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pytest
import torch
torch.set_num_threads(2)

from tools import coursework


def pytest_configure(config):
    """One marker per coursework exercise (ex_<name>): `python -m tools.coursework grade` selects a test by it."""
    config.addinivalue_line("markers", "needs_solutions: uses the exercises' solutions indirectly (training, "
                            "rollouts); in the handout it fails until they are done")
    for name, (points, title) in coursework.EXERCISES.items():
        config.addinivalue_line("markers", f"ex_{name}: a test of the coursework exercise '{name}' ({title})")


@contextlib.contextmanager
def deadline(seconds, message):
    """Within the block, SIGALRM after `seconds` raises TimeoutError(message): a hang becomes a failure."""
    def stop(signum, frame):
        raise TimeoutError(message)
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Under the grader (COURSEWORK_TEST_TIMEOUT set), a test running longer than that many seconds fails."""
    seconds = int(os.environ.get("COURSEWORK_TEST_TIMEOUT", "0"))
    with deadline(seconds, f"the test ran longer than {seconds} s") if seconds else contextlib.nullcontext():
        yield


class FusedAttentionRefused(torch.overrides.TorchFunctionMode):
    """Inside CausalSelfAttention.forward under an attention test: torch's fused attention kernels raise."""
    REFUSED = {"scaled_dot_product_attention", "multi_head_attention_forward", "_scaled_dot_product_attention_math"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in self.REFUSED:
            raise AssertionError(f"the attention exercise is to write attention out; mingpt calls torch's {func.__name__}")
        return func(*args, **(kwargs or {}))


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
