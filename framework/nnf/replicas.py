"""Data parallelism on threads: a batch split over copies of a model that share its weights.

Part 0 of every batch runs through the model's own layers on the calling thread, the other
parts through twins (``Layer.replica``: same parameter arrays, own gradients and buffers) on
the pool of ``nnf.threads``. Forward returns the parts' outputs joined; backward takes the
whole batch's output gradient, splits it the same way, and adds each twin's parameter
gradients into the model's in part order, so a run is reproducible with the same thread
count. It differs from a run on one thread by float rounding in those sums, and, with
Dropout, in the masks: each part draws from its own stream (seeded from seed, epoch, layer
and part), so the same seed trains bit for bit the same only with the same NNF_NUM_THREADS.

Used only when every layer is ``samples_independent``: then splitting a batch changes no
result but for rounding and random draws.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

from . import threads
from .errors import ConfigError
from .layer import Layer, backward_chain
from .workers import ProcessReplicas, fork_available

T = TypeVar("T")

# A split pays when each part has enough samples to work on, and more so the more weights
# it must copy and sum per step. Measured (fit, processes): LeNet-5 (62k weights) at batch 32
# 1.46x faster in two parts of 16, at batch 16 not faster in parts of 8; the tutorial CNN
# (342k weights, one 3380x100 product OpenBLAS threads well) 0.89-0.91x split at batch 32 to
# 128. So parts get at least MIN_PART samples and one per PARAMS_PER_SAMPLE weights.
MIN_PART = 16
PARAMS_PER_SAMPLE = 4096


def min_part(layers: Sequence[Layer]) -> int:
    """The fewest samples a part of a split batch may have for these layers."""
    weights = sum(int(p.size) for layer in layers for p in layer.params.values())
    return max(MIN_PART, -(-weights // PARAMS_PER_SAMPLE))


def splittable(layers: Sequence[Layer]) -> bool:
    """Whether every layer allows its batches to be split (``Layer.samples_independent``)."""
    return bool(layers) and all(type(layer).samples_independent for layer in layers)


@contextmanager
def data_parallel(
    layers: Sequence[Layer], batch_size: int, processes: bool = False
) -> Iterator[Replicas | ProcessReplicas | None]:
    """Replicas for batches of ``batch_size`` when splitting them is possible and worth it,
    else None; inside, BLAS runs on one thread (``threads.parallel_section``).

    ``processes``: run the parts after the first in worker processes (``nnf.workers``) where
    possible, as ``fit`` does for long enough runs: training makes many small NumPy calls per
    sample, and threads then wait for the GIL (1.24x faster in processes for LeNet-5);
    ``predict`` keeps threads, which were faster there (a worker's start-up is not repaid over
    a few chunks). One block at a time per process uses workers; others get threads.
    """
    if threads.thread_count() < 2 or not splittable(layers):
        yield None
        return
    least = min_part(layers)
    if batch_size < 2 * least:
        yield None
        return
    with threads.parallel_section() as n:
        if n < 2:
            yield None
        elif processes and _claim_processes():
            try:
                replicas = ProcessReplicas(layers, n, batch_size, least)
                try:
                    yield replicas
                finally:
                    replicas.close()
            finally:
                _release_processes()
        else:
            yield Replicas(layers, n, least)


_process_lock = threading.Lock()
_process_busy = False  # a data_parallel block of this process is using worker processes


def _claim_processes() -> bool:
    """Take the right to start workers unless ``NNF_PARALLEL=threads``, fork is unavailable,
    another block (a nested ``evaluate``, another thread's ``fit``) holds it, or the process
    has other threads alive (``threads.single_threaded``)."""
    global _process_busy
    mode = os.environ.get("NNF_PARALLEL", "").strip().lower() or "processes"
    if mode not in ("processes", "threads"):
        raise ConfigError(f"NNF_PARALLEL must be 'processes' or 'threads', got {mode!r}")
    if mode == "threads" or not fork_available():
        return False
    with _process_lock:
        if _process_busy:
            return False
        _process_busy = True
    # Forking a process with other threads alive (a host's, BLAS's own) may deadlock the
    # child on a lock one of them held: then threads do the work instead.
    if not threads.single_threaded():
        _release_processes()
        return False
    return True


def _release_processes() -> None:
    global _process_busy
    with _process_lock:
        _process_busy = False


class Replicas:
    """``parts`` chains of layers: the model's own, then ``parts - 1`` chains of twins."""

    def __init__(self, layers: Sequence[Layer], parts: int, least: int | None = None) -> None:
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

        outs = _run(
            [lambda c=c, a=a, b=b: run(c, a, b) for c, (a, b) in zip(self.chains, self.bounds)]
        )
        return np.concatenate(outs) if len(outs) > 1 else outs[0]

    def backward(self, output_gradient: np.ndarray, start: int) -> None:
        """Back-propagate the last ``forward``'s output gradient from before layer ``start``;
        the model's layers end up holding the whole batch's parameter gradients."""

        def run(chain: list[Layer], a: int, b: int) -> None:
            backward_chain(chain[:start], output_gradient[a:b])

        _run([lambda c=c, a=a, b=b: run(c, a, b) for c, (a, b) in zip(self.chains, self.bounds)])
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
