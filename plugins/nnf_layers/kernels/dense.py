"""Batched fast paths of ``Dense`` (``y = W x + b`` for a stack of input vectors).

Reference: ``reference.dense`` / ``reference.dense_gradients`` (the tutorial's per-sample
``np.dot``), which the tests compare these with.
"""

from __future__ import annotations

import numpy as np
from nnf.workspace import scratch

# Up to this many rows, training computes ``x @ W^T`` as ``(W @ x^T)^T``: OpenBLAS's product
# of 16-64 rows by a transposed weight matrix took 1.1-2.5x as long for the suite's Dense
# shapes (SkylakeX kernels; 0.9-1.5x with Haswell's), and as long or less from 128 rows on
# (``benchmarks/dense_orientation.py``; benchmarks/README.md, "The Dense product's orientation").
FEW_ROWS = 64


def affine(
    x: np.ndarray, weights: np.ndarray, bias: np.ndarray, training: bool = False
) -> np.ndarray:
    """``x @ W^T + b`` for rows ``x`` (M, n) and ``W`` (m, n): (M, m), C-ordered.

    Inference keeps the order whose rounding of a row does not depend on the rows computed
    with it where the BLAS allows (OpenBLAS's SkylakeX kernels; not its Haswell ones), so that
    a batch split over threads or not gives the same bits. The swapped product's rounding
    depends on M; training accepts that (splitting a batch already changes its sums), so it
    gets the faster order for few rows, copied back to C order: the layers after it must see
    one layout whatever the part's size, since NumPy's sums depend on it.
    """
    if training and x.shape[0] <= FEW_ROWS:
        y = np.ascontiguousarray((weights @ x.T).T)
    else:
        y = x @ weights.T
    y += bias
    return y


def weight_product(g: np.ndarray, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``g^T @ x`` (m, n) for rows ``g`` (M, m) and ``x`` (M, n): the weight gradient.

    Written into ``out`` if given, else into a per-thread buffer (valid until this thread's
    next call with that shape): a fresh weight-sized array costs page faults on every call.
    One row is an outer product: NumPy's matmul skips BLAS when the inner size is 1 and runs
    ~10x slower, so it gets a plain multiply.
    """
    shape = (g.shape[1], x.shape[1])
    if out is None:  # one buffer per weight shape: layers do not swap sizes
        out = scratch.array(("dense.weight_product", shape), shape, g.dtype)
    if g.shape[0] == 1:
        return np.multiply(g.T, x, out=out)
    return np.matmul(g.T, x, out=out)
