"""The two statistics every results file uses: a success rate's Wilson interval and the entropy of a set of modes."""

import math

import numpy as np


def wilson(successes, n, z=1.96):
    """The 95 % Wilson score interval of a success rate: [low, high], sound near 0 and 1 too."""
    p, z2 = successes / n, z * z / n
    centre, half = (p + z2 / 2) / (1 + z2), z * math.sqrt(p * (1 - p) / n + z2 / (4 * n)) / (1 + z2)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def entropy_nats(fractions):
    """-sum p log p over the modes seen (fractions rescaled to sum to 1), in nats."""
    p = np.array([f for f in fractions if f > 0])
    return float(-(p / p.sum() * np.log(p / p.sum())).sum()) if len(p) else 0.0
