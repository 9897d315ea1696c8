"""Central differences of a model's loss, for whole-model gradient checks (float64)."""

from __future__ import annotations

import numpy as np


def central_difference(model, loss, x, y, p: np.ndarray, index: tuple, eps: float = 1e-6) -> float:
    """d loss(y, model.forward(x)) / d p[index], with p[index] restored afterwards."""
    old = p[index]
    p[index] = old + eps
    up = loss(y, model.forward(x))
    p[index] = old - eps
    down = loss(y, model.forward(x))
    p[index] = old
    return (up - down) / (2 * eps)
