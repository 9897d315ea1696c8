"""Allreduce time against step time per rank, for the MPI backend (``nnf.parallel.mpi``).

    mpiexec -n 2 -genv OPENBLAS_NUM_THREADS 1 python benchmarks/mpi_allreduce.py [--steps 20]
    mpiexec -n 3 -genv OPENBLAS_NUM_THREADS 1 python benchmarks/mpi_allreduce.py

``OPENBLAS_NUM_THREADS 1``: a plain script's ranks keep OpenBLAS's own threads (one per core
each), which oversubscribe the cores when ranks share a machine: LeNet-5's compute measured
165 ms instead of 6.7 ms per 32 samples without it. (The ``nnf`` command sets this itself.)

For LeNet-5 (MNIST, 61,706 weights) and a CIFAR-sized CNN (3x32x32: conv 32@3x3 same, relu,
pool, conv 64@3x3 same, relu, pool, dense 256, dense 10; 1,070,794 weights), float32, at 32
and 64 samples per rank: the median over ``--steps`` steps of one rank's forward + backward
of its shard (``compute``) and of the one fused ``Allreduce`` of its gradients
(``allreduce``), as ``fit(parallel="mpi")`` runs them. Rank 0 prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import nnf
import nnf_side
import numpy as np
from mpi4py import MPI
from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax
from nnf.losses import value_and_softmax_gradient
from nnf.parallel.mpi import MPIRuntime
from nnf.parallel.plan import execution_order


def cifar_net() -> nnf.Sequential:
    layers = [
        Convolutional(kernel_size=3, depth=32, padding="same", bias="channel"),
        ReLU(),
        MaxPool2D(2),
        Convolutional(kernel_size=3, depth=64, padding="same", bias="channel"),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(output_size=256),
        ReLU(),
        Dense(output_size=10),
        Softmax(),
    ]
    return nnf.Sequential(layers, input_shape=(3, 32, 32), dtype="float32").build(seed=1)


def measure(model: nnf.Sequential, per_rank: int, steps: int) -> tuple[float, float, int]:
    """Median seconds of (compute, allreduce) per step on this rank, and the buffer's bytes."""
    comm = MPI.COMM_WORLD
    runner = MPIRuntime(execution_order(model.layers), comm)
    rng = np.random.default_rng(comm.Get_rank())
    assert model.input_shape is not None  # built
    x = rng.random((per_rank, *model.input_shape), dtype=np.float32)
    y = rng.integers(0, 10, per_rank)
    compute, reduce = [], []
    for step in range(steps + 2):  # two warm-up steps
        comm.Barrier()
        t0 = time.perf_counter()
        pred = runner.forward(x, training=True)
        _, grad = value_and_softmax_gradient(np.eye(10, dtype=np.float32)[y], pred)
        runner.backward(grad.astype(np.float32), len(model.layers) - 1)
        t1 = time.perf_counter()
        comm.Barrier()  # the allreduce alone, not the wait for the slowest rank
        t2 = time.perf_counter()
        runner.sum_gradients(0.0)
        t3 = time.perf_counter()
        model.zero_grad()
        if step >= 2:
            compute.append(t1 - t0)
            reduce.append(t3 - t2)
    return float(np.median(compute)), float(np.median(reduce)), runner.buffer.nbytes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    rows = []
    for name, build in (("LeNet-5", lambda: nnf_side.lenet5(1)), ("CIFAR-sized CNN", cifar_net)):
        model = build()
        with model.training():
            for per_rank in (32, 64):
                c, r, nbytes = measure(model, per_rank, args.steps)
                c = max(comm.allgather(c))  # the step waits for the slowest rank
                r = max(comm.allgather(r))
                rows.append((name, nbytes, per_rank, c, r))
    if comm.Get_rank() == 0:
        ranks = comm.Get_size()
        print("| model | buffer | ranks | samples/rank | compute ms | allreduce ms | share |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, nbytes, per_rank, c, r in rows:
            print(
                f"| {name} | {nbytes / 1e6:.2f} MB | {ranks} | {per_rank} | {c * 1e3:.1f} | "
                f"{r * 1e3:.2f} | {r / (c + r):.1%} |"
            )


if __name__ == "__main__":
    main()
