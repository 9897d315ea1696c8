"""Batched max pooling: window maxima, their argmax, and the gradient routed back.

Windows are visited as p*p strided views (element (i, j) of every window at once), so a
2x2 pool is four whole-array operations instead of a Python loop over windows. Blocks of
``BLOCK`` samples run on the threads ``nnf.parallel.threads`` allows, each writing its own slice.
Reference: ``reference.max_pool`` / ``reference.max_pool_gradient`` (a loop over windows).
"""

from __future__ import annotations

import numpy as np
from nnf.parallel import threads

BLOCK = 64  # samples per thread block: smaller ones gained nothing at batch 64 (thread handoff)


def output_size(size: int, pool: int, stride: int) -> int:
    """Windows along an axis of ``size``: rows and columns that fit no window are dropped."""
    return (size - pool) // stride + 1


def _window(a: np.ndarray, i: int, j: int, s: int, out_h: int, out_w: int) -> np.ndarray:
    """The strided view of ``a`` (N, C, H, W) holding element (i, j) of every window."""
    return a[:, :, i : i + s * (out_h - 1) + 1 : s, j : j + s * (out_w - 1) + 1 : s]


def max_pool(
    x: np.ndarray, pool: int, stride: int, with_argmax: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Window maxima of ``x`` (N, C, H, W) -> (N, C, H', W') and, if asked, the index
    ``i * pool + j`` of each window's first maximum (row-major), as uint8 when it fits."""
    n, c, h, w = x.shape
    out_h, out_w = output_size(h, pool, stride), output_size(w, pool, stride)
    out = np.empty((n, c, out_h, out_w), dtype=x.dtype)
    dtype = np.uint8 if pool * pool <= 256 else np.intp
    argmax = np.zeros(out.shape, dtype=dtype) if with_argmax else None

    def run(group: int, a: int, b: int) -> None:
        xb, y = x[a:b], out[a:b]
        np.copyto(y, _window(xb, 0, 0, stride, out_h, out_w))
        if argmax is None:
            for i in range(pool):
                for j in range(pool):
                    if i or j:
                        np.maximum(y, _window(xb, i, j, stride, out_h, out_w), out=y)
            return
        # offsets come in increasing order and replace the running maximum only when
        # strictly larger, so ties keep the first.
        arg = argmax[a:b]
        larger = np.empty(y.shape, dtype=bool)
        for i in range(pool):
            for j in range(pool):
                if i == j == 0:
                    continue
                view = _window(xb, i, j, stride, out_h, out_w)
                np.greater(view, y, out=larger)
                np.maximum(y, view, out=y)
                # argmax = k where larger (k exceeds every earlier index), cheaper than copyto
                np.maximum(arg, larger * dtype(i * pool + j), out=arg)

    threads.map_groups(run, n, BLOCK)
    return out, argmax


def max_pool_gradient(
    g: np.ndarray, argmax: np.ndarray, input_shape: tuple[int, ...], pool: int, stride: int
) -> np.ndarray:
    """dL/dx (N, C, H, W): each window's gradient ``g`` (N, C, H', W') added to the input at
    its argmax."""
    out_h, out_w = g.shape[2:]
    covered = stride == pool and input_shape[2] == pool * out_h and input_shape[3] == pool * out_w
    dx = np.empty(input_shape, g.dtype) if covered else np.zeros(input_shape, g.dtype)

    def run(group: int, a: int, b: int) -> None:
        gb, dxb = g[a:b], dx[a:b]
        hit = np.empty(gb.shape, dtype=bool)
        for i in range(pool):
            for j in range(pool):
                np.equal(argmax[a:b], i * pool + j, out=hit)
                target = _window(dxb, i, j, stride, out_h, out_w)
                if stride >= pool:  # windows do not overlap: every element is written once
                    np.multiply(gb, hit, out=target)
                else:
                    target += gb * hit

    threads.map_groups(run, g.shape[0], BLOCK)
    return dx
