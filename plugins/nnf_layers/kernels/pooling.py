"""Batched max pooling: window maxima, their argmax, and the gradient routed back.

Windows are visited as p*p strided views (element (i, j) of every window at once), so a
2x2 pool is four whole-array operations instead of a Python loop over windows. Maxima
without the argmax (inference) are taken in two separable steps (``_separable_max``). Blocks of
``BLOCK`` samples run on the threads ``nnf.parallel.threads`` allows, each writing its own slice.
Reference: ``reference.max_pool`` / ``reference.max_pool_gradient`` (a loop over windows).
"""

from __future__ import annotations

import numpy as np
from nnf.parallel import threads

BLOCK = 64  # samples per thread block: smaller ones gained nothing at batch 64 (thread handoff)
# Input bytes per sub-block: a block's intermediates (row maxima, masks) and strided writes
# stay in the core's cache. The CIFAR-sized net's first pool (64x32x32x32 float32, 8 MB)
# ran forward 1.4x and backward 1.5x faster in sub-blocks of 512 KB than in one
# (benchmarks/README.md, "Session 8: kernels").
CACHE_BYTES = 512 * 1024


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

    def run(group: int, start: int, stop: int) -> None:
        if argmax is None and pool > 1:
            _separable_max(x[start:stop], out[start:stop], pool, stride)
            return
        larger = k = None
        for a, b in _sub_blocks(start, stop, x):
            xb, y = x[a:b], out[a:b]
            np.copyto(y, _window(xb, 0, 0, stride, out_h, out_w))
            if argmax is None:
                continue
            # offsets come in increasing order and replace the running maximum only when
            # strictly larger, so ties keep the first.
            arg = argmax[a:b]
            if larger is None or larger.shape != y.shape:
                larger, k = np.empty(y.shape, dtype=bool), np.empty(y.shape, dtype=dtype)
            assert k is not None
            for i in range(pool):
                for j in range(pool):
                    if i == j == 0:
                        continue
                    view = _window(xb, i, j, stride, out_h, out_w)
                    np.greater(view, y, out=larger)
                    np.maximum(y, view, out=y)
                    # argmax = k where larger (k exceeds every earlier index): cheaper than
                    # copyto(where=)
                    np.multiply(larger, dtype(i * pool + j), out=k)
                    np.maximum(arg, k, out=arg)

    threads.map_groups(run, n, BLOCK)
    return out, argmax


def _sub_blocks(start: int, stop: int, full: np.ndarray) -> list[tuple[int, int]]:
    """Samples ``start:stop`` of the full-sized (N, C, H, W) array ``full`` in even runs of
    about CACHE_BYTES (one run up to 1.5 CACHE_BYTES: LeNet-5's 600 KB pools lost 10% to the
    extra calls when cut in two)."""
    sample = full[0].nbytes if len(full) else 1
    parts = max(1, round((stop - start) * sample / CACHE_BYTES))
    step = max(1, -(-(stop - start) // parts))
    return [(a, min(a + step, stop)) for a in range(start, stop, step)]


def _separable_max(x: np.ndarray, out: np.ndarray, pool: int, stride: int) -> None:
    """Window maxima of ``x`` (N, C, H, W) into ``out`` (N, C, H', W') in two steps: the
    maximum of each window's ``pool`` columns along every row a window reaches, then the
    maximum of ``pool`` of those rows. At 2x2 that is one operation on half-sized and one on
    quarter-sized arrays instead of three on quarter-sized views strided in both axes: the
    CIFAR-sized net's first pool ran 1.7x faster. Samples go in sub-blocks of about
    ``CACHE_BYTES`` so that the row maxima are read back from cache."""
    n, c = x.shape[:2]
    out_h, out_w = out.shape[2:]
    reach = (out_h - 1) * stride + pool  # rows some window covers
    blocks = _sub_blocks(0, n, x)
    rows = np.empty((blocks[0][1] if blocks else 0, c, reach, out_w), dtype=x.dtype)
    last_col = stride * (out_w - 1) + 1
    last_row = stride * (out_h - 1) + 1
    for a, b in blocks:
        xb, m = x[a:b, :, :reach], rows[: b - a]
        np.maximum(xb[..., 0:last_col:stride], xb[..., 1 : 1 + last_col : stride], out=m)
        for j in range(2, pool):
            np.maximum(m, xb[..., j : j + last_col : stride], out=m)
        y = out[a:b]
        np.maximum(m[:, :, 0:last_row:stride], m[:, :, 1 : 1 + last_row : stride], out=y)
        for i in range(2, pool):
            np.maximum(y, m[:, :, i : i + last_row : stride], out=y)


def max_pool_gradient(
    g: np.ndarray, argmax: np.ndarray, input_shape: tuple[int, ...], pool: int, stride: int
) -> np.ndarray:
    """dL/dx (N, C, H, W): each window's gradient ``g`` (N, C, H', W') added to the input at
    its argmax."""
    out_h, out_w = g.shape[2:]
    covered = stride == pool and input_shape[2] == pool * out_h and input_shape[3] == pool * out_w
    dx = np.empty(input_shape, g.dtype) if covered else np.zeros(input_shape, g.dtype)

    def run(group: int, start: int, stop: int) -> None:
        hit = None
        for a, b in _sub_blocks(start, stop, dx):
            gb, dxb = g[a:b], dx[a:b]
            if hit is None or hit.shape != gb.shape:
                hit = np.empty(gb.shape, dtype=bool)
            for i in range(pool):
                for j in range(pool):
                    np.equal(argmax[a:b], i * pool + j, out=hit)
                    target = _window(dxb, i, j, stride, out_h, out_w)
                    if stride >= pool:  # windows do not overlap: every element written once
                        np.multiply(gb, hit, out=target)
                    else:
                        target += gb * hit

    threads.map_groups(run, g.shape[0], BLOCK)
    return dx
