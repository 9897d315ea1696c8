"""Keep freed array memory in the process for the next batch instead of returning it (glibc).

A training step allocates and frees the same few-hundred-KB arrays every batch. glibc serves
them with fresh ``mmap`` pages or trims them off the heap after each ``free``, so every batch
page-faults its arrays in again: a first write into a new 600 KB array took 300 us here, its
arithmetic 30 us; tuning these two thresholds made LeNet-5 training 1.2x faster
(benchmarks/README.md). The peak memory is unchanged; memory freed after the peak is kept for
reuse (up to the trim threshold) rather than given back.

glibc has no way to read the thresholds back or to return to its adaptive defaults, so the
tuning lasts as long as the process: a library call never makes it. It is made where nnf owns
the process (the ``nnf`` command, at start) or when the program asks for it: ``tune()``, or
``NNF_MALLOC_TUNING=1`` in the environment, which makes ``fit``/``predict`` call it.
``NNF_MALLOC_TUNING=0`` turns it off everywhere, the ``nnf`` command included. Skipped when the
user set glibc's own ``MALLOC_*_THRESHOLD_`` variables, and off glibc.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum: arrays up to this come from the heap
TRIM_THRESHOLD = 256 * 2**20  # free memory kept at the heap top before trimming

_done = False


def _setting() -> str:
    return os.environ.get("NNF_MALLOC_TUNING", "").strip()


def opted_in() -> bool:
    """Whether the environment asks library calls to tune it (``NNF_MALLOC_TUNING=1``)."""
    return _setting() == "1"


def tune() -> bool:
    """Raise glibc's mmap and trim thresholds, for the rest of the process; returns whether
    they are now raised. Call it only in a program that owns its process."""
    global _done
    if _done:
        return True
    if _setting() == "0":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; setting either also stops glibc's dynamic threshold
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _done


def tune_if_opted_in() -> bool:
    """What ``fit``/``predict`` call: ``tune()`` only under ``NNF_MALLOC_TUNING=1``."""
    return tune() if opted_in() else _done
