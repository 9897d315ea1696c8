"""Which order of the Dense product is faster: ``x @ W^T`` or ``(W @ x^T)^T``, by rows.

    python benchmarks/dense_orientation.py [--rounds 15]

For the suite's Dense shapes (n inputs, m outputs) and 16-256 rows, on 2 BLAS threads and on
1, prints the time of ``x @ W^T`` and the ratio of ``(W @ x^T)^T`` (copied back to C order,
as ``kernels.dense.affine`` does) to it: below 1, the swapped order is faster. The two
run alternately; each figure is the best of ``--rounds`` timings of a few calls, which a
busy host moves least. ``kernels.dense.FEW_ROWS`` comes from this table.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from nnf.parallel import blas

SHAPES = [(3380, 100), (400, 120), (120, 84), (4096, 256)]  # (n, m): jobs b, c, c, g
ROWS = (16, 32, 64, 128, 256)


def best_times(fns: list[Callable[[], object]], rounds: int) -> list[float]:
    """Seconds per call of each function: the best of ``rounds`` alternating timings."""
    t = time.perf_counter()
    fns[0]()
    calls = max(5, int(0.005 / max(time.perf_counter() - t, 1e-7)))
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t) / calls)
    return best


def products(x: np.ndarray, w: np.ndarray) -> list[Callable[[], object]]:
    """The two orders of ``x @ w^T``, as ``kernels.dense.affine`` computes them."""
    return [lambda: x @ w.T, lambda: np.ascontiguousarray((w @ x.T).T)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| n -> m | rows | BLAS threads | x @ W^T µs | (W @ x^T)^T / x @ W^T |")
    print("|---|---|---|---|---|")
    for n, m in SHAPES:
        w = rng.random((m, n), dtype=np.float32)
        for rows in ROWS:
            x = rng.random((rows, n), dtype=np.float32)
            for threads in (2, 1):
                saved = blas.limit_threads(threads)
                try:
                    plain, swapped = best_times(products(x, w), args.rounds)
                finally:
                    blas.restore_threads(saved)
                cells = f"{plain * 1e6:.1f} | {swapped / plain:.2f}"
                print(f"| {n} -> {m} | {rows} | {threads} | {cells} |")


if __name__ == "__main__":
    main()
