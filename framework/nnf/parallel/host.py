"""The in-host split: whether a batch is split over the host's cores, on threads or in worker
processes, and how big its parts must be.

Splitting needs every layer to be ``samples_independent`` and pays only for big enough parts:
``split_runtime`` returns None where it does not, and the caller runs single. Worker
processes are forked (``workers``), so they are used only where forking is safe: Linux, one
block at a time per process, and no other thread alive in the process (a host's, BLAS's
own); elsewhere the parts run on threads (``replicas``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..layer import Layer
from . import threads
from .replicas import Replicas
from .single import Runtime
from .workers import ProcessReplicas, fork_available

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


def core_split(cores: int, batch_size: int, least: int, can_split: bool = True) -> tuple[int, int]:
    """How ``cores`` are divided for batches of ``batch_size``: ``(parts, idle)``, the parts
    of the batch split (one core each, BLAS on one thread inside them: OpenBLAS's threads
    and ours fought for the cores, 2x slower) and the cores left idle by it.

    Whole batches split first (a part of ``least`` samples or more keeps each core's GEMMs
    large enough to pay for copying and summing the weights); a batch too small to split
    over every core leaves the rest idle rather than handing BLAS a thread count that every
    part's BLAS calls would share (OpenBLAS's thread pool is one per process). Unsplit
    (``parts == 1``), nnf does not limit BLAS, which then uses every core by itself.
    E.g. 64 cores, batch 64, LeNet-5 (least 16): 4 parts, 60 idle; batch 1024: 64 parts.
    """
    if cores < 2 or not can_split:
        return 1, 0
    parts = max(1, min(cores, batch_size // max(1, least)))
    return (1, 0) if parts < 2 else (parts, cores - parts)


def split_parts(layers: Sequence[Layer], batch_size: int) -> int:
    """How many parts batches of ``batch_size`` may be split into (1: none), before BLAS is
    taken into account (``threads.parallel_section``): ``core_split`` of nnf's threads."""
    if threads.thread_count() < 2 or not splittable(layers):
        return 1
    return core_split(threads.thread_count(), batch_size, min_part(layers))[0]


def split_runtime(layers: Sequence[Layer], parts: int, batch_size: int, processes: bool) -> Runtime:
    """The runtime of a split over ``parts``: worker processes if ``processes`` and they
    may be used now (then ``release_processes`` after it is closed), else threads."""
    least = min_part(layers)
    if processes and claim_processes():
        try:
            return ProcessReplicas(layers, parts, batch_size, least)
        except BaseException:
            release_processes()
            raise
    return Replicas(layers, parts, least)


_process_lock = threading.Lock()
_process_busy = False  # a block of this process is using worker processes


def claim_processes() -> bool:
    """Take the right to start workers, unless fork is unavailable, another block (a nested
    ``evaluate``, another thread's ``fit``) holds it, or the process has other threads alive
    (``threads.single_threaded``)."""
    global _process_busy
    if not fork_available():
        return False
    with _process_lock:
        if _process_busy:
            return False
        _process_busy = True
    # Forking a process with other threads alive (a host's, BLAS's own) may deadlock the
    # child on a lock one of them held: then threads do the work instead.
    if not threads.single_threaded():
        release_processes()
        return False
    return True


def release_processes() -> None:
    global _process_busy
    with _process_lock:
        _process_busy = False
