"""Set the thread count of the BLAS libraries already loaded (NumPy's, SciPy's) at run time.

The environment variables (``OPENBLAS_NUM_THREADS``) only work before NumPy is imported, so
nnf limits BLAS to one thread for the duration of its own parallel sections and restores the
previous counts after (``threads.parallel_section``). Two ways, best first:

* threadpoolctl, when installed (``pip install 'nnf-framework[blas]'``): OpenBLAS, MKL, BLIS
  and OpenMP-threaded BLAS builds on Linux, macOS and Windows, from the scikit-learn team;
* otherwise nnf's own ctypes calls to OpenBLAS's ``*_set_num_threads`` on Linux (the BLAS of
  the NumPy and SciPy wheels there), reading the loaded libraries from ``/proc/self/maps``.

Both only look at libraries the process has already loaded, never load one. Where neither
finds a BLAS it can set, ``limit_threads`` returns nothing and nnf splits no work over threads
(BLAS keeps its own threads), which is safe everywhere.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

# (set, get) symbol pairs of the OpenBLAS builds NumPy and SciPy wheels ship, and plain OpenBLAS
_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)

_libraries: dict[str, tuple[Any, Any] | None] = {}  # path -> (set, get), None if unusable


def _loaded_paths() -> list[str]:
    """Paths of the loaded shared libraries whose file name mentions OpenBLAS (Linux only)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            fields = [line.split(maxsplit=5) for line in maps]
    except OSError:
        return []
    paths = {f[5].strip() for f in fields if len(f) == 6}
    return sorted(p for p in paths if "openblas" in os.path.basename(p).lower())


def _find() -> list[tuple[Any, Any]]:
    """(set, get) functions of every OpenBLAS loaded now; libraries loaded since the last
    call (SciPy's, say) are picked up."""
    mode = getattr(os, "RTLD_NOLOAD", 0) | getattr(os, "RTLD_LAZY", 0)
    for path in _loaded_paths():
        if path in _libraries:
            continue
        _libraries[path] = None
        try:
            lib = ctypes.CDLL(path, mode=mode)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                _libraries[path] = (setter, getter)
                break
    return [functions for functions in _libraries.values() if functions is not None]


def park_threads() -> bool:
    """End the idle worker threads of every loaded OpenBLAS; it starts them again by itself
    at its next multi-threaded call. Returns whether there was an OpenBLAS to ask.

    This is what OpenBLAS's own ``pthread_atfork`` handler does before every fork; nnf calls it
    before counting the process's threads (``threads.single_threaded``), and only when no other
    Python thread runs, so a plain script's process, whose only other threads are OpenBLAS's
    idle ones, may fork its workers safely.
    """
    mode = getattr(os, "RTLD_NOLOAD", 0) | getattr(os, "RTLD_LAZY", 0)
    found = False
    for path in _loaded_paths():
        try:
            shutdown = ctypes.CDLL(path, mode=mode).blas_thread_shutdown_
        except (OSError, AttributeError):
            continue
        shutdown.argtypes, shutdown.restype = [], ctypes.c_int
        shutdown()
        found = True
    return found


_controller: Any = None  # threadpoolctl.ThreadpoolController, made once per process
_controller_pid = 0


def _threadpoolctl() -> Any:
    """A cached threadpoolctl controller of the loaded BLAS libraries, or None without
    threadpoolctl (or when it finds no BLAS). Scanning the libraries costs milliseconds, so it
    is done once per process; a BLAS loaded later is found by the ctypes path only."""
    global _controller, _controller_pid
    if _controller_pid != os.getpid():
        _controller_pid = os.getpid()
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = None
        else:
            blas = ThreadpoolController().select(user_api="blas")
            _controller = blas if len(blas.lib_controllers) else None
    return _controller


def limit_threads(n: int) -> list[tuple[Any, int]]:
    """Set every loaded BLAS to ``n`` threads; returns what ``restore_threads`` needs (empty
    when no BLAS could be set)."""
    controller = _threadpoolctl()
    if controller is not None:
        saved = [(lib, int(lib.num_threads)) for lib in controller.lib_controllers]
        for lib, _ in saved:
            lib.set_num_threads(n)
        return saved
    saved = []
    for setter, getter in _find():
        saved.append((setter, int(getter())))
        setter(n)
    return saved


def restore_threads(saved: list[tuple[Any, int]]) -> None:
    """Undo ``limit_threads``."""
    for target, count in saved:
        setter = getattr(target, "set_num_threads", target)  # threadpoolctl's, or a ctypes one
        setter(count)


def thread_counts() -> list[int]:
    """The current thread count of each loaded BLAS (for tests and reports)."""
    controller = _threadpoolctl()
    if controller is not None:
        return [int(lib.num_threads) for lib in controller.lib_controllers]
    return [int(getter()) for _, getter in _find()]
