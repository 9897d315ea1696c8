"""Float64 central-difference gradient checks for layers, through their public API.

The scalar checked is ``L = sum(forward(x) * R)`` for a fixed random ``R``, so ``backward(R)``
must return dL/dx and leave dL/dparam in ``layer.grads``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

EPS = 1e-6
TOLERANCE = 1e-6


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a||, ||b||), and 0 when both are zero."""
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b)) / scale


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = EPS) -> np.ndarray:
    """d f / d array by central differences, perturbing ``array`` in place (restored after)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)
    assert np.shares_memory(flat, array), "array must be contiguous to be perturbed in place"
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        grad.reshape(-1)[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def check_gradients(
    layer: Any,
    x: np.ndarray,
    *,
    training: bool = False,
    before_forward: Callable[[], None] | None = None,
    seed: int = 0,
    tolerance: float = TOLERANCE,
) -> dict[str, float]:
    """Compare ``backward`` with central differences for the input and every parameter.

    ``before_forward`` runs before every forward call (e.g. to reset a dropout layer's rng so
    each call draws the same mask). Returns the relative errors by name ("input", params...).
    """
    x = np.array(x, dtype=np.float64)
    for name, p in layer.params.items():
        assert p.dtype == np.float64, f"build the layer in float64 (param {name} is {p.dtype})"

    def forward() -> np.ndarray:
        if before_forward is not None:
            before_forward()
        return layer.forward(x, training=training)

    out = forward()
    r = np.random.default_rng(seed).standard_normal(out.shape)

    def loss() -> float:
        return float(np.sum(forward() * r))

    layer.zero_grad()
    forward()
    dx = layer.backward(r.copy())
    assert dx.shape == x.shape, f"input gradient shaped {dx.shape}, input {x.shape}"
    analytic = {"input": np.array(dx)}
    analytic.update({k: g.copy() for k, g in layer.grads.items()})
    numeric = {"input": numerical_gradient(loss, x)}
    numeric.update({k: numerical_gradient(loss, p) for k, p in layer.params.items()})
    errors = {k: relative_error(analytic[k], numeric[k]) for k in analytic}
    for k, err in errors.items():
        assert np.linalg.norm(numeric[k]) > 0 or k != "input", "degenerate check: zero gradient"
        assert err < tolerance, f"{type(layer).__name__} gradient of {k}: relative error {err:.2e}"
    return errors
