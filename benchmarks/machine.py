"""What the figures were measured on: CPU, BLAS kernel and threads, and the GEMM ceiling."""

from __future__ import annotations

import importlib.util
import os
import platform
import statistics
import time
from typing import Any

import numpy as np


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info() -> list[dict[str, Any]]:
    """NumPy's BLAS as threadpoolctl reports it (library, kernel, threads), if installed."""
    if importlib.util.find_spec("threadpoolctl") is None:
        cfg: Any = (
            np.show_config(mode="dicts") if np.lib.NumpyVersion(np.__version__) >= "1.26.0" else {}
        )
        blas = cfg.get("Build Dependencies", {}).get("blas", {}) if cfg else {}
        return [{"name": blas.get("name", "?"), "version": blas.get("version", "?")}]
    from threadpoolctl import threadpool_info

    return [
        {
            k: v
            for k, v in info.items()
            if k in ("internal_api", "version", "architecture", "num_threads")
        }
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]


def torch_available() -> bool:
    """Whether the torch reference can run (NNF_BENCH_NO_TORCH=1 pretends it cannot)."""
    if os.environ.get("NNF_BENCH_NO_TORCH"):
        return False
    return importlib.util.find_spec("torch") is not None


def describe() -> dict[str, Any]:
    torch_version = None
    if torch_available():
        from importlib.metadata import version

        torch_version = version("torch")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "torch": torch_version,
        "env": {
            k: os.environ[k]
            for k in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE",
                "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS",
            )
            if k in os.environ
        },
    }


def gemm_gflops(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """float32 ``n^3`` matrix product with NumPy: median and best GFLOP/s over ``repeats``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm-up: threads started, pages touched
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        rates.append(2 * n**3 / (time.perf_counter() - t) / 1e9)
    return {"median": statistics.median(rates), "best": max(rates)}


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def cpu_busy(interval: float = 0.25) -> float:
    """Fraction of the machine's CPU time that was busy during ``interval`` seconds."""
    try:
        b0, t0 = _cpu_times()
        time.sleep(interval)
        b1, t1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return 0.0
    return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def wait_until_idle(max_seconds: float, threshold: float = 0.2) -> float:
    """Sleep until other processes use less than ``threshold`` of the CPUs (or time runs out).

    Returns the last busy fraction seen. Our own workers are idle while this runs.
    """
    deadline = time.perf_counter() + max_seconds
    busy = cpu_busy()
    while busy > threshold and time.perf_counter() < deadline:
        time.sleep(0.5)
        busy = cpu_busy()
    return busy
