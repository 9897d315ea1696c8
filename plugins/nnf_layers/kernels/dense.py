"""Batched fast paths of ``Dense`` (``y = W x + b`` for a stack of input vectors).

Reference: ``reference.dense`` / ``reference.dense_gradients`` (the tutorial's per-sample
``np.dot``), which the tests compare these with.
"""

from __future__ import annotations

import numpy as np
from nnf.workspace import scratch


def affine(x: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``x @ W^T + b`` for rows ``x`` (M, n): (M, m)."""
    y = x @ weights.T
    y += bias
    return y


def weight_product(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``g^T @ x`` (m, n) for rows ``g`` (M, m) and ``x`` (M, n): the weight gradient.

    Written into a per-thread buffer (valid until this thread's next call with that shape):
    a fresh weight-sized array costs page faults on every call. One row is an outer product:
    NumPy's matmul skips BLAS when the inner size is 1 and runs ~10x slower, so it gets a
    plain multiply.
    """
    shape = (g.shape[1], x.shape[1])  # one buffer per weight shape: layers do not swap sizes
    out = scratch.array(("dense.weight_product", shape), shape, g.dtype)
    if g.shape[0] == 1:
        return np.multiply(g.T, x, out=out)
    return np.matmul(g.T, x, out=out)
