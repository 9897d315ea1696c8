"""What splitting a LeNet-5 training batch costs: one half alone vs two halves on threads or
in a worker process (how the ``threads`` and ``processes`` backends of ``nnf.parallel`` run them).

    python benchmarks/split_overhead.py [--steps 300] [--batch 64]

Prints the median milliseconds of forward + backward (no optimizer) for: one half of the
batch on the model's layers alone; the whole batch as two halves on two threads
(``Replicas``); the whole batch as two halves, one in a forked worker (``ProcessReplicas``).
With no contention at all the last two would equal the first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nnf_side
from nnf.losses import SoftmaxCrossEntropy
from nnf.parallel import allocator, threads
from nnf.parallel.host import min_part
from nnf.parallel.replicas import Replicas
from nnf.parallel.workers import ProcessReplicas, fork_available


def median_ms(fn: Callable[[], object], steps: int) -> float:
    for _ in range(max(steps // 10, 5)):  # warm-up: buffers, caches
        fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)
    allocator.tune()
    model = nnf_side.lenet5(0)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 1, 28, 28), dtype=np.float32)
    target = np.eye(10, dtype=np.float32)[rng.integers(0, 10, args.batch)]
    last = len(model.layers) - 1  # the Softmax: its gradient is fused with the loss
    half = args.batch // 2

    def alone() -> None:
        out = model.forward(x[:half], training=True)
        grad = SoftmaxCrossEntropy.gradient_from_probs(target[:half], out)
        model.backward_parameters(grad.astype(np.float32), start=last)
        model.zero_grad()

    def split(replicas: Replicas | ProcessReplicas) -> Callable[[], None]:
        def step() -> None:
            out = replicas.forward(x, training=True)
            grad = SoftmaxCrossEntropy.gradient_from_probs(target, out)
            replicas.backward(grad.astype(np.float32), last)
            model.zero_grad()

        return step

    with threads.parallel_section() as n:
        if n < 2:
            print("needs 2 threads with BLAS on one (NNF_NUM_THREADS >= 2, BLAS controllable)")
            return 1
        rows = [(f"one half ({half} samples) alone", median_ms(alone, args.steps))]
        rows.append(
            ("two halves on two threads", median_ms(split(Replicas(model.layers, 2)), args.steps))
        )
        if fork_available():
            workers = ProcessReplicas(model.layers, 2, args.batch, min_part(model.layers))
            try:
                rows.append(
                    ("two halves, one in a worker process", median_ms(split(workers), args.steps))
                )
            finally:
                workers.close()
    for what, ms in rows:
        print(f"{what:40s} {ms:7.3f} ms   ({ms / rows[0][1]:.2f}x the half alone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
