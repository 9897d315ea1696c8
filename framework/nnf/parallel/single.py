"""The interface every backend implements, and the single-process backend itself.

A runtime runs a model's batches for the training loop and for ``predict``: ``forward`` a
batch, ``backward`` its output gradient so that the model's own layers end up holding the
whole batch's parameter gradients. Backends differ only in where the work happens:

* ``Runtime`` (``single``): every batch in one piece on the calling thread;
* ``Replicas`` (``threads``) and ``ProcessReplicas`` (``processes``): each batch split over
  the host's cores, on twins of the layers (``nnf.parallel.host`` picks one);
* ``MPIRuntime`` (``mpi``, ``nnf.parallel.mpi``): over several processes or machines (MPI
  ranks), each taking a shard of every batch, the gradients summed across ranks after
  ``backward``: the hooks ``rank``/``ranks``, ``shard``, ``sum_gradients``, ``sum_values``,
  ``gather_rows``, ``broadcast_weights`` and ``end_epoch`` are its, and do nothing here.

The layers (in execution order, ``nnf.parallel.plan``) and the model know nothing of which
backend runs them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..layer import Layer, backward_chain


def _steps_in_backward(layer: Layer) -> bool:
    """Whether ``layer`` takes ``Layer.backward(g, learning_rate)`` as the base class defines
    it (its own ``_backward_sgd`` hook included)."""
    kind = type(layer)
    return kind.backward is Layer.backward and kind.backward_parameters is Layer.backward_parameters


class Runtime:
    """The ``single`` backend: batches run in one piece through ``layers``."""

    name = "single"
    rank = 0  # this process's index among the processes training together
    ranks = 1  # how many there are

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)
        # Whether ``backward`` may take a learning rate and step each layer as it goes (plain
        # SGD fused into backward): only in one piece, which holds the whole batch's
        # gradients (a subclass splits or shards batches: off), and only through the base
        # class's ``backward``, which a layer overriding it may not pass the rate on to.
        self.fuses_sgd = type(self) is Runtime and all(map(_steps_in_backward, self.layers))

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """The model's output ``(N, *out)`` for batch ``x`` ``(N, *in)``."""
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, output_gradient: np.ndarray, start: int) -> None:
        """Back-propagate the last ``forward``'s output gradient from before layer ``start``
        (execution order); the layers' ``grads`` then hold the whole batch's parameter
        gradients (dL/dx of the first layer is not computed)."""
        backward_chain(self.layers[:start], output_gradient)

    def backward_sgd(self, output_gradient: np.ndarray, start: int, learning_rate: float) -> None:
        """``backward``, where every layer instead takes the step ``p -= lr * g`` as soon as
        its dL/dx is out, its ``grads`` left zero. Only where ``fuses_sgd``."""
        if not self.fuses_sgd:
            raise TypeError(
                f"this {self.name} runtime cannot step the layers during backward (it splits "
                "batches, or a layer overrides backward): call backward, then the optimizer"
            )
        backward_chain(self.layers[:start], output_gradient, learning_rate)

    def reseed(self, seed: int, epoch: int) -> None:
        """Give every part of a split batch its own random stream for the epoch (dropout
        masks); the model's own layers are seeded by the training loop."""

    def shard(self, n: int) -> tuple[int, int]:
        """The ``(start, stop)`` of a global batch of ``n`` samples that this process
        computes: all of it on one machine."""
        return 0, n

    def sum_gradients(self, loss_total: float) -> float:
        """Sum the layers' gradients and a step's ``loss_total`` over all processes; returns
        the summed loss (one process: ``loss_total``)."""
        return loss_total

    def sum_values(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum of ``values`` over all processes."""
        return values

    def gather_rows(self, rows: np.ndarray, n: int) -> np.ndarray:
        """The whole ``(n, *out)`` result from every process's ``shard(n)`` of it."""
        return rows

    def broadcast_weights(self) -> None:
        """Make every process start from the same weights (rank 0's): one process already does."""

    def end_epoch(self, epoch: int) -> None:
        """After ``epoch``: average the layers' ``state`` (running statistics) over the
        processes, then raise TrainingError unless every process holds the same weights."""

    def close(self) -> None:
        """Release workers, threads and buffers (nothing to release here)."""
