"""Safe to embed: library calls leave the process as they found it (allocator thresholds,
BLAS thread counts) and never fork a process that has other threads alive."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from nnf import Sequential, parallel
from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax
from nnf.parallel import blas, threads

LINUX = sys.platform.startswith("linux")

# Train and predict in a library call, then free 192 MiB of 8 MiB arrays: with glibc's own
# thresholds the memory goes back to the system; after nnf's tuning it stays in the process.
FREED_MEMORY = textwrap.dedent(
    """
    import numpy as np, nnf
    from nnf.layers import Dense, Softmax

    def rss():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) // 1024

    x = np.random.default_rng(0).standard_normal((512, 20)).astype(np.float32)
    model = nnf.Sequential([Dense(output_size=3), Softmax()], input_shape=(20,))
    model.fit(x, np.arange(512) % 3, epochs=1, batch_size=64, seed=0, verbose=0,
              loss="categorical_crossentropy")
    model.predict(x)
    before = rss()
    arrays = [np.ones(2**20) for _ in range(24)]  # 24 x 8 MiB
    del arrays
    print(rss() - before)
    """
)


def _kept_after_free(**env: str) -> int:
    run = subprocess.run(
        [sys.executable, "-c", FREED_MEMORY],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return int(run.stdout.strip())


@pytest.mark.skipif(not LINUX, reason="glibc's allocator thresholds")
def test_fit_and_predict_leave_the_allocator_thresholds_alone():
    kept = _kept_after_free(NNF_MALLOC_TUNING="")
    assert kept < 48, f"{kept} MiB of freed arrays stayed in the process"
    # The opt-in does tune (this is what the check above would see if a library call did)
    assert _kept_after_free(NNF_MALLOC_TUNING="1") > 150


def test_allocator_tuning_is_made_by_the_command_or_on_request():
    code = (
        "from nnf.parallel import allocator; print(allocator.tune_if_opted_in(), allocator.tune())"
    )
    for setting, expected in [
        ("", ["False", "True"]),
        ("1", ["True", "True"]),
        ("0", ["False"] * 2),
    ]:
        env = {**os.environ, "NNF_MALLOC_TUNING": setting}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if not LINUX:
            expected = ["False", "False"]
        assert run.stdout.split() == expected, (setting, run.stderr)


def _lenet(seed: int = 0) -> Sequential:
    model = Sequential(
        [
            Convolutional(kernel_size=5, depth=6, padding="same"),
            ReLU(),
            MaxPool2D(),
            Flatten(),
            Dense(output_size=10),
            Softmax(),
        ],
        input_shape=(1, 12, 12),
    )
    return model.build(seed=seed)


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 1, 12, 12)).astype(np.float32), rng.integers(0, 10, n)


@pytest.fixture(params=["threadpoolctl", "own"])
def blas_path(request, monkeypatch):
    """BLAS threads set through threadpoolctl (the ``blas`` extra), or nnf's own ctypes calls
    to OpenBLAS (without the extra)."""
    if request.param == "own":
        monkeypatch.setattr(blas, "_controller_pid", os.getpid())
        monkeypatch.setattr(blas, "_controller", None)
    else:
        pytest.importorskip("threadpoolctl")  # nnf-framework[blas]
        monkeypatch.setattr(blas, "_controller_pid", 0)  # scan the libraries afresh
        if blas._threadpoolctl() is None:
            pytest.skip("threadpoolctl finds no BLAS here")
    if not blas.thread_counts():
        pytest.skip("no BLAS whose threads this path can set")
    return request.param


def test_fit_and_predict_restore_the_blas_thread_counts(monkeypatch, blas_path):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_threads", 2)
    saved = blas.limit_threads(3)  # a known starting point other than nnf's 1
    try:
        seen: list[list[int]] = []

        class Watch:
            def on_batch_end(self, batch, num_batches, logs):
                seen.append(blas.thread_counts())

        x, y = _data(256)
        model = _lenet()
        model.fit(
            x,
            y,
            epochs=1,
            batch_size=64,
            verbose=0,
            callbacks=[Watch()],
            loss="categorical_crossentropy",
        )
        assert seen and all(counts == [1] * len(saved) for counts in seen)  # scoped: inside
        assert blas.thread_counts() == [3] * len(saved)  # restored after
        model.predict(x, batch_size=64)
        assert blas.thread_counts() == [3] * len(saved)
    finally:
        blas.restore_threads(saved)


def test_fit_never_forks_while_another_thread_is_alive(monkeypatch):
    forks: list[int] = []
    real_fork = os.fork

    def watched_fork() -> int:
        forks.append(threading.active_count())
        return real_fork()

    monkeypatch.setattr(os, "fork", watched_fork)
    monkeypatch.setattr(threads, "_threads", 2)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    stop = threading.Event()
    host = threading.Thread(target=stop.wait, name="host-thread")  # a web server's, say
    host.start()
    try:
        x, y = _data(8192)
        model = _lenet()
        model.fit(x, y, epochs=1, batch_size=64, verbose=0, loss="categorical_crossentropy")
    finally:
        stop.set()
        host.join()
    assert forks == []
    assert np.isfinite(model.evaluate(x[:256], y[:256])["loss"])


FORK_CHECK = textwrap.dedent(
    """
    import os, threading
    import numpy as np, nnf
    from nnf.parallel import blas, threads
    from nnf.layers import Dense, Softmax
    forks = []
    real_fork = os.fork
    def watched():
        forks.append(threads.native_threads())
        return real_fork()
    os.fork = watched
    x = np.random.default_rng(0).standard_normal((8192, 40)).astype(np.float32)
    # a dense net splits in parts of host.WORK_PER_WEIGHT (64) samples or more: batch 128
    model = nnf.Sequential([Dense(output_size=10), Softmax()], input_shape=(40,))
    model.predict(x, parallel="threads")  # starts nnf's pool thread: fit stops it first
    model.fit(x, np.arange(8192) % 10, epochs=1, batch_size=128, seed=0, verbose=0,
              loss="categorical_crossentropy")
    print(forks)
    print(blas.park_threads())  # whether nnf could end OpenBLAS's idle threads
    """
)


@pytest.mark.skipif(not LINUX or (os.cpu_count() or 1) < 2, reason="worker processes: Linux")
@pytest.mark.parametrize("blas_threads", ["1", ""])
def test_a_single_threaded_process_still_uses_worker_processes(blas_threads):
    """The check is not "never fork": a plain script's process, whose only other threads
    are nnf's idle pool and OpenBLAS's idle ones (both ended first, as OpenBLAS itself does at
    a fork), forks its workers from a single thread; so does the ``nnf`` command's. An
    OpenBLAS that does not export ``blas_thread_shutdown_`` (NumPy 2.5's) keeps its idle
    threads, so with its default thread count nnf must not fork: it trains on threads."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": blas_threads, "NNF_NUM_THREADS": "2"}
    env.pop("NNF_PARALLEL", None)
    run = subprocess.run(
        [sys.executable, "-c", FORK_CHECK], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    forks, parkable = run.stdout.split("\n")[:2]
    expected = "[1]" if blas_threads == "1" or parkable == "True" else "[]"
    assert forks == expected, run.stdout


NATIVE_THREAD = textwrap.dedent(
    """
    import ctypes, os
    import numpy as np, nnf
    from nnf.layers import Dense, Softmax
    forks = []
    os.fork = lambda: forks.append(1) or 1 / 0
    libc = ctypes.CDLL(None)  # a thread Python knows nothing of, as a C library starts one
    tid = ctypes.c_ulong()
    sleep = ctypes.cast(libc.sleep, ctypes.c_void_p)
    assert libc.pthread_create(ctypes.byref(tid), None, sleep, ctypes.c_void_p(60)) == 0
    x = np.random.default_rng(0).standard_normal((8192, 40)).astype(np.float32)
    model = nnf.Sequential([Dense(output_size=10), Softmax()], input_shape=(40,))
    model.fit(x, np.arange(8192) % 10, epochs=1, batch_size=128, seed=0, verbose=0,
              loss="categorical_crossentropy")
    print(forks)
    os._exit(0)  # the sleeping C thread would keep the process alive
    """
)


@pytest.mark.skipif(not LINUX, reason="pthreads and /proc")
def test_fit_never_forks_while_a_native_thread_is_alive():
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NNF_NUM_THREADS": "2"}
    run = subprocess.run(
        [sys.executable, "-c", NATIVE_THREAD], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_the_native_thread_count_sees_non_python_threads():
    if threads.native_threads() is None:
        pytest.skip("no /proc/self/task here")
    before = threads.native_threads()
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert threads.native_threads() == before + 1
        assert not threads.single_threaded()
    finally:
        stop.set()
        t.join()


def test_min_process_samples_is_what_the_fork_test_trains_on():
    assert parallel.MIN_PROCESS_SAMPLES <= 8192  # the test above would otherwise prove nothing
