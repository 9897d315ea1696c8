"""Set the thread count of the OpenBLAS libraries already loaded (NumPy's, SciPy's) at run time.

The environment variables (``OPENBLAS_NUM_THREADS``) only work before NumPy is imported; this
calls OpenBLAS's own ``*_set_num_threads`` through ctypes, as threadpoolctl does, without the
dependency. It only looks at libraries the process has already loaded (``RTLD_NOLOAD``), never
loads one, and does nothing where it finds none (other BLAS builds, other systems).
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


def limit_threads(n: int) -> list[tuple[Any, int]]:
    """Set every loaded OpenBLAS to ``n`` threads; returns what ``restore_threads`` needs
    (empty when no OpenBLAS was found)."""
    saved = []
    for setter, getter in _find():
        saved.append((setter, int(getter())))
        setter(n)
    return saved


def restore_threads(saved: list[tuple[Any, int]]) -> None:
    """Undo ``limit_threads``."""
    for setter, count in saved:
        setter(count)


def thread_counts() -> list[int]:
    """The current thread count of each loaded OpenBLAS (for tests and reports)."""
    return [int(getter()) for _, getter in _find()]
