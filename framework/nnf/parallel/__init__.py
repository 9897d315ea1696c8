"""How a model's batches run: in one piece, or split over the host's cores (threads or
worker processes). The training loop and ``predict`` ask ``runtime(...)`` for a backend and
call only its interface (``nnf.parallel.single.Runtime``): ``forward``, ``backward`` (the
whole batch's parameter gradients end up in the model's layers), ``reseed``, ``shard``,
``broadcast_weights``. Layers and ``Sequential`` never see which backend runs.

Everything here that touches the process (threads, worker processes, BLAS thread counts,
the allocator) is scoped to the call and undone after it, except the allocator tuning, which
only the ``nnf`` command or an explicit opt-in makes (``allocator``).

Backends (``fit(..., parallel=NAME)`` or ``NNF_PARALLEL=NAME``; default ``auto``):

* ``single``: one piece, on the calling thread (layers may still split their own work);
* ``threads``: each batch split over the pool of ``threads``;
* ``processes``: parts after the first in worker processes where that is safe (a ``fit``,
  ``predict`` or ``evaluate`` of 4,096 samples or more, on Linux, with no other thread alive
  in the process), threads otherwise;
* ``auto``: as ``processes`` (the name a user leaves to nnf);
* ``mpi``: ``fit`` over the ranks of an MPI job (``nnf.parallel.mpi``; needs
  ``pip install 'nnf-framework[mpi]'``), each rank running its shard of every batch split
  over its share of the machine's cores as ``threads`` would (``mpi.rank_runtime``);
  ``predict``/``evaluate`` shard over the ranks only when given ``parallel="mpi"``
  by name (collective calls), each rank's shard on its share of the cores (the ``nnf``
  commands under ``mpiexec`` with more than one rank choose it by themselves).

A backend whose split does not pay (a small batch, a layer that is not
``samples_independent``, one usable CPU, BLAS threads nnf cannot limit) runs single. A model
that may not be split at all (a BatchNorm) runs single inside ``threads.parallel_section``:
BLAS on one thread, so that its layers' own blocks (a convolution's) get the threads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..layer import Layer
    from .single import Runtime

BACKENDS = ("auto", "single", "threads", "processes", "mpi")

# A worker process costs ~15 ms to start: worth it from ~64 steps of LeNet-5 size on.
MIN_PROCESS_SAMPLES = 4096  # samples per fit call below which parts run on threads


def backend_name(parallel: str | None = None) -> str:
    """``parallel`` if given, else ``NNF_PARALLEL``, else ``auto``; checked."""
    name = (parallel or os.environ.get("NNF_PARALLEL", "")).strip().lower() or "auto"
    if name not in BACKENDS:
        source = "parallel" if parallel else "NNF_PARALLEL"
        raise ConfigError(f"{source} must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name


def process_rank(parallel: str | None = None) -> int:
    """This process's rank in the job that ``parallel`` trains on (0 unless it is ``mpi``)."""
    if backend_name(parallel) != "mpi":
        return 0
    from .mpi import world

    return int(world().Get_rank())


@contextmanager
def runtime(
    layers: Sequence[Layer],
    batch_size: int,
    *,
    training: bool = False,
    samples: int = 0,
    parallel: str | None = None,
) -> Iterator[Runtime]:
    """The runtime for batches of up to ``batch_size`` through ``layers`` (execution order),
    closed on exit. ``samples``: how many samples the call runs through, over all its epochs
    for ``fit`` (worker processes pay for their start only over long runs)."""
    from .single import Runtime

    name = backend_name(parallel)
    if name == "mpi" and not training:
        name = "auto"  # a rank predicting on its own data; fit shards its validation itself
    if name == "mpi":
        from .mpi import rank_runtime

        with rank_runtime(layers, batch_size) as ranked:
            yield ranked
        return
    if name == "single":
        yield Runtime(layers)
        return
    from . import host, threads

    parts = host.split_parts(layers, batch_size)
    if parts < 2 and threads.thread_count() >= 2 and not host.splittable(layers):
        # The batch runs whole (e.g. a BatchNorm needs all of it), but its layers may still
        # split their own work over the threads (a convolution's sample blocks), with BLAS on
        # one thread as under the nnf command: the ResNet-style example trained 4-7x faster
        # this way than on OpenBLAS's own threads, on the loaded 2-core machine (benchmark job r).
        with threads.parallel_section():
            yield Runtime(layers)
        return
    if parts < 2:
        yield Runtime(layers)
        return
    # predict and evaluate too: two single-thread processes ran LeNet-5 inference 1.25-1.36x
    # the speed of two threads of one process, whose NumPy calls share the GIL
    # (benchmarks/ab_predict.py; suite job d 1.32x).
    processes = name in ("auto", "processes") and samples >= MIN_PROCESS_SAMPLES
    with threads.parallel_section() as usable:
        if usable < 2:
            yield Runtime(layers)
            return
        backend = host.split_runtime(layers, min(parts, usable), batch_size, processes)
        try:
            yield backend
        finally:
            backend.close()
            if backend.name == "processes":
                host.release_processes()
