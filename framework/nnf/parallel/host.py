"""The in-host split: whether a batch is split over the host's cores, on threads or in worker
processes, and how big its parts must be.

Splitting needs every layer to be ``samples_independent`` and pays only for parts with enough
work for the weights they copy and sum (``min_part``, below); where it does not, the caller
runs single. Cores a split leaves over go to BLAS inside parts that run in processes of their
own (``blas_per_part``). The design and its expected behaviour at 8-64 cores:
docs/parallel.md, "One machine"; the measurements: benchmarks/README.md, "The split rule".

Worker processes are forked (``workers``), so they are used only where forking is safe:
Linux, one block at a time per process, and no other thread alive in the process (a host's,
BLAS's own); elsewhere the parts run on threads (``replicas``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from ..layer import Layer
from . import threads
from .replicas import Replicas
from .single import Runtime
from .workers import ProcessReplicas, fork_available

# A split pays when each part's work is large against what splitting adds per step: the
# weights copied to the parts and their gradients summed (O(weights) per part), and every
# part reading the weight matrices again. So a part gets at least MIN_PART samples (below
# that, the per-step costs of the parts and small GEMMs win), and enough samples that its
# forward multiply-adds are WORK_PER_WEIGHT times the model's weights or more:
#
#     least = max(MIN_PART, ceil(WORK_PER_WEIGHT * weights / forward_macs_per_sample))
#
# Measured on 2 cores (fit, worker processes; benchmarks/ab_split.py, benchmarks/README.md
# "The split rule", 2026-12-02), by multiply-adds per weight of a part (its samples x forward
# MACs a sample / weights), split against unsplit with BLAS's two threads: the tutorial CNN
# (342k weights, 372k MACs a sample, nearly all one 3380x100 product) 0.94-0.95x at parts of
# 16 (17 per weight), 0.98x at 32 (35), 1.10x at 64 (70), 1.17x at 128 (139); LeNet-5 (62k
# weights, 417k MACs) 1.63-1.69x at parts of 16-32 (108-216); the CIFAR-sized net (321k
# weights, 8.2M MACs) 1.4-2.3x at parts of 16-64 (410-1,640). The old rule by weights alone
# (one sample per 4,096 weights) never split that net below batch 158.
MIN_PART = 16
WORK_PER_WEIGHT = 64


def weight_count(layers: Sequence[Layer]) -> int:
    """The number of trainable values of ``layers`` (what a split copies and sums per step)."""
    return sum(int(p.size) for layer in layers for p in layer.params.values())


def forward_macs(layer: Layer) -> int:
    """Multiply-adds of one sample's forward through a built ``layer``.

    A layer may declare its own (a ``forward_macs()`` method returning an int). Otherwise it
    is estimated from its parameters: each weight array (2 or more dimensions, not named as a
    bias) is applied once per output position, that is ``size * out_size / shape[0]`` (a
    dense layer's ``(out, in)`` matrix once per sample, a convolution's ``(depth, C, k, k)``
    kernels once per output pixel); every other parameter counts once. Layers without
    parameters (activations, pooling) count 0: their passes over memory are not weighed.
    """
    declared = getattr(layer, "forward_macs", None)
    if callable(declared):
        return max(0, int(declared()))
    out_size = int(np.prod(layer.out_shape)) if layer.out_shape else 1
    total = 0
    for name, p in layer.params.items():
        if p.ndim >= 2 and "bias" not in name.lower() and p.shape[0] > 0:
            total += int(p.size) * max(1, out_size // p.shape[0])
        else:
            total += int(p.size)
    return total


def min_part(layers: Sequence[Layer]) -> int:
    """The fewest samples a part of a split batch may have for these layers: ``MIN_PART``,
    or more where the model has many weights for the work a sample brings (see above)."""
    weights = weight_count(layers)
    macs = sum(forward_macs(layer) for layer in layers)
    if weights == 0 or macs == 0:
        return MIN_PART
    return max(MIN_PART, -(-WORK_PER_WEIGHT * weights // macs))


def splittable(layers: Sequence[Layer]) -> bool:
    """Whether every layer allows its batches to be split (``Layer.samples_independent``)."""
    return bool(layers) and all(type(layer).samples_independent for layer in layers)


def core_split(cores: int, batch_size: int, least: int, can_split: bool = True) -> tuple[int, int]:
    """How ``cores`` are divided for batches of ``batch_size``: ``(parts, idle)``, the parts
    of the batch split (a core each) and the cores no part has to itself.

    Whole batches split first (a part of ``least`` samples or more keeps each core's GEMMs
    large enough to pay for copying and summing the weights). A batch too small to split
    over every core leaves the rest to BLAS inside the parts where each part has a BLAS of
    its own (worker processes: ``blas_per_part``), else idle. Unsplit (``parts == 1``), nnf
    does not limit BLAS, which then uses every core by itself.
    E.g. 64 cores, batch 64, LeNet-5 (least 16): 4 parts, 60 idle; batch 1024: 64 parts.
    """
    if cores < 2 or not can_split:
        return 1, 0
    parts = max(1, min(cores, batch_size // max(1, least)))
    return (1, 0) if parts < 2 else (parts, cores - parts)


def blas_per_part(cores: int, parts: int, processes: bool) -> int:
    """BLAS threads each part of a batch split over ``cores`` may run: the cores the parts
    leave idle, shared out evenly, when every part runs in a process of its own (the
    ``processes`` backend: the parent and each worker have their own OpenBLAS thread pool);
    else 1. Parts on threads share the process's one OpenBLAS pool, so BLAS threads there
    would fight each other and nnf's threads for the same cores (LeNet-5 trained 2x slower).
    E.g. 64 cores, 4 parts: 16 BLAS threads each; 8 cores, 3 parts: 2 each, 2 cores idle.
    """
    if parts < 2 or not processes:
        return 1
    return max(1, cores // parts)


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
            blas_threads = blas_per_part(threads.thread_count(), parts, True)
            return ProcessReplicas(layers, parts, batch_size, least, blas_threads)
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
