"""Per-thread work buffers: scratch arrays reused between calls, never shared by two threads.

Fresh large arrays cost page faults on every batch, so fast kernels keep their scratch space
between calls; keeping it on a layer object made two threads that share the layer write into
each other's buffers. A ``Workspace`` holds one set of buffers per thread instead:

    workspace = Workspace()                 # e.g. owned by a kernel's plan object
    cols = workspace.array("cols", (16, 9, 676), np.float32)

``scratch`` is a process-wide one for buffers whose content is not kept between calls.
A thread's buffers are freed when the thread ends (or the workspace is dropped).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["Workspace", "scratch"]


class Workspace(threading.local):
    """Named arrays, one set per thread."""

    def __init__(self) -> None:
        self.arrays: dict[Any, np.ndarray] = {}

    def array(self, name: Any, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """The calling thread's buffer ``name`` with this shape and dtype, zero-filled when it
        is created (a kernel may rely on parts it never writes staying zero). One buffer per
        name: a call with another shape replaces it, so put the shape in the name of a buffer
        used at several sizes in turn (``scratch`` is shared by every layer of a thread)."""
        buf = self.arrays.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self.arrays[name] = np.zeros(shape, dtype=dtype)
        return buf

    def clear(self) -> None:
        """Free the calling thread's buffers."""
        self.arrays.clear()


scratch = Workspace()
