"""Micro-benchmarks of candidate convolution kernels at the shapes of the benchmark jobs.

    python benchmarks/kernels.py [--repeats N]

Evidence for choosing a kernel per shape (the layers live in plugins/nnf_layers/; these are
stand-alone NumPy versions of each strategy, checked against each other before timing).
Shapes are (N, C, H, W) inputs (already padded) and (D, C, k, k) kernels, float32.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SHAPES = {
    # name: (N, C, H, W, D, k)
    "tutorial conv, 1 sample": (1, 1, 28, 28, 5, 3),
    "tutorial conv, batch 32": (32, 1, 28, 28, 5, 3),
    "LeNet conv1, batch 64 (padded 32x32)": (64, 1, 32, 32, 6, 5),
    "LeNet conv2, batch 64": (64, 6, 14, 14, 16, 5),
    "LeNet conv1, batch 256": (256, 1, 32, 32, 6, 5),
    "LeNet conv2, batch 256": (256, 6, 14, 14, 16, 5),
}


# ----------------------------------------------------------------------- forward
def fwd_im2col_cnhw(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """cols (C*k*k, N*H'*W') -> one GEMM -> (D, N, H', W') -> transposed copy to NCHW."""
    n, c, h, wd = x.shape
    d, _, k, _ = w.shape
    ho, wo = h - k + 1, wd - k + 1
    win = sliding_window_view(x, (k, k), axis=(2, 3))  # (N, C, H', W', k, k)
    cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(c * k * k, n * ho * wo)
    out = w.reshape(d, -1) @ cols
    return np.ascontiguousarray(out.reshape(d, n, ho, wo).transpose(1, 0, 2, 3))


def fwd_im2col_batched(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """cols per sample (N, C*k*k, H'*W'); matmul broadcasts W over N: output is NCHW directly."""
    n, c, h, wd = x.shape
    d, _, k, _ = w.shape
    ho, wo = h - k + 1, wd - k + 1
    win = sliding_window_view(x, (k, k), axis=(2, 3))
    cols = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, ho * wo)
    return np.matmul(w.reshape(d, -1), cols).reshape(n, d, ho, wo)


def fwd_im2col_rows(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """cols (N*H'*W', C*k*k) @ W^T -> (N, H', W', D) -> transposed copy to NCHW."""
    n, c, h, wd = x.shape
    d, _, k, _ = w.shape
    ho, wo = h - k + 1, wd - k + 1
    win = sliding_window_view(x, (k, k), axis=(2, 3))
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
    out = cols @ w.reshape(d, -1).T
    return np.ascontiguousarray(out.reshape(n, ho, wo, d).transpose(0, 3, 1, 2))


def fwd_shift(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sum over the k*k offsets of a (D, C) x (N, C, H', W') product: no im2col matrix."""
    n, c, h, wd = x.shape
    d, _, k, _ = w.shape
    ho, wo = h - k + 1, wd - k + 1
    out = np.zeros((n, d, ho, wo), dtype=x.dtype)
    tmp = np.empty_like(out)
    for i in range(k):
        for j in range(k):
            xs = x[:, :, i : i + ho, j : j + wo]
            if c == 1:
                np.multiply(xs, w[:, 0, i, j, None, None], out=tmp)
            else:
                tmp[...] = np.einsum("dc,nchw->ndhw", w[:, :, i, j], xs)
            out += tmp
    return out


def fwd_einsum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """einsum over the window view (optimize=True lets it pick tensordot)."""
    k = w.shape[-1]
    win = sliding_window_view(x, (k, k), axis=(2, 3))
    return np.einsum("nchwij,dcij->ndhw", win, w, optimize=True)


def fwd_scipy_loops(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The tutorial's loops over samples, kernels and channels with correlate2d."""
    from scipy import signal

    n, c, _, _ = x.shape
    d = w.shape[0]
    out = []
    for s in range(n):
        per = []
        for i in range(d):
            acc = signal.correlate2d(x[s, 0], w[i, 0], "valid")
            for j in range(1, c):
                acc += signal.correlate2d(x[s, j], w[i, j], "valid")
            per.append(acc)
        out.append(per)
    return np.asarray(out, dtype=x.dtype)


FORWARD = {
    "im2col (CKK, NHW), GEMM, transpose": fwd_im2col_cnhw,
    "im2col per sample, batched matmul": fwd_im2col_batched,
    "im2col (NHW, CKK) rows, transpose": fwd_im2col_rows,
    "shift-and-add over k*k offsets": fwd_shift,
    "einsum on window view": fwd_einsum,
    "scipy correlate2d loops (tutorial)": fwd_scipy_loops,
}


# -------------------------------------------------------------- kernel gradient
def dw_im2col_cnhw(x: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """g as (D, N*H'*W') (transposed copy) @ cols^T."""
    n, c = x.shape[:2]
    d, ho, wo = g.shape[1:]
    win = sliding_window_view(x, (k, k), axis=(2, 3))
    cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(c * k * k, n * ho * wo)
    g2 = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(d, -1)
    return (g2 @ cols.T).reshape(d, c, k, k)


def dw_batched(x: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """Per-sample (D, H'W') @ (H'W', CKK), summed over N (batched matmul)."""
    n, c = x.shape[:2]
    d, ho, wo = g.shape[1:]
    win = sliding_window_view(x, (k, k), axis=(2, 3))
    cols = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, ho * wo)
    return np.matmul(g.reshape(n, d, -1), cols.transpose(0, 2, 1)).sum(axis=0).reshape(d, c, k, k)


def dw_tensordot_view(x: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """tensordot over (n, h, w) straight from the window view."""
    win = sliding_window_view(x, (k, k), axis=(2, 3))  # (N, C, H', W', k, k)
    return np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))  # (D, C, k, k)


def dw_shift(x: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """k*k products over (n, h, w): one (D, NHW) x (NHW, C) contraction per offset."""
    _n, c = x.shape[:2]
    d, ho, wo = g.shape[1:]
    out = np.empty((d, c, k, k), dtype=x.dtype)
    g2 = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(d, -1)
    for i in range(k):
        for j in range(k):
            xs = np.ascontiguousarray(x[:, :, i : i + ho, j : j + wo].transpose(1, 0, 2, 3))
            out[:, :, i, j] = g2 @ xs.reshape(c, -1).T
    return out


DWEIGHT = {
    "im2col (CKK, NHW) GEMM": dw_im2col_cnhw,
    "batched matmul per sample + sum": dw_batched,
    "tensordot on window view": dw_tensordot_view,
    "shift: k*k GEMMs": dw_shift,
}


# --------------------------------------------------------------- input gradient
def dx_col2im(g: np.ndarray, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """W^T (CKK, D) @ g (D, NHW), then k*k strided adds back into the input (col2im)."""
    n, c, _h, _wd = shape
    d, _, k, _ = w.shape
    ho, wo = g.shape[2:]
    g2 = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(d, -1)
    blocks = (w.reshape(d, -1).T @ g2).reshape(c, k, k, n, ho, wo)
    out = np.zeros(shape, dtype=g.dtype)
    for i in range(k):
        for j in range(k):
            out[:, :, i : i + ho, j : j + wo] += blocks[:, i, j].transpose(1, 0, 2, 3)
    return out


def dx_col2im_batched(g: np.ndarray, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Batched matmul W^T (CKK, D) @ g[n] (D, H'W') straight from NCHW g, then k*k adds whose
    operands share the (N, C) axis order (no transposed views in the adds)."""
    n, c, _h, _wd = shape
    d, _, k, _ = w.shape
    ho, wo = g.shape[2:]
    blocks = np.matmul(w.reshape(d, -1).T, g.reshape(n, d, ho * wo)).reshape(n, c, k, k, ho, wo)
    out = np.zeros(shape, dtype=g.dtype)
    for i in range(k):
        for j in range(k):
            out[:, :, i : i + ho, j : j + wo] += blocks[:, :, i, j]
    return out


def dx_full_batched(g: np.ndarray, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Full correlation with the flipped kernels: pad g by k-1, im2col per sample, matmul."""
    n, c, h, wd = shape
    d, _, k, _ = w.shape
    ho, wo = g.shape[2:]
    gp = np.zeros((n, d, ho + 2 * (k - 1), wo + 2 * (k - 1)), dtype=g.dtype)
    gp[:, :, k - 1 : k - 1 + ho, k - 1 : k - 1 + wo] = g
    win = sliding_window_view(gp, (k, k), axis=(2, 3))  # (N, D, H, W, k, k)
    cols = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, d * k * k, h * wd)
    wf = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(c, d * k * k)
    return np.matmul(wf, cols).reshape(shape)


def dx_shift(g: np.ndarray, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """k*k offsets: dx[:, :, i:i+H', j:j+W'] += W[:, :, i, j]^T contracted with g."""
    _n, c, _h, _wd = shape
    _d, _, k, _ = w.shape
    ho, wo = g.shape[2:]
    out = np.zeros(shape, dtype=g.dtype)
    for i in range(k):
        for j in range(k):
            if c == 1:
                out[:, 0, i : i + ho, j : j + wo] += np.tensordot(w[:, 0, i, j], g, axes=([0], [1]))
            else:
                out[:, :, i : i + ho, j : j + wo] += np.einsum("dc,ndhw->nchw", w[:, :, i, j], g)
    return out


DINPUT = {
    "GEMM + col2im (k*k strided adds)": dx_col2im,
    "batched matmul + col2im, N-major": dx_col2im_batched,
    "full correlation, batched matmul": dx_full_batched,
    "shift: k*k contractions": dx_shift,
}


def nnf_layer(x: np.ndarray, w: np.ndarray) -> Any:
    """nnf's own Convolutional (valid, bias per channel) with these kernels, or None."""
    try:
        from nnf.layers import Convolutional
    except Exception:  # nnf or its layers not importable: leave the row out
        return None
    layer = Convolutional(x.shape[1:], w.shape[-1], w.shape[0], bias="channel")
    layer.params["kernels"][...] = w
    return layer


def timeit(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) seconds per call; the call count adapts to ~0.05 s per sample."""
    fn()
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-6)
    inner = max(1, int(0.05 / once))
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t) / inner)
    return min(samples), statistics.median(samples)


def _bench(title: str, candidates: dict[str, Callable[[], np.ndarray]], repeats: int) -> None:
    results = {name: fn() for name, fn in candidates.items()}
    ref = next(iter(results.values()))
    print(f"\n{title}\n| strategy | best us | median us | max abs diff |\n|---|---|---|---|")
    for name, fn in candidates.items():
        best, med = timeit(fn, repeats)
        diff = float(np.max(np.abs(results[name] - ref)))
        print(f"| {name} | {best * 1e6:,.0f} | {med * 1e6:,.0f} | {diff:.1e} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--shapes", help="substring filter on the shape names")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    for name, (n, c, h, wd, d, k) in SHAPES.items():
        if args.shapes and args.shapes not in name:
            continue
        x = rng.standard_normal((n, c, h, wd), dtype=np.float32)
        w = rng.standard_normal((d, c, k, k), dtype=np.float32)
        g = rng.standard_normal((n, d, h - k + 1, wd - k + 1), dtype=np.float32)
        fwd: dict[str, Callable[[], np.ndarray]] = {
            s: functools.partial(f, x, w)
            for s, f in FORWARD.items()
            if not (f is fwd_scipy_loops and n > 32)
        }
        layer = nnf_layer(x, w)
        if layer is not None:
            fwd["nnf Convolutional.forward (as is)"] = functools.partial(layer.forward, x, True)
        _bench(f"### forward, {name}", fwd, args.repeats)
        _bench(
            f"### kernel gradient, {name}",
            {s: functools.partial(f, x, g, k) for s, f in DWEIGHT.items()},
            args.repeats,
        )
        _bench(
            f"### input gradient, {name}",
            {s: functools.partial(f, g, w, x.shape) for s, f in DINPUT.items()},
            args.repeats,
        )
        if layer is not None:
            layer.forward(x, True)
            best, med = timeit(functools.partial(layer.backward, g), args.repeats)
            print(
                f"\nnnf Convolutional.backward as is (kernel + bias + input gradients): "
                f"best {best * 1e6:,.0f} us, median {med * 1e6:,.0f} us"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
