"""Launched by tests/test_mpi.py under ``mpiexec -n N`` (or alone): trains a small CNN and
writes each rank's final weights to ``OUT/rank{R}.npz``.

    python train_worker.py OUT PARALLEL [--batch B] [--fail-rank R] [--kill-rank R] [--val]
        [--bad-data-rank R] [--batchnorm] [--samples N]

``--fail-rank R``: a callback raises on rank R in epoch 1; ``--bad-data-rank R``: rank R
passes samples of the wrong shape; the other ranks then catch RankFailedError and write its
message and ``rank`` to ``OUT/failed{R}.txt`` before raising it again.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import nnf
import numpy as np
from nnf.errors import RankFailedError
from nnf.layers import BatchNorm, Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax


def lenet(batchnorm: bool = False) -> nnf.Sequential:
    layers = [
        Convolutional(kernel_size=3, depth=4, padding="same", bias="channel"),
        *([BatchNorm()] if batchnorm else []),
        ReLU(),
        MaxPool2D(2),
        Convolutional(kernel_size=3, depth=6),
        ReLU(),
        Flatten(),
        Dense(output_size=16),
        ReLU(),
        Dense(output_size=3),
        Softmax(),
    ]
    return nnf.Sequential(layers, input_shape=(1, 10, 10), dtype="float64")


class Fail:
    """Raises (or SIGKILLs this process) on one rank in the second batch of epoch 1."""

    def __init__(self, rank: int, kill: bool) -> None:
        self.rank, self.kill = rank, kill

    def on_batch_end(self, batch: int, num_batches: int, logs: dict[str, float]) -> None:
        if batch == 1 and os.environ.get("PMI_RANK", "0") == str(self.rank):
            if self.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"deliberate failure on rank {self.rank}")


def _count_split_steps() -> list[int]:
    """Count the forward passes split over threads inside this process (``[count]``)."""
    from nnf.parallel.replicas import Replicas

    count = [0]
    forward = Replicas.forward

    def counted(self: Replicas, x: np.ndarray, training: bool) -> np.ndarray:
        out = forward(self, x, training)
        count[0] += len(self.bounds) > 1
        return out

    Replicas.forward = counted  # type: ignore[method-assign]
    return count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("parallel")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--fail-rank", type=int, default=-1)
    ap.add_argument("--kill-rank", type=int, default=-1)
    ap.add_argument("--val", action="store_true")
    ap.add_argument("--batchnorm", action="store_true")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--bad-data-rank", type=int, default=-1)
    args = ap.parse_args()
    split_steps = _count_split_steps()
    rank = int(os.environ.get("PMI_RANK", "0"))
    rng = np.random.default_rng(3)
    x, y = rng.random((args.samples, 1, 10, 10)), rng.integers(0, 3, args.samples)
    if rank == args.bad_data_rank:
        x = x[:, :, :9]
    model = lenet(args.batchnorm)
    callbacks = []
    if args.fail_rank >= 0 or args.kill_rank >= 0:
        callbacks.append(Fail(max(args.fail_rank, args.kill_rank), args.kill_rank >= 0))
    try:
        history = model.fit(
            x,
            y,
            epochs=1,
            batch_size=args.batch,
            optimizer="sgd",
            learning_rate=0.1,
            seed=7,
            verbose=0,
            parallel=args.parallel,
            callbacks=callbacks,
            validation_split=0.2 if args.val else 0.0,
        )
    except RankFailedError as error:
        (Path(args.out) / f"failed{rank}.txt").write_text(f"{error.rank}\n{error}\n")
        raise
    weights = {
        f"{i}.{k}": v
        for i, layer in enumerate(model.layers)
        for k, v in (*layer.params.items(), *layer.state.items())
    }
    logs = history.epochs[-1]
    np.savez(
        Path(args.out) / f"rank{rank}.npz",
        loss=logs["loss"],
        val=logs.get("val_loss", 0.0),
        split_steps=split_steps[0],
        **weights,
    )


if __name__ == "__main__":
    main()
