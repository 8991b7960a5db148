"""
The k-means action encoder/decoder of BeT (Sec. 2.1, "Action discretization"; Algorithm 1,
"Learn k-means encoder/decoder").

Every continuous action a is split into
    a bin       floor(a) = argmin_i ||a - A_i||_2      (the nearest of k centres A_1..A_k)
    a residual  <a>      = a - A_floor(a)
and put back together exactly by a = A_floor(a) + <a>. The centres are fitted once, before
training, and then frozen for training and test time.

`uniform_centers` is the "Unif. quant." ablation of Table 3: the centres of a regular grid over the
actions' bounding box. Nearest-centre encoding then is uniform quantisation, so encode/decode
serve both discretisers unchanged.
"""

import torch


def squared_distances(actions, centers):
    """(N, D), (k, D) -> (N, k) exact squared Euclidean distances (no matmul shortcut, so argmin is exact),
    summed one action dimension at a time, so no (N, k, D) tensor is built."""
    return sum((actions[:, None, d] - centers[None, :, d]) ** 2 for d in range(actions.shape[1]))


def nearest(actions, centers, rows=2048):
    """Each point's nearest centre and its squared distance to it: (N,), (N,). Done in blocks of `rows`
    points, so each (rows, k) block of distances stays in cache."""
    assign, own = [], []
    for block in actions.split(rows):
        d2 = squared_distances(block, centers)                   # (rows, k)
        i = d2.argmin(dim=1)
        assign.append(i)
        own.append(d2.gather(1, i[:, None]).squeeze(1))
    return torch.cat(assign), torch.cat(own)


def objective(actions, centers):
    """The k-means objective: sum over points of the squared distance to the nearest centre."""
    return nearest(actions, centers)[1].sum()


def init_plus_plus(actions, k, generator):
    """k-means++ (Arthur & Vassilvitskii, 2007): each new centre is a data point drawn with
    probability proportional to its squared distance to the nearest centre chosen so far."""
    n = len(actions)
    first = torch.randint(n, (1,), generator=generator)
    centers = [actions[first[0]]]
    d2 = ((actions - centers[0]) ** 2).sum(-1)                   # (N,)
    for _ in range(1, k):
        i = torch.multinomial(d2 / d2.sum(), 1, generator=generator)[0]
        centers.append(actions[i])
        d2 = torch.minimum(d2, ((actions - actions[i]) ** 2).sum(-1))
    return torch.stack(centers)                                  # (k, D)


def lloyd_step(actions, centers):
    """One Lloyd iteration: assign every point to its nearest centre, then move each centre to the
    mean of its points. An empty cluster is re-seeded at the point farthest from its own centre
    (a different point for each empty cluster), so no centre is ever NaN.
    Returns (new_centers (k, D), assignments (N,))."""
    k = len(centers)
    assign, own = nearest(actions, centers)                      # (N,), (N,)
    counts = torch.bincount(assign, minlength=k)                 # (k,)
    sums = torch.zeros_like(centers).index_add_(0, assign, actions)
    new = sums / counts.clamp(min=1)[:, None]
    empty = (counts == 0).nonzero().flatten()
    if len(empty):
        far = own.argsort(descending=True, stable=True)
        new[empty] = actions[far[: len(empty)]]
    return new, assign


def fit(actions, k, *, iters=100, seed=0):
    """Fit k centres to (N, D) actions: k-means++ init, then Lloyd iterations until the assignments
    stop changing (or `iters`). Deterministic for a given seed. Returns a (k, D) float tensor in the
    input's dtype."""
    x = torch.as_tensor(actions)
    dtype, x = (x.dtype if x.is_floating_point() else torch.float64), x.double()
    assert x.ndim == 2 and len(torch.unique(x, dim=0)) >= k >= 1, f"k-means needs (N, D) actions, >= k={k} distinct"
    generator = torch.Generator().manual_seed(int(seed))
    centers = init_plus_plus(x, int(k), generator)
    assign = None
    for _ in range(iters):
        centers, new_assign = lloyd_step(x, centers)
        if assign is not None and torch.equal(assign, new_assign):
            break
        assign = new_assign
    return centers.to(dtype)


def uniform_centers(actions, levels):
    """Centres of a uniform grid with `levels` cells per action dimension over the data's bounding
    box: (levels**D, D), in the input's dtype (Table 3, "Unif. quant.")."""
    x = torch.as_tensor(actions)
    x = x if x.is_floating_point() else x.double()
    assert x.ndim == 2 and levels >= 1, f"a grid of {levels} levels over (N, D) actions"
    lo, hi = x.min(0).values, x.max(0).values                                # (D,), (D,)
    mids = (torch.arange(levels, dtype=x.dtype) + 0.5) / levels             # cell midpoints in (0, 1)
    axes = [lo[d] + mids * (hi[d] - lo[d]) for d in range(x.shape[1])]     # D x (levels,)
    return torch.cartesian_prod(*axes).reshape(-1, x.shape[1])              # (levels**D, D)


def encode(actions, centers):
    """(..., D) actions -> bins (...) int64 and residuals (..., D): floor(a) and <a> of Sec. 2.1.
    Accepts tensors or numpy arrays; returns tensors. Algorithm 1 prints <a> := a - floor(a), a typo: the
    residual is taken from the bin's centre, a - A_floor(a), as Sec. 2.1 defines it."""
    # Exercise kmeans_codec (Sec. 2.1): the bin is the nearest centre (squared_distances); the residual is what is left.
    ### BEGIN SOLUTION kmeans_codec
    actions, centers = torch.as_tensor(actions), torch.as_tensor(centers)
    shape = actions.shape
    flat = actions.reshape(-1, shape[-1]).to(centers.dtype)     # (N, D)
    bins = squared_distances(flat, centers).argmin(dim=1)      # (N,)
    residuals = flat - centers[bins]                            # (N, D)
    return bins.reshape(shape[:-1]), residuals.reshape(shape)
    ### END SOLUTION


def decode(bins, residuals, centers):
    """bins (...), residuals (..., D) -> actions (..., D) = A_floor(a) + <a>."""
    # Exercise kmeans_codec (Sec. 2.1): the inverse of encode, the bin's centre plus the residual.
    ### BEGIN SOLUTION kmeans_codec
    centers = torch.as_tensor(centers)
    return centers[torch.as_tensor(bins, dtype=torch.long)] + torch.as_tensor(residuals, dtype=centers.dtype)
    ### END SOLUTION
