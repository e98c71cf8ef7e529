"""Statistics that turn recorded curves into the papers' claims (trends, ratios)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def trend(epochs: Sequence[float], values: Sequence[float], *, after: float = 0.0) -> float:
    """Spearman rank correlation of ``values`` with ``epochs`` over the epochs ``>= after``.

    +1: rises monotonically; -1: falls monotonically. Rank-based, so it asks only for a monotone trend,
    not a linear one, and does not care that log-spaced epochs crowd the start of training.
    """
    e = np.asarray(epochs, dtype=float)
    v = np.asarray(values, dtype=float)
    if e.shape != v.shape:
        raise ValueError(f"epochs and values must have the same length, got {e.shape} and {v.shape}")
    keep = e >= after
    if keep.sum() < 3:
        raise ValueError(f"need at least 3 recorded epochs >= {after} to measure a trend, got {int(keep.sum())}")
    if np.ptp(v[keep]) == 0:
        return 0.0
    return float(stats.spearmanr(e[keep], v[keep]).statistic)
