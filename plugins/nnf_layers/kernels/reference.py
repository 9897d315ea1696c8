"""Readable reference implementations of the kernels, in the tutorial's terms.

Each function computes what a batched kernel computes, one sample (and one channel) at a
time, with ``scipy.signal.correlate2d`` / ``convolve2d`` and ``np.dot`` as the tutorial
writes them. They are slow and meant to be read: the layers' docstrings point here, and the
tests use them as the oracle for the fast paths.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .im2col import output_size


# ---------------------------------------------------------------------- dense
def dense(x: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``y = W x + b`` for every row of ``x`` (N, n): (N, m)."""
    return np.stack([np.dot(weights, sample) + bias for sample in x])


def dense_gradients(
    x: np.ndarray, weights: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dW, db, dx)`` for dL/dy ``g`` (N, m): per sample dW = g x^T, db = g, dx = W^T g."""
    d_weights = sum(np.outer(gs, xs) for gs, xs in zip(g, x))
    d_bias = g.sum(axis=0)
    dx = np.stack([np.dot(weights.T, gs) for gs in g])
    return np.asarray(d_weights), d_bias, dx


# ---------------------------------------------------------------- convolution
def pad(x: np.ndarray, k: int, stride: int, padding: str) -> np.ndarray:
    """``x`` (N, C, H, W) zero-padded as the layer pads it (``im2col.output_size``)."""
    _, top, bottom = output_size(x.shape[2], k, stride, padding)
    _, left, right = output_size(x.shape[3], k, stride, padding)
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def convolution(
    x: np.ndarray, kernels: np.ndarray, stride: int = 1, padding: str = "valid"
) -> np.ndarray:
    """``y[n, d] = sum_c correlate2d(x[n, c], K[d, c])`` (bias not added), taken every
    ``stride`` rows and columns: (N, C, H, W), (D, C, k, k) -> (N, D, H', W')."""
    k = kernels.shape[-1]
    xp = pad(x, k, stride, padding)
    out_h = output_size(x.shape[2], k, stride, padding)[0]
    out_w = output_size(x.shape[3], k, stride, padding)[0]
    y = np.zeros((len(x), len(kernels), out_h, out_w), dtype=x.dtype)
    for n, sample in enumerate(xp):
        for d, kernel in enumerate(kernels):
            full = sum(
                signal.correlate2d(sample[c], kernel[c], "valid") for c in range(len(sample))
            )
            y[n, d] = full[::stride, ::stride][:out_h, :out_w]
    return y


def convolution_gradients(
    x: np.ndarray, kernels: np.ndarray, g: np.ndarray, stride: int = 1, padding: str = "valid"
) -> tuple[np.ndarray, np.ndarray]:
    """``(dK, dx)`` for dL/dy ``g`` (N, D, H', W'), the tutorial's backward:
    ``dK[d, c] = sum_n correlate2d(x[n, c], g[n, d])``,
    ``dx[n, c] = sum_d convolve2d(g[n, d], K[d, c], "full")``.
    With a stride, ``g`` is first spread back onto the stride-1 output grid (zeros between)."""
    k = kernels.shape[-1]
    xp = pad(x, k, stride, padding)
    grid_h, grid_w = xp.shape[2] - k + 1, xp.shape[3] - k + 1  # stride-1 output size
    spread = np.zeros((*g.shape[:2], grid_h, grid_w), dtype=g.dtype)
    spread[:, :, : g.shape[2] * stride : stride, : g.shape[3] * stride : stride] = g
    d_kernels = np.zeros_like(kernels)
    dxp = np.zeros_like(xp)
    for n in range(len(x)):
        for d in range(len(kernels)):
            for c in range(x.shape[1]):
                d_kernels[d, c] += signal.correlate2d(xp[n, c], spread[n, d], "valid")
                dxp[n, c] += signal.convolve2d(spread[n, d], kernels[d, c], "full")
    top = (xp.shape[2] - x.shape[2]) and output_size(x.shape[2], k, stride, padding)[1]
    left = (xp.shape[3] - x.shape[3]) and output_size(x.shape[3], k, stride, padding)[1]
    dx = dxp[:, :, top : top + x.shape[2], left : left + x.shape[3]]
    return d_kernels, dx


# ---------------------------------------------------------------- max pooling
def max_pool(x: np.ndarray, pool: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima of ``x`` (N, C, H, W) and each window's first argmax ``i * pool + j``."""
    n, c, h, w = x.shape
    out_h, out_w = (h - pool) // stride + 1, (w - pool) // stride + 1
    y = np.zeros((n, c, out_h, out_w), dtype=x.dtype)
    argmax = np.zeros((n, c, out_h, out_w), dtype=np.intp)
    for index in np.ndindex(n, c, out_h, out_w):
        s, ch, a, b = index
        window = x[s, ch, a * stride : a * stride + pool, b * stride : b * stride + pool]
        argmax[index] = int(np.argmax(window))  # the first maximum, row-major
        y[index] = window.flat[argmax[index]]
    return y, argmax


def max_pool_gradient(x: np.ndarray, g: np.ndarray, pool: int, stride: int) -> np.ndarray:
    """dL/dx: each window's gradient added at its (first) maximum."""
    _, argmax = max_pool(x, pool, stride)
    dx = np.zeros_like(x)
    for index in np.ndindex(*g.shape):
        s, ch, a, b = index
        i, j = divmod(int(argmax[index]), pool)
        dx[s, ch, a * stride + i, b * stride + j] += g[index]
    return dx
