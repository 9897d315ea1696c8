"""Run a layer's per-sample-block work on a few Python threads (the second core).

NumPy's matmul, copies and ufuncs release the GIL, so two threads working on disjoint sample
ranges of one batch run in parallel, where OpenBLAS's own threading gains little or loses on
the small per-block products (benchmarks/README.md, "Threads").

``NNF_NUM_THREADS`` sets the number of threads (read once, when first needed); ``1`` runs
everything on the calling thread. Default: ``min(2, os.cpu_count())`` when BLAS was told to
use one thread (``OPENBLAS_NUM_THREADS``, else ``OMP_NUM_THREADS``, is 1; the ``nnf`` CLI sets
it), else 1: OpenBLAS's own threads spin on the second core after each threaded product,
and two Python threads on top made LeNet-5 inference 5-17% slower, where with BLAS on one
thread they made it 1.2-1.4x faster (benchmarks/README.md, "Two threads inside the layers").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from nnf.errors import ConfigError

T = TypeVar("T")

_threads: int | None = None
_pool: ThreadPoolExecutor | None = None


def _blas_single_threaded() -> bool:
    raw = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or ""
    return raw.strip() == "1"


def thread_count() -> int:
    """Threads used by ``map_groups``: ``NNF_NUM_THREADS``, else the default above."""
    global _threads
    if _threads is None:
        raw = os.environ.get("NNF_NUM_THREADS", "").strip()
        if raw:
            if not raw.isdigit() or int(raw) < 1:
                raise ConfigError(f"NNF_NUM_THREADS must be a positive integer, got {raw!r}")
            _threads = int(raw)
        else:
            _threads = min(2, os.cpu_count() or 1) if _blas_single_threaded() else 1
    return _threads


def _reset() -> None:
    # A forked child inherits the pool object but not its threads: start afresh there.
    global _threads, _pool
    _threads, _pool = None, None


os.register_at_fork(after_in_child=_reset)


def map_groups(fn: Callable[[int, int, int], T], n: int, step: int) -> list[T]:
    """``[fn(group, start, stop), ...]`` over contiguous groups of ``range(n)``, in group order.

    The range is cut into whole ``step``-sized blocks dealt out to at most ``thread_count()``
    groups; group 0 runs on the calling thread, the others on a shared pool. ``group`` lets
    ``fn`` pick its own scratch buffers: no two groups may share a mutable array. Results
    come back in group order, so sums over them are the same from run to run.
    """
    global _pool
    blocks = -(-n // step)
    groups = min(thread_count(), blocks)
    if groups <= 1:
        return [fn(0, 0, n)]
    per = -(-blocks // groups) * step
    bounds = [(g, g * per, min((g + 1) * per, n)) for g in range(groups) if g * per < n]
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=thread_count() - 1, thread_name_prefix="nnf")
    futures = [_pool.submit(fn, *b) for b in bounds[1:]]
    try:
        first = fn(*bounds[0])
    finally:
        wait(futures)  # even on an error: no group may still be writing after we return
    return [first, *(f.result() for f in futures)]
