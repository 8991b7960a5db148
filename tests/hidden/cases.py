"""The graded cases of the coursework (instructor-only: the handout leaves tests/hidden/ out). tools/coursework.py
sends each case's inputs to its probe (tools/probes.py) in the student's sandbox, runs the same probe on the
worked solution itself, and checks here, outside the sandbox, what came back. Visible cases mirror the public
tests in tests/ (students see their names and results at once); hidden ones use other shapes, seeds and edge cases
(shown after the due date). Points per exercise add up to coursework.EXERCISES."""

import numpy as np
import torch

CASES = []        # dicts: exercise, name, points, hidden, probe, inputs {name: array}, params {}, check


def case(exercise, name, points, probe, inputs, params=None, check=None, hidden=False):
    CASES.append(dict(exercise=exercise, name=name, points=points, hidden=hidden, probe=probe,
                      inputs={k: np.asarray(v) for k, v in inputs.items()}, params=params or {}, check=check))


def rng(seed):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- checks: None if right, else what is wrong

def close(name, got, want, atol):
    if name not in got:
        return f"no '{name}' came back"
    g, w = got[name], want[name]
    if g.shape != w.shape:
        return f"'{name}' has shape {g.shape}, expected {w.shape}"
    if w.dtype.kind in "iub":
        if g.dtype.kind not in "iub" or not np.array_equal(g, w):
            return f"'{name}' differs from the expected integers at {int(np.sum(g != w))} of {w.size} entries"
        return None
    if not np.all(np.isfinite(g)):
        return f"'{name}' holds NaN or inf"
    if w.dtype == np.float64 and g.dtype != np.float64:
        return f"'{name}' is {g.dtype}; float64 in, float64 out"
    error = float(np.max(np.abs(g.astype(np.float64) - w), initial=0))
    return None if error <= atol else f"'{name}' differs from the expected value (largest error {error:.3g})"


def same(*names, atol=1e-5):
    """The named outputs equal the solution's: integers exactly, floats within atol, shapes and dtypes alike."""
    def check(got, want, x):
        problems = [p for p in (close(n, got, want, atol) for n in names) if p]
        return "; ".join(problems) or None
    return check


def attention_weights(got, want, x):
    """The output and, for every attention layer, the weights that went through self.attn_drop."""
    layers = [n for n in want if n.startswith("weights")]
    if not any(n.startswith("weights") for n in got):
        return ("no attention weights went through self.attn_drop: the exercise writes attention out (scores, mask, "
                "softmax, dropout on the weights), not torch's fused kernel")
    return same("y", *layers, atol=1e-5)(got, want, x)


def sampled(got, want, x):
    """BeT.sample: the bins and the residuals it handed kmeans.decode (run by a stand-in that returns zeros, so
    the action must be unnormalize_actions(zeros) = act_mean); or, without a decode call, the action itself."""
    if "decoded_bins" in got:
        problem = same("decoded_bins", "decoded_residuals")(got, want, x)
        if problem:
            return problem
        expected = {"actions": np.broadcast_to(x["act_mean"], want["actions"].shape).astype(np.float32)}
        return close("actions", got, expected, 1e-5) and ("the action is not unnormalize_actions of what "
                                                          "kmeans.decode returned")
    bins, residuals = torch.from_numpy(want["decoded_bins"]), torch.from_numpy(want["decoded_residuals"])
    true = (torch.from_numpy(x["centers"])[bins] + residuals) * torch.from_numpy(x["act_std"]) + torch.from_numpy(x["act_mean"])
    return close("actions", got, {"actions": true.numpy()}, 1e-5)


# ---------------------------------------------------------------- windows (10)

for context in (1, 3, 6):
    case("windows", f"every window ends at its own step and never looks ahead [{context}]", 1, "windows",
         {"episode_ends": [5, 9, 16]}, {"context": context}, same("index"))
case("windows", "keeps the last window and clamps at the episode's start", 1.5, "windows",
     {"episode_ends": [3, 7]}, {"context": 4}, same("index"))
case("windows", "a hundred episodes of 5 to 60 steps, context 10", 1.5, "windows",
     {"episode_ends": np.cumsum(rng(0).integers(5, 60, 100))}, {"context": 10}, same("index"))
for context, points in ((1, 1), (3, 1.5), (7, 1.5)):
    case("windows", f"uneven episodes of 1 to 8 steps [{context}]", points, "windows",
         {"episode_ends": [1, 4, 12, 13, 20]}, {"context": context}, same("index"), hidden=True)

# ---------------------------------------------------------------- kmeans_codec (10)

g = rng(7)
case("kmeans_codec", "batched 3-D actions, float64 actions and float32 centres", 2, "codec",
     {"actions": g.standard_normal((2, 3, 4, 3)), "centers": g.standard_normal((6, 3)).astype(np.float32)}, {},
     same("bins", "residuals", "decoded", atol=1e-6), hidden=True)
case("kmeans_codec", "encode uses the Euclidean distance", 1, "codec",
     {"actions": np.array([[1.0, 1.0], [2.0, 1.2]], np.float32), "centers": np.array([[0.0, 0.0], [2.45, 1.0]], np.float32)},
     {"decode": False}, same("bins", "residuals", atol=1e-6))
for shape in ((7,), (3, 5), (2, 4, 6)):
    for dim in (1, 2, 5):
        g = rng(len(shape) * 10 + dim)
        case("kmeans_codec", f"round trip in float64 {shape} x {dim}", 0.5, "codec",
             {"actions": 3 * g.standard_normal((*shape, dim)), "centers": g.standard_normal((4, dim))}, {},
             same("bins", "residuals", "decoded", atol=1e-12))
g = rng(1)
case("kmeans_codec", "encode picks the brute-force argmin", 2, "codec",
     {"actions": g.standard_normal((300, 3)), "centers": g.standard_normal((9, 3))}, {"decode": False},
     same("bins", "residuals", atol=1e-12))
g = rng(3)
case("kmeans_codec", "encode and decode accept numpy arrays", 0.5, "codec",
     {"actions": g.standard_normal((4, 5, 2)), "centers": g.standard_normal((3, 2))}, {"numpy": True},
     same("bins", "residuals", "decoded", atol=1e-6))

# ---------------------------------------------------------------- focal_loss (15): the loss and its gradient

loss_and_grad = same("loss", "grad", atol=1e-5)
for gamma in (0.5, 3.0):
    g = rng(3)
    case("focal_loss", f"other gammas and shapes [{gamma}]", 2.5, "focal_loss",
         {"logits": g.standard_normal((5, 7, 11)).astype(np.float32), "target": g.integers(0, 11, (5, 7))},
         {"gamma": gamma}, loss_and_grad, hidden=True)
case("focal_loss", "finite for confident logits", 1, "focal_loss",
     {"logits": np.array([[200.0, -200.0], [-200.0, 200.0]], np.float32), "target": np.array([1, 1])}, {"gamma": 2.0},
     loss_and_grad, hidden=True)
g = rng(0)
case("focal_loss", "gamma 0 is the cross-entropy", 2, "focal_loss",
     {"logits": g.standard_normal((4, 5, 7)).astype(np.float32), "target": g.integers(0, 7, (4, 5))}, {"gamma": 0.0},
     loss_and_grad)
case("focal_loss", "gamma 2 matches the hand computation", 4, "focal_loss",
     {"logits": np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], np.float32), "target": np.array([0, 1])}, {"gamma": 2.0},
     loss_and_grad)
g = rng(1)
case("focal_loss", "gradient in float64", 1, "focal_loss",
     {"logits": g.standard_normal((3, 4, 5)), "target": g.integers(0, 5, (3, 4))}, {"gamma": 2.0},
     same("loss", "grad", atol=1e-10))
case("focal_loss", "well-classified rows push less than in the cross-entropy", 2, "focal_loss",
     {"logits": np.array([[4.0, 0.0, 0.0], [0.0, 0.0, 3.0]], np.float32), "target": np.array([0, 2])}, {"gamma": 2.0},
     loss_and_grad)

# ---------------------------------------------------------------- offset_loss (15): the loss and its gradient

g = rng(5)
case("offset_loss", "a loop over 3-D actions", 6, "offset_loss",
     {"pred": g.standard_normal((3, 4, 6, 3)).astype(np.float32), "bins": g.integers(0, 6, (3, 4)),
      "residuals": g.standard_normal((3, 4, 3)).astype(np.float32)}, {}, loss_and_grad, hidden=True)
case("offset_loss", "the hand computation", 6, "offset_loss",
     {"pred": np.array([[[0.0, 0.0], [1.0, 2.0], [9.0, 9.0]], [[3.0, -1.0], [7.0, 7.0], [8.0, 8.0]]], np.float32),
      "bins": np.array([1, 0]), "residuals": np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)}, {}, loss_and_grad)
g = rng(2)
case("offset_loss", "a gradient only on the true bin", 3, "offset_loss",
     {"pred": g.standard_normal((4, 6, 5, 3)).astype(np.float32), "bins": g.integers(0, 5, (4, 6)),
      "residuals": g.standard_normal((4, 6, 3)).astype(np.float32)}, {}, same("loss", "grad", atol=1e-6))

# ---------------------------------------------------------------- attention (15): output and attention weights


def attention_case(name, points, config, x, state_seed=0, hidden=False, **params):
    """Weights from the solution's own module built under torch.manual_seed(state_seed), sent as arrays."""
    import mingpt
    torch.manual_seed(state_seed)
    full = {"input_dim": config["n_embd"], "n_layer": 1, "dropout": 0.0, **config}
    model = mingpt.GPT(mingpt.GPTConfig(**full)) if params.get("gpt") else mingpt.CausalSelfAttention(mingpt.GPTConfig(**full))
    state = {f"state.{k}": v.numpy() for k, v in model.state_dict().items()}
    case("attention", name, points, "attention", {"x": x, **state}, {"config": full, **params}, attention_weights, hidden)


def attention_cases():
    g = rng(0)
    attention_case("a per-head loop for a window shorter than block_size", 3, dict(block_size=6, n_head=3, n_embd=12),
                   g.standard_normal((2, 4, 12)).astype(np.float32), hidden=True)
    attention_case("the GPT's outputs at a position ignore later observations", 3,
                   dict(input_dim=3, block_size=6, n_layer=2, n_head=2, n_embd=16),
                   np.concatenate([g.standard_normal((1, 6, 3)), g.standard_normal((1, 6, 3))]).astype(np.float32),
                   state_seed=1, gpt=True)
    attention_case("the weights are a softmax over the keys", 3, dict(block_size=5, n_head=1, n_embd=5),
                   np.eye(5, dtype=np.float32)[None] * 2, state_seed=3)
    attention_case("dropout on the weights, then on the output, in training mode", 3,
                   dict(block_size=5, n_head=2, n_embd=8, dropout=0.5), g.standard_normal((3, 5, 8)).astype(np.float32),
                   train=True, seed=7)
    attention_case("the causal softmax of scaled dot products", 3, dict(block_size=6, n_head=3, n_embd=12),
                   g.standard_normal((2, 5, 12)).astype(np.float32), state_seed=4)


# ---------------------------------------------------------------- sample (15)


def sample_case(name, points, temperature, obs, logits=None, hidden=False, k=5, row_seeds=None, offsets=True, seed=0):
    """A BeT over FeatureTrunk's (obs, position, 1) features: random heads (offsets that differ by bin), or
    logits fixed by the bin head's bias when `logits` is given."""
    g = rng(100 + len(CASES))
    obs = np.asarray(obs, np.float32)
    width, act_dim = obs.shape[-1] + 2, 2
    k = len(logits) if logits is not None else k
    inputs = {"obs": obs, "centers": g.standard_normal((k, act_dim)).astype(np.float32),
              "act_mean": np.array([1.0, -2.0], np.float32), "act_std": np.array([0.5, 3.0], np.float32),
              "state.bin_head.weight": (0 if logits is not None else 0.5) * g.standard_normal((k, width)).astype(np.float32),
              "state.bin_head.bias": np.asarray(logits if logits is not None else g.standard_normal(k), np.float32)}
    if offsets:
        inputs.update({"state.offset_head.weight": 0.3 * g.standard_normal((k * act_dim, width)).astype(np.float32),
                       "state.offset_head.bias": g.standard_normal(k * act_dim).astype(np.float32)})
    if row_seeds is not None:
        inputs["row_seeds"] = np.asarray(row_seeds)
    case("sample", name, points, "sample", inputs, {"temperature": temperature, "offsets": offsets, "seed": seed},
         sampled, hidden)


def sample_cases():
    g = rng(2)
    sample_case("the last position's categorical and each row's generator", 4, 0.7, g.standard_normal((32, 3, 2)),
                row_seeds=100 + np.arange(32), hidden=True)
    sample_case("temperature zero is the argmax bin", 1, 0.0, g.standard_normal((6, 3, 2)), hidden=True)
    sample_case("the last position's bin and offset", 2, 0.0, g.standard_normal((6, 3, 2)), k=3)
    for temperature, points in ((0.5, 1.5), (1.0, 0.5), (2.0, 1.5)):
        sample_case(f"the first bin whose cumulative probability exceeds u [{temperature}]", points, temperature,
                    np.zeros((256, 2, 2)), logits=[1.0, 0.0, -0.5, 2.0, 0.3], seed=5)
    for temperature, points in ((1.0, 0.5), (0.5, 1), (2.0, 1)):
        sample_case(f"bin frequencies follow the softmax [{temperature}]", points, temperature, np.zeros((2000, 2, 2)),
                    logits=[1.0, 0.0, -0.5, 2.0])
    sample_case("temperature near zero is the argmax", 1, 1e-4, np.zeros((500, 1, 2)), logits=[0.3, 0.5, 0.2])
    sample_case("the action is the centre plus that bin's offset", 0.5, 1.0, np.zeros((4, 2, 2)), logits=[-50.0, -50.0, 50.0])
    sample_case("without offsets the action is the centre", 0.5, 1.0, g.standard_normal((8, 2, 2)), offsets=False)


# ---------------------------------------------------------------- dagger (20)


def dataset(prefix, obs, actions, ends, seeds):
    return {f"{prefix}.obs": obs, f"{prefix}.actions": actions, f"{prefix}.episode_ends": np.asarray(ends),
            f"{prefix}.seeds": np.asarray(seeds)}


def rounds(prefix, n_steps, seed):
    return dataset(prefix, np.full((sum(n_steps), 1), seed, np.float32), np.zeros((sum(n_steps), 1), np.float32),
                   np.cumsum(n_steps), np.arange(seed, seed + len(n_steps)))


def dagger_cases():
    parts = same("obs", "actions", "episode_ends", "seeds")
    case("dagger", "aggregate three rounds in a row", 4, "aggregate",
         {**rounds("a", [3], 0), **rounds("b", [2, 2], 10), **rounds("c", [1, 4], 20)}, {"parts": ["a", "b", "c"]}, parts,
         hidden=True)
    case("dagger", "aggregate keeps episode boundaries and seeds", 4, "aggregate",
         {**dataset("a", np.arange(5.0)[:, None], np.zeros((5, 1)), [2, 5], [1, 2]),
          **dataset("b", np.arange(5.0, 9.0)[:, None], np.ones((4, 1)), [1, 4], [9, 8])}, {"parts": ["a", "b"]}, parts)
    rollouts = same("obs", "actions", "episode_ends", "seeds", "success", atol=1e-6)
    for beta, points in ((0.0, 4), (0.5, 4), (1.0, 2)):
        case("dagger", f"labelled rollouts label every state and mix by beta [{beta}]", points, "labelled_rollouts",
             {"learner_action": np.zeros(1, np.float32)},
             {"env": "cartpole", "episodes": 2, "seed": 4000, "beta": beta, "horizon": 30, "context": 2}, rollouts)
    case("dagger", "half beta executes both policies", 2, "labelled_rollouts", {"learner_action": np.zeros(1, np.float32)},
         {"env": "cartpole", "episodes": 3, "seed": 5000, "beta": 0.5, "horizon": 40, "context": 2}, rollouts, hidden=True)


attention_cases()
sample_cases()
dagger_cases()
