"""The threads nnf computes on: how many, the shared pool, and who may use it when.

NumPy's matmul, copies and ufuncs release the GIL, so Python threads working on disjoint
parts of a batch run on separate cores. nnf splits work at two levels, never both at once:

* whole batches (the ``threads`` and ``processes`` backends of ``nnf.parallel``):
  ``predict`` and ``evaluate`` run parts of each chunk on twins of the layers on these
  threads; ``fit`` does the same with worker processes (``workers``) where it can, since
  training's many small calls made threads wait for the GIL;
* inside one layer call (``map_groups``): a convolution splits its sample blocks over the
  threads, for layer calls made outside those loops.

OpenBLAS's own threads fight ours for the cores (LeNet-5 training ran 2x slower with both),
so threads are used only while BLAS runs on one thread: when ``OPENBLAS_NUM_THREADS`` (else
``OMP_NUM_THREADS``) is 1, as the ``nnf`` command sets it, or inside ``parallel_section``,
which sets OpenBLAS to one thread for its duration when neither variable is set.

``NNF_NUM_THREADS`` sets the number of threads (read once); 1 turns all of this off.
Default: every CPU the process may run on (its affinity mask, so ``taskset`` and container
CPU sets count; and no more than its cgroup's CPU quota allows); how a batch uses them is
``host.core_split`` (benchmarks/README.md, "Every core").
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

from ..errors import ConfigError
from . import blas

T = TypeVar("T")

_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_local = threading.local()  # .busy: this thread runs one part of a parallel computation
_sections = 0  # open parallel_section blocks (BLAS limited by nnf while > 0)
_sections_lock = threading.Lock()
_saved_blas: list[tuple[object, int]] = []
_pool_lock = threading.Lock()  # creating, submitting to and stopping the pool


def thread_count() -> int:
    """Threads nnf may use: ``NNF_NUM_THREADS``, else ``default_count()``."""
    global _threads
    if _threads is None:
        raw = os.environ.get("NNF_NUM_THREADS", "").strip()
        if raw:
            if not raw.isdigit() or int(raw) < 1:
                raise ConfigError(f"NNF_NUM_THREADS must be a positive integer, got {raw!r}")
            _threads = int(raw)
        else:
            _threads = default_count(_usable_cpus())
    return _threads


def default_count(cpus: int) -> int:
    """nnf's threads on ``cpus`` usable CPUs without ``NNF_NUM_THREADS``: all of them (a
    batch split then takes as many as its size allows: ``host.core_split``)."""
    return max(1, cpus)


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset), else the count;
    fewer if its cgroup's CPU quota allows fewer (``cgroup_cpu_limit``)."""
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    return min(cpus, limit) if limit else cpus


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup", table: str = "/proc/self/cgroup") -> int | None:
    """The CPUs this process's cgroup quota allows, rounded up (``docker run --cpus 2``, a
    Kubernetes CPU limit), or None without a quota or where there are no cgroups (not Linux).

    A container's affinity mask still lists every CPU of the host, so without this nnf would
    start a part and BLAS threads per host CPU on a 2-CPU quota: 4 parts' BLAS threads on 2
    CPUs trained LeNet-5 10x slower here. cgroup v2 (``cpu.max``: "quota period" or "max
    period") and v1 (``cpu.cfs_quota_us``, -1 for none, and ``cpu.cfs_period_us``), looked
    up at the process's own cgroup path, then at the mount's root (a container's view).
    """
    try:
        with open(table, encoding="utf-8") as f:
            entries = [line.strip().split(":", 2) for line in f if line.count(":") >= 2]
    except OSError:
        return None
    limits = []
    for _, controllers, path in entries:
        if controllers == "":  # v2: the unified hierarchy
            dirs = [os.path.join(root, path.lstrip("/")), root]
            values = _read_first(dirs, "cpu.max")
            if values and len(values.split()) == 2 and values.split()[0] != "max":
                quota, period = values.split()
                limits.append(_cpus(quota, period))
        elif "cpu" in controllers.split(","):  # v1: the cpu controller's own mount
            mounts = [os.path.join(root, "cpu"), os.path.join(root, controllers)]
            dirs = [os.path.join(m, path.lstrip("/")) for m in mounts] + mounts
            cfs_quota = _read_first(dirs, "cpu.cfs_quota_us")
            cfs_period = _read_first(dirs, "cpu.cfs_period_us")
            if cfs_quota and cfs_period and cfs_quota != "-1":
                limits.append(_cpus(cfs_quota, cfs_period))
    found = [n for n in limits if n is not None]
    return min(found) if found else None


def _read_first(dirs: list[str], name: str) -> str | None:
    for d in dirs:
        try:
            with open(os.path.join(d, name), encoding="utf-8") as f:
                return f.read().strip()
        except OSError:
            continue
    return None


def _cpus(quota: str, period: str) -> int | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return max(1, -(-q // p)) if q > 0 and p > 0 else None


def _blas_env() -> str:
    return (
        os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or ""
    ).strip()


def available() -> int:
    """Threads the calling code may split work over now: 1 inside a part of a parallel
    computation, or while BLAS may run threads of its own; else ``thread_count()``."""
    if getattr(_local, "busy", False) or thread_count() < 2:
        return 1
    if _blas_env() == "1" or _sections > 0:
        return thread_count()
    return 1


@contextmanager
def parallel_section() -> Iterator[int]:
    """A block that may use ``available()`` threads; yields that number.

    With no BLAS thread setting in the environment, OpenBLAS is set to one thread inside the
    block (restored after the last open block ends), so the threads get the cores to
    themselves. If BLAS cannot be controlled this way, the block yields 1.
    """
    global _sections
    with _sections_lock:
        if _sections == 0 and thread_count() >= 2 and not _blas_env():
            _saved_blas[:] = blas.limit_threads(1)
        controlled = _sections > 0 or bool(_saved_blas) or _blas_env() == "1"
        if controlled:
            _sections += 1
    try:
        yield available() if controlled else 1
    finally:
        if controlled:
            with _sections_lock:
                _sections -= 1
                if _sections == 0 and _saved_blas:
                    blas.restore_threads(_saved_blas)
                    _saved_blas.clear()


def _reset() -> None:
    # A forked child inherits the pool object but not its threads (and maybe a lock another
    # thread held): start afresh there.
    global _threads, _pool, _sections, _sections_lock, _pool_lock
    _threads, _pool, _sections, _sections_lock = None, None, 0, threading.Lock()
    _pool_lock = threading.Lock()
    _saved_blas.clear()


os.register_at_fork(after_in_child=_reset)


def run_parts(fns: list[Callable[[], T]]) -> list[T]:
    """Call every function of ``fns``, the first on this thread and the others on the pool;
    results in the given order. Inside each call ``available()`` is 1 (no nested splits)."""
    global _pool
    if len(fns) == 1:
        return [_as_part(fns[0])]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(thread_count() - 1, 1), thread_name_prefix="nnf"
            )
        futures = [_pool.submit(_as_part, fn, True) for fn in fns[1:]]
    try:
        first = _as_part(fns[0], True)
    finally:
        wait(futures)  # even on an error: no part may still be writing after we return
    return [first, *(f.result() for f in futures)]


def native_threads() -> int | None:
    """This process's threads as the OS counts them (``/proc/self/task``: BLAS's and other
    native threads included, not only Python's); None where the OS does not say."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def single_threaded() -> bool:
    """Whether the calling thread is the only thread of the process, so that forking it is
    safe. Idle threads nnf may end are ended first, and start again when next needed: nnf's
    own pool, and OpenBLAS's (``blas.park_threads``, as OpenBLAS itself does at a fork); a
    host's threads are never touched. False where the threads cannot be counted."""
    global _pool
    if threading.active_count() - len(_pool._threads if _pool is not None else ()) > 1:
        return False  # another Python thread: a host's, which nnf must not fork under
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None
    if (native_threads() or 1) > 1:
        blas.park_threads()
    # A joined thread may linger in /proc for a moment after it has ended.
    deadline = time.monotonic() + 0.05
    while (count := native_threads()) is not None and count > 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    return count == 1


def _as_part(fn: Callable[[], T], shared: bool = False) -> T:
    outer = getattr(_local, "busy", False), getattr(_local, "shared", False)
    _local.busy, _local.shared = True, shared or outer[1]
    try:
        return fn()
    finally:
        _local.busy, _local.shared = outer


def in_shared_part() -> bool:
    """Whether the calling thread runs one of several parts that ``run_parts`` runs at once
    on this process's threads: they share its GIL, so kernels there may prefer fewer, larger
    calls (``kernels.convolution``'s inference blocks)."""
    return bool(getattr(_local, "shared", False))


def split(n: int, parts: int, step: int = 1) -> list[tuple[int, int]]:
    """``range(n)`` cut into at most ``parts`` contiguous ``(start, stop)`` ranges made of
    whole ``step``-sized blocks, as even as blocks allow (the last may be shorter)."""
    blocks = -(-n // step)
    parts = max(1, min(parts, blocks))
    per = -(-blocks // parts) * step
    return [(a, min(a + per, n)) for a in range(0, n, per)]


def map_groups(fn: Callable[[int, int, int], T], n: int, step: int) -> list[T]:
    """``[fn(group, start, stop), ...]`` over contiguous groups of ``range(n)``, in group order.

    The range is cut into whole ``step``-sized blocks dealt out to at most ``available()``
    groups. ``group`` lets ``fn`` pick its own scratch buffers: no two groups may share a
    mutable array. Results come back in group order, so sums over them are reproducible.
    """
    parts = available()
    if parts == 1 or n <= step:  # the common case inside a split batch: no pool, no closures
        return [fn(0, 0, n)]
    bounds = split(n, parts, step)
    return run_parts([partial(fn, g, a, b) for g, (a, b) in enumerate(bounds)])
