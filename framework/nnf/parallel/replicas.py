"""Data parallelism on threads: a batch split over copies of a model that share its weights.

Part 0 of every batch runs through the model's own layers on the calling thread, the other
parts through twins (``Layer.replica``: same parameter arrays, own gradients and buffers) on
the pool of ``nnf.parallel.threads``. Forward returns the parts' outputs joined; backward takes the
whole batch's output gradient, splits it the same way, and adds each twin's parameter
gradients into the model's in part order, so a run is reproducible with the same thread
count. It differs from a run on one thread by float rounding in those sums, and, with
Dropout, in the masks: each part draws from its own stream (seeded from seed, epoch, layer
and part), so the same seed trains bit for bit the same only with the same NNF_NUM_THREADS.

Used only when every layer is ``samples_independent``: then splitting a batch changes no
result but for rounding and random draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import numpy as np

from ..layer import Layer, backward_chain
from . import threads
from .single import Runtime

T = TypeVar("T")


class Replicas(Runtime):
    """The ``threads`` backend: ``parts`` chains of layers, the model's own, then
    ``parts - 1`` chains of twins; batches smaller than two parts of ``least`` samples run
    unsplit."""

    name = "threads"

    def __init__(self, layers: Sequence[Layer], parts: int, least: int | None = None) -> None:
        from .host import min_part

        super().__init__(layers)
        self.least = min_part(layers) if least is None else least  # samples per part
        self.chains: list[list[Layer]] = [list(layers)]
        self.chains += [[layer.replica() for layer in layers] for _ in range(parts - 1)]
        self.bounds: list[tuple[int, int]] = []

    @property
    def parts(self) -> int:
        return len(self.chains)

    def splits(self, n: int) -> bool:
        """Whether a batch of ``n`` samples is worth splitting."""
        return n >= 2 * self.least

    def reseed(self, seed: int, epoch: int) -> None:
        """Give each twin its own random stream for the epoch (dropout masks)."""
        for part, chain in enumerate(self.chains[1:], start=1):
            for i, twin in enumerate(chain):
                twin.rng = np.random.default_rng([seed, epoch, 1, i, part])

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """The model's output for batch ``x`` (N, ...), each part on its own thread (one part
        if the batch is too small to split)."""
        self.bounds = threads.split(len(x), self.parts if self.splits(len(x)) else 1)

        def run(chain: list[Layer], a: int, b: int) -> np.ndarray:
            out = x[a:b]
            for layer in chain:
                out = layer.forward(out, training=training)
            return out

        outs = _run([partial(run, c, a, b) for c, (a, b) in zip(self.chains, self.bounds)])
        return np.concatenate(outs) if len(outs) > 1 else outs[0]

    def backward(self, output_gradient: np.ndarray, start: int) -> None:
        """Back-propagate the last ``forward``'s output gradient from before layer ``start``;
        the model's layers end up holding the whole batch's parameter gradients."""

        def run(chain: list[Layer], a: int, b: int) -> None:
            backward_chain(chain[:start], output_gradient[a:b])

        _run([partial(run, c, a, b) for c, (a, b) in zip(self.chains, self.bounds)])
        for i, layer in enumerate(self.chains[0]):
            for twin_chain in self.chains[1 : len(self.bounds)]:
                twin = twin_chain[i]
                for k, g in twin.grads.items():
                    layer.grads[k] += g
                    g.fill(0)


def _run(parts: list[Callable[[], T]]) -> list[T]:
    """The parts of a split batch on their threads (no threads inside each); an unsplit
    batch as a plain call, whose layers may then use the threads themselves."""
    return threads.run_parts(parts) if len(parts) > 1 else [parts[0]()]
