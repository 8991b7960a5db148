"""kmeans.py, the k-means encoder/decoder (Sec. 2.1): round trip, exact argmin, fitting, robustness, determinism,
and the uniform grid of Table 3."""

import itertools

import numpy as np
import pytest
import torch

import kmeans


@pytest.mark.ex_kmeans_codec
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 4, 6)])
@pytest.mark.parametrize("dim", [1, 2, 5])
def test_encode_decode_round_trip_float64(shape, dim):
    g = torch.Generator().manual_seed(len(shape) * 10 + dim)
    actions = torch.randn(*shape, dim, generator=g, dtype=torch.float64) * 3
    centers = torch.randn(4, dim, generator=g, dtype=torch.float64)
    bins, residuals = kmeans.encode(actions, centers)
    assert bins.shape == shape and bins.dtype == torch.int64
    assert residuals.shape == actions.shape
    back = kmeans.decode(bins, residuals, centers)
    # (a - c) + c equals a up to one float64 rounding of the subtraction/addition, not bitwise in general
    ulp = torch.finfo(torch.float64).eps * torch.maximum(actions.abs(), centers[bins].abs())
    assert torch.all((back - actions).abs() <= 2 * ulp)


@pytest.mark.ex_kmeans_codec
def test_encode_picks_brute_force_argmin():
    g = torch.Generator().manual_seed(1)
    actions = torch.randn(300, 3, generator=g, dtype=torch.float64)
    centers = torch.randn(9, 3, generator=g, dtype=torch.float64)
    bins, residuals = kmeans.encode(actions, centers)
    for a, b in zip(actions, bins):
        dists = [float(((a - c) ** 2).sum()) for c in centers]
        assert int(b) == int(np.argmin(dists))
    assert torch.allclose(residuals, actions - centers[bins])


def test_fit_recovers_separated_blobs_up_to_permutation():
    rng = np.random.default_rng(0)
    truth = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [5.0, 20.0]])
    actions = np.concatenate([c + 0.3 * rng.standard_normal((200, 2)) for c in truth])
    centers = kmeans.fit(actions, 5, seed=3).numpy()
    best = min(np.abs(centers[list(p)] - truth).max() for p in itertools.permutations(range(5)))
    assert best < 0.1


def test_objective_never_increases():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((500, 2)) * [1.0, 3.0])
    centers = kmeans.init_plus_plus(x, 8, torch.Generator().manual_seed(0))
    previous = kmeans.objective(x, centers)
    for _ in range(30):
        centers, _ = kmeans.lloyd_step(x, centers)
        current = kmeans.objective(x, centers)
        assert current <= previous + 1e-9
        previous = current


def test_fit_objective_beats_its_init():
    x = torch.from_numpy(np.random.default_rng(5).standard_normal((400, 3)))
    init = kmeans.init_plus_plus(x, 6, torch.Generator().manual_seed(7))
    fitted = kmeans.fit(x, 6, seed=7)
    assert kmeans.objective(x, fitted) < kmeans.objective(x, init)


def test_no_nan_with_duplicates_and_empty_clusters():
    # 3 distinct values, heavily duplicated, k = 3: k-means++ must still find all three
    x = torch.tensor([[0.0, 0.0]] * 50 + [[1.0, 1.0]] * 50 + [[5.0, 5.0]] * 2)
    centers = kmeans.fit(x, 3, seed=0)
    assert torch.isfinite(centers).all()
    assert len(torch.unique(centers, dim=0)) == 3
    # an empty cluster: a centre far from every point gets re-seeded at the farthest point
    x = torch.tensor([[1.0], [1.2], [10.0], [13.0]], dtype=torch.float64)
    stale = torch.tensor([[1.1], [11.0], [1000.0]], dtype=torch.float64)
    new, assign = kmeans.lloyd_step(x, stale)
    assert 2 not in assign.tolist()                       # centre 2 was empty...
    assert torch.equal(new, torch.tensor([[1.1], [11.5], [13.0]], dtype=torch.float64))  # ...now at 13, farthest (2 away)


def test_init_is_kmeans_plus_plus():
    # 1000 points at 0 and one at 100: D^2 sampling must pick the outlier as soon as a 0 is chosen;
    # a uniform choice of initial points would almost never pick it
    x = torch.cat([torch.zeros(1000, 1), torch.full((1, 1), 100.0)]).double()
    for seed in range(20):
        init = kmeans.init_plus_plus(x, 2, torch.Generator().manual_seed(seed))
        assert sorted(init.flatten().tolist()) == [0.0, 100.0]


def test_same_seed_same_centers_and_seed_matters():
    x = np.random.default_rng(4).standard_normal((600, 2))
    a = kmeans.fit(x, 10, seed=11)
    b = kmeans.fit(x, 10, seed=11)
    assert torch.equal(a, b)
    c = kmeans.fit(x, 10, seed=12)
    assert not torch.equal(a, c)


@pytest.mark.ex_kmeans_codec
def test_encode_decode_accept_numpy():
    rng = np.random.default_rng(3)
    actions, centers = rng.standard_normal((4, 5, 2)), rng.standard_normal((3, 2))
    bins, residuals = kmeans.encode(actions, centers)
    assert bins.shape == (4, 5) and bins.dtype == torch.int64
    assert np.allclose(kmeans.decode(bins.numpy(), residuals.numpy(), centers).numpy(), actions)


def test_fit_accepts_numpy_and_returns_k_by_d_float():
    x = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    centers = kmeans.fit(x, 4)
    assert isinstance(centers, torch.Tensor) and centers.shape == (4, 3) and centers.dtype == torch.float32


@pytest.mark.parametrize("actions, k", [
    (np.zeros(10), 2),                                                   # not (N, D)
    (np.zeros((3, 2)) + np.arange(3)[:, None], 4),                       # fewer actions than bins
    (np.array([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5), 3),                  # fewer distinct actions than bins
])
def test_fit_states_its_invariant(actions, k):
    """The core asserts what it needs; train.py checks a user's data and flags first (one error line, see
    test_k_above_the_distinct_actions_is_one_error_line)."""
    with pytest.raises(AssertionError, match="k-means needs"):
        kmeans.fit(actions, k)


# ---------------------------------------------------------------- uniform quantisation (Table 3, "Unif. quant.")

@pytest.mark.needs_solutions
def test_uniform_grid_round_trip_and_every_bin_reachable():
    rng = np.random.default_rng(6)
    x = torch.from_numpy(rng.uniform([-1.0, 2.0], [3.0, 2.5], size=(5000, 2)))
    centers = kmeans.uniform_centers(x, 4)
    assert centers.shape == (16, 2)
    bins, residuals = kmeans.encode(x, centers)
    back = kmeans.decode(bins, residuals, centers)
    ulp = torch.finfo(torch.float64).eps * torch.maximum(x.abs(), centers[bins].abs())
    assert torch.all((back - x).abs() <= 2 * ulp)
    assert torch.equal(torch.bincount(bins, minlength=16) > 0, torch.ones(16, dtype=torch.bool))   # all reached
    assert torch.equal(kmeans.encode(centers, centers)[0], torch.arange(16))                       # each centre is its own bin
    # a uniform grid: each cell is 1/4 of the range wide, so residuals are at most half a cell
    cell = (x.max(0).values - x.min(0).values) / 4
    assert torch.all(residuals.abs() <= cell / 2 + 1e-12)
    assert torch.allclose(torch.unique(centers[:, 0]), x[:, 0].min() + cell[0] * torch.tensor([0.5, 1.5, 2.5, 3.5], dtype=torch.float64))


def test_uniform_grid_states_its_invariant():
    with pytest.raises(AssertionError, match="levels"):
        kmeans.uniform_centers(np.zeros((4, 2)), 0)
