"""The scaling model of benchmarks/README.md ("MPI"): ring allreduce time for N ranks,

    T(N) = 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency,

against one rank's compute per sample (measured by mpi_allreduce.py, one core per rank),
and the smallest global batch at which the allreduce is at most 10% of a step
(compute >= 9 T, i.e. samples per rank >= 9 T / per-sample time).

    python benchmarks/mpi_scaling.py
"""

from __future__ import annotations

import math

# (name, gradient buffer bytes: float32 weights + the loss, seconds per sample on one core)
MODELS = [
    ("LeNet-5", (61_706 + 1) * 4, 16.0e-3 / 64),
    ("CIFAR-sized CNN", (1_070_794 + 1) * 4, 165.6e-3 / 64),
]
# (name, bits per second, latency per message): TCP over 10 GbE, RDMA at 100 Gb/s.
NETWORKS = [("10 Gb/s", 10e9, 25e-6), ("100 Gb/s", 100e9, 2e-6)]
RANKS = [8, 64, 512]


def ring_allreduce(n: int, nbytes: float, bits_per_second: float, latency: float) -> float:
    return 2 * (n - 1) / n * nbytes * 8 / bits_per_second + 2 * (n - 1) * latency


def main() -> None:
    print("| model | network | ranks | allreduce ms | samples/rank for <= 10% | global batch |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, nbytes, per_sample in MODELS:
        for net, bw, lat in NETWORKS:
            for n in RANKS:
                t = ring_allreduce(n, nbytes, bw, lat)
                per_rank = math.ceil(9 * t / per_sample)
                print(f"| {name} | {net} | {n} | {t * 1e3:.2f} | {per_rank} | {per_rank * n:,} |")


if __name__ == "__main__":
    main()
