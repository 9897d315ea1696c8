"""One side of one job, in its own process, driven by run.py over stdin/stdout (JSON lines).

    python benchmarks/worker.py JOB SIDE [--quick]

Requests: ``{"cmd": "run", "variant": {...}, "warmup": false, "children": false}`` and
``{"cmd": "quit"}``. Each run builds a fresh model (untimed), resets the kernel's peak-RSS
counter, then times the job's work and reports the seconds, the peak RSS during the work
(VmHWM after the reset; the process's ru_maxrss too) and the RSS the work started from: peak
memory per side and per run. With ``children``, child processes (nnf's training workers) are
sampled every 20 ms for their private memory (``Private_Clean + Private_Dirty`` of
/proc/PID/smaps_rollup: pages shared with this process are not counted twice) and the peak of
their sum is added to the peak RSS; run.py asks for that in untimed memory runs only (see
``Job.memory_run``), as the sampling slows the work it measures.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib() -> int:
    """Current resident set size in KiB."""
    return _status_kib("VmRSS")


def reset_peak() -> bool:
    """Reset the peak RSS (ru_maxrss / VmHWM) to the current RSS; Linux >= 4.0."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_kib(resettable: bool) -> int:
    """Peak RSS since the last reset: VmHWM, which clear_refs resets. ru_maxrss is not always
    reset with it (the kernel also keeps the peak recorded when any thread exited)."""
    if resettable:
        return max(_status_kib("VmHWM"), rss_kib())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _children_private_kib() -> int:
    """Private memory (KiB) of this process's child processes, summed."""
    total = 0
    try:
        pids = []
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                pids += f.read().split()
        for pid in pids:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith(("Private_Clean:", "Private_Dirty:")):
                        total += int(line.split()[1])
    except OSError:  # a child exited meanwhile, or no /proc: count what was read
        pass
    return total


class ChildMemory:
    """Samples the children's private memory on a thread while the work runs; ``peak``."""

    def __init__(self, interval: float = 0.02) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak = max(self.peak, _children_private_kib())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _cpu() -> tuple[float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def run_once(
    job: Any, side: str, setup: Any, params: dict[str, Any], children: bool = True
) -> dict[str, Any]:
    state = job.prepare(side, setup, params)
    gc.collect()
    resettable = reset_peak()
    start_rss = rss_kib()
    u0, s0, f0 = _cpu()
    sampler = ChildMemory() if children else None
    t0 = time.perf_counter()
    result = job.work(side, state, params)
    seconds = time.perf_counter() - t0
    children_kib = sampler.stop() if sampler is not None else 0
    u1, s1, f1 = _cpu()
    result.update(
        seconds=seconds,
        user=u1 - u0,
        sys=s1 - s0,
        minflt=f1 - f0,
        start_rss_kib=start_rss,
        peak_rss_kib=peak_kib(resettable) + children_kib,
        children_private_kib=children_kib,
        process_maxrss_kib=int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        peak_is_per_run=resettable,
        children_sampled=children,
    )
    del state
    gc.collect()
    return result


def main() -> None:
    job_name, side = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv[3:]
    # Replies go to the real stdout; anything the job prints goes to stderr.
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    out = os.fdopen(reply_fd, "w", buffering=1)

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")

    try:
        import jobs

        job = jobs.JOBS[job_name]
        t0 = time.perf_counter()
        setup = job.setup(side)
        base = job.params(quick)
        send({"ready": True, "setup_seconds": time.perf_counter() - t0, "rss_kib": rss_kib()})
    except Exception as exc:  # report why this side cannot run, then stop
        send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        traceback.print_exc()
        return

    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "quit":
            break
        params = {**base, **request.get("variant", {})}
        if request.get("warmup"):
            params = jobs.warmup_params(job, params)
        try:
            send(run_once(job, side, setup, params, bool(request.get("children", True))))
        except Exception as exc:
            traceback.print_exc()
            send({"error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    main()
