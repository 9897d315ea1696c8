"""Central-difference gradients for checking a layer's backward in float64."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(
    output: Callable[[], np.ndarray],
    array: np.ndarray,
    weights: np.ndarray,
    indices: np.ndarray,
    eps: float = 1e-6,
) -> np.ndarray:
    """d sum(output() * weights) / d array.flat[i] for each i in ``indices`` (central differences).

    ``array`` is perturbed in place and restored; ``output`` recomputes the layer's output from
    it. Differences are taken element by element before the weighted sum, which keeps the
    round-off far below the differences of two large sums.
    """
    flat = array.reshape(-1)  # a view: writing to it perturbs the array the layer reads
    if not np.shares_memory(flat, array):
        raise ValueError("numerical_gradient needs a contiguous array to perturb in place")
    result = np.empty(len(indices), dtype=np.float64)
    for j, i in enumerate(indices):
        original = flat[i]
        flat[i] = original + eps
        plus = np.array(output(), dtype=np.float64)
        flat[i] = original - eps
        minus = np.array(output(), dtype=np.float64)
        flat[i] = original
        result[j] = np.sum((plus - minus) * weights) / (2 * eps)
    return result


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-8) -> float:
    """max |analytic - numeric| divided by the largest magnitude of either (at least ``floor``).

    Scaling by the largest entry, not entry by entry, keeps near-zero entries from turning
    harmless round-off into huge ratios.
    """
    analytic = np.asarray(analytic, dtype=np.float64).ravel()
    numeric = np.asarray(numeric, dtype=np.float64).ravel()
    if analytic.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(analytic))), float(np.max(np.abs(numeric))), floor)
    return float(np.max(np.abs(analytic - numeric)) / scale)


def sample_indices(size: int, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """All flat indices of an array of ``size`` entries, or ``limit`` of them drawn at random."""
    if limit is None or size <= limit:
        return np.arange(size)
    return np.sort(rng.choice(size, size=limit, replace=False))
