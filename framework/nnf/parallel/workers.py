"""Data parallelism in worker processes: ``replicas`` without the GIL (Linux, fork).

Threads contend for the GIL at every NumPy call: two halves of a LeNet-5 batch took
1.33-1.55x the time of one half alone on two threads, 1.08-1.30x with one half in a worker
process (``benchmarks/split_overhead.py``; the rest is the two cores sharing caches). So where
``fork`` is available and safe (no other thread alive: ``host.claim_processes``), ``fit``
runs parts 1.. of each batch in forked workers:

* the parent keeps its own arrays; before every forward it copies the layers' current
  ``params`` and ``state`` into shared memory, which the workers' layers use (so optimizer
  steps, restores and edits made between batches all reach the workers);
* each worker holds twins of the layers (``Layer.replica``), built after its layers were
  pointed at the shared arrays, with gradients in shared memory that the parent adds into the
  model's in part order (reproducible) and the worker zeroes before its next backward;
* inputs, outputs and output gradients of each part pass through shared buffers; a pipe per
  direction carries one small command or reply at a time.

A worker never returns into the caller's code: it leaves with ``os._exit`` when the parent
closes its pipe, or dies with the parent. Its errors, start-up included, come back as a
``TrainingError`` naming the cause.
"""

from __future__ import annotations

import mmap
import os
import select
import signal
import struct
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from ..errors import TrainingError
from ..layer import Layer, Shape, backward_chain
from . import blas, threads
from .plan import output_shape
from .single import Runtime

T = TypeVar("T")

_COMMAND = struct.Struct("<BqqI")  # op, n (samples or epoch), flag (mode bits or start), payload
_FORWARD, _BACKWARD, _RESEED = 1, 2, 3
_OK, _ERROR = b"k", b"e"
_ALIGN = 64

# Seconds to poll a pipe before sleeping on it. A process asleep in read() is woken late on
# a VM (tens of µs per wake-up, two per step); polling through the short gaps of a training
# step (the worker between commands, the parent for the worker's reply) avoids that.
WORKER_SPIN = 0.002
PARENT_SPIN = 0.01

_in_worker = False
_worker_fds: set[int] = set()  # pipe ends this process holds for its workers


def fork_available() -> bool:
    """Whether worker processes can be used here: Linux with ``os.fork``, not in a worker."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and not _in_worker


def _padded_size(shape: tuple[int, ...], dtype: np.dtype) -> int:
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return -(-nbytes // _ALIGN) * _ALIGN


class _Shared:
    """Arrays carved out of one anonymous shared mapping (inherited by forked children)."""

    def __init__(self, specs: list[tuple[tuple[int, ...], np.dtype]]) -> None:
        sizes = [_padded_size(shape, dtype) for shape, dtype in specs]
        self._map = mmap.mmap(-1, max(sum(sizes), _ALIGN))
        self.arrays: list[np.ndarray] = []
        offset = 0
        for (shape, dtype), size in zip(specs, sizes):
            count = int(np.prod(shape, dtype=np.int64))
            a = np.frombuffer(self._map, dtype=dtype, count=count, offset=offset).reshape(shape)
            self.arrays.append(a)
            offset += size


def _read_exact(fd: int, size: int, spin: float = 0.0) -> bytes:
    """``size`` bytes from non-blocking pipe ``fd`` (fewer at end of file); polls for
    ``spin`` seconds, then sleeps until data comes."""
    data = b""
    deadline = time.perf_counter() + spin
    poller: Any = None
    while len(data) < size:
        try:
            chunk = os.read(fd, size - len(data))
        except BlockingIOError:
            if time.perf_counter() < deadline:
                os.sched_yield()  # let another process have this CPU if it wants it
                continue
            if poller is None:
                poller = select.poll()  # no FD_SETSIZE limit, unlike select.select
                poller.register(fd, select.POLLIN)
            poller.poll()
            continue
        if not chunk:
            return data
        data += chunk
    return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _error_reply(exc: BaseException) -> bytes:
    message = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:8192]
    return _ERROR + struct.pack("<I", len(message)) + message


class _Worker:
    """The parent's handle on one worker: its pid, pipes and shared buffers."""

    def __init__(self, pid: int, commands: int, replies: int, io: dict[str, Any]) -> None:
        self.pid, self.commands, self.replies = pid, commands, replies
        self.x, self.out, self.grad = io["x"], io["out"], io["grad"]
        self.grads: list[dict[str, np.ndarray]] = io["grads"]
        self.memory = io["memory"]  # keeps the shared mapping alive
        self.busy = False

    def send(self, op: int, n: int = 0, flag: int = 0, payload: bytes = b"") -> None:
        try:
            _write_all(self.commands, _COMMAND.pack(op, n, flag, len(payload)) + payload)
        except OSError:  # EPIPE: it is gone
            raise TrainingError(_DIED) from None
        self.busy = True

    def wait(self) -> None:
        """Block until the worker finishes its command; raise its error, if any."""
        if not self.busy:
            return
        self.busy = False
        reply = _read_exact(self.replies, 1, PARENT_SPIN)
        if reply == _OK:
            return
        if reply == _ERROR:
            (size,) = struct.unpack("<I", _read_exact(self.replies, 4))
            message = _read_exact(self.replies, size).decode("utf-8", "replace")
            raise TrainingError(f"a worker process failed: {message}")
        raise TrainingError(_DIED)


_DIED = "a worker process died; set NNF_PARALLEL=threads to train without worker processes"


class ProcessReplicas(Runtime):
    """The ``processes`` backend: parts 1.. of each batch in forked workers, part 0 on the
    model's own layers; ``close()`` ends the workers."""

    name = "processes"

    def __init__(
        self,
        layers: Sequence[Layer],
        parts: int,
        max_batch: int,
        min_part: int = 1,
        blas_threads: int = 1,
    ) -> None:
        super().__init__(layers)
        self.min_part = min_part  # a batch smaller than two of these is not split
        # BLAS threads of every part (``host.blas_per_part``): each worker sets its own
        # OpenBLAS once; the parent only while it runs part 0 (a predict between steps, e.g.
        # validation, splits over threads that must find BLAS on one thread)
        self.blas_threads = blas_threads
        self.bounds: list[tuple[int, int]] = []
        self.workers: list[_Worker] = []
        # shared copies of every params/state array, refreshed by the parent before each forward
        tables = [(i, name) for i in range(len(self.layers)) for name in ("params", "state")]
        keys = [(i, name, k) for i, name in tables for k in getattr(self.layers[i], name)]
        arrays = [getattr(self.layers[i], name)[k] for i, name, k in keys]
        self._weights = _Shared([(a.shape, a.dtype) for a in arrays])
        self._sources = list(zip(keys, self._weights.arrays))
        self._publish()
        part = -(-max_batch // parts)
        first, out_shape = self.layers[0], output_shape(self.layers)
        for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written twice
            if stream is not None:
                stream.flush()
        try:
            for index in range(1, parts):
                self._start(index, part, first, out_shape)
        except BaseException:
            self.close()
            raise

    @property
    def parts(self) -> int:
        return len(self.workers) + 1

    def _publish(self) -> None:
        """Copy the layers' current parameters and state where the workers read them."""
        for (i, name, k), shared in self._sources:
            np.copyto(shared, getattr(self.layers[i], name)[k])

    def _start(self, index: int, part: int, first: Layer, out_shape: Shape | None) -> None:
        """Fork worker ``index`` and wait until it has built its twins."""
        dtype = first.dtype
        grads = [(g.shape, g.dtype) for layer in self.layers for g in layer.grads.values()]
        memory = _Shared(
            [
                ((part, *(first.in_shape or ())), dtype),
                ((part, *(out_shape or ())), dtype),
                ((part, *(out_shape or ())), dtype),
                *grads,
            ]
        )
        it = iter(memory.arrays[3:])
        io = {
            "x": memory.arrays[0],
            "out": memory.arrays[1],
            "grad": memory.arrays[2],
            "grads": [{k: next(it) for k in layer.grads} for layer in self.layers],
            "memory": memory,
        }
        commands_r, commands_w = os.pipe()
        replies_r, replies_w = os.pipe()
        os.set_blocking(commands_r, False)  # read with polling (see _read_exact)
        os.set_blocking(replies_r, False)
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            status = 1
            try:
                for fd in (commands_w, replies_r, *_worker_fds):  # not its to hold open
                    os.close(fd)
                _serve(
                    self.layers, self._sources, index, io, commands_r, replies_w, self.blas_threads
                )
                status = 0
            finally:
                os._exit(status)
        os.close(commands_r)
        os.close(replies_w)
        _worker_fds.update((commands_w, replies_r))
        worker = _Worker(pid, commands_w, replies_r, io)
        self.workers.append(worker)  # closed with the others if start-up fails
        worker.busy = True  # its first reply says whether it started
        worker.wait()

    def reseed(self, seed: int, epoch: int) -> None:
        """Give the workers' twins their random streams for the epoch (dropout masks)."""
        for w in self.workers:
            w.send(_RESEED, epoch, 0, str(seed).encode())
        self._wait_all()

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """The model's output for batch ``x``; parts 1.. computed by the workers meanwhile."""
        n = len(x)
        self.bounds = threads.split(n, self.parts if n >= 2 * self.min_part else 1)
        flag = int(training)
        if len(self.bounds) > 1:
            self._publish()
        for w, (a, b) in zip(self.workers, self.bounds[1:]):
            w.x[: b - a] = x[a:b]
            w.send(_FORWARD, b - a, flag)
        a, b = self.bounds[0]
        try:
            out = self._run_own_part(lambda: self._forward_part(x[a:b], training))
        finally:
            self._wait_all()
        if len(self.bounds) == 1:
            return out
        rest = [w.out[: b - a] for w, (a, b) in zip(self.workers, self.bounds[1:])]
        return np.concatenate([out, *rest])

    def backward(self, output_gradient: np.ndarray, start: int) -> None:
        """Back-propagate from before layer ``start``; the model's layers end up holding the
        whole batch's parameter gradients."""
        active = self.workers[: len(self.bounds) - 1]
        for w, (a, b) in zip(active, self.bounds[1:]):
            w.grad[: b - a] = output_gradient[a:b]
            w.send(_BACKWARD, b - a, start)
        a, b = self.bounds[0]
        try:
            self._run_own_part(lambda: self._backward_part(output_gradient[a:b], start))
        finally:
            self._wait_all()
        for w in active:
            for layer, shared in zip(self.layers, w.grads):
                for k, g in shared.items():
                    layer.grads[k] += g  # the worker zeroes them before its next backward

    def _run_own_part(self, fn: Callable[[], T]) -> T:
        """Run part 0 here: as one part of the split (no threads inside its layers, which
        would take the workers' cores) when the batch is split, as a plain call if not."""
        if len(self.bounds) == 1:
            return fn()
        if self.blas_threads < 2:
            return threads.run_parts([fn])[0]
        saved = blas.limit_threads(self.blas_threads)  # as many as each worker's part has
        try:
            return threads.run_parts([fn])[0]
        finally:
            blas.restore_threads(saved)

    def _forward_part(self, x: np.ndarray, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def _backward_part(self, grad: np.ndarray, start: int) -> None:
        backward_chain(self.layers[:start], grad)

    def _wait_all(self) -> None:
        error: BaseException | None = None
        for w in self.workers:
            try:
                w.wait()
            except TrainingError as exc:
                error = error or exc
        if error is not None:
            raise error

    def close(self) -> None:
        """End the workers: each reads end of file on its command pipe and exits."""
        for w in self.workers:
            for fd in (w.commands, w.replies):
                _worker_fds.discard(fd)
                try:
                    os.close(fd)
                except OSError:
                    pass
        for w in self.workers:
            _reap(w.pid)
        self.workers = []


def _reap(pid: int) -> None:
    """Wait for a worker to exit (it does at end of file); kill it if it has not within 5 s."""
    deadline = time.monotonic() + 5
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.001)


def _serve(
    layers: list[Layer],
    sources: list[tuple[tuple[int, str, str], np.ndarray]],
    index: int,
    io: dict[str, Any],
    commands: int,
    replies: int,
    blas_threads: int = 1,
) -> None:
    """The worker's loop: run each command on twins of ``layers`` until the pipe closes."""
    global _in_worker
    _in_worker = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threads._local.busy = True  # no threads of nnf's own inside a worker
    try:
        if blas_threads > 1:  # this process's own OpenBLAS pool: cores no other part uses
            blas.limit_threads(blas_threads)
        for (i, name, k), shared in sources:  # this process's layers read the shared copies
            getattr(layers[i], name)[k] = shared
        twins = [layer.replica() for layer in layers]
        for twin, shared_grads in zip(twins, io["grads"]):
            for k, g in shared_grads.items():
                g.fill(0)
                twin.grads[k] = g
    except BaseException as exc:
        _write_all(replies, _error_reply(exc))
        return
    _write_all(replies, _OK)
    x, out_buf, grad_buf = io["x"], io["out"], io["grad"]
    while True:
        header = _read_exact(commands, _COMMAND.size, WORKER_SPIN)
        if len(header) < _COMMAND.size:
            return  # the parent closed the pipe (or died)
        op, n, flag, size = _COMMAND.unpack(header)
        payload = _read_exact(commands, size) if size else b""
        try:
            if op == _FORWARD:
                out = x[:n]
                for twin in twins:
                    out = twin.forward(out, training=bool(flag & 1))
                out_buf[:n] = out
            elif op == _BACKWARD:
                for twin in twins:  # the parent has added last step's gradients by now
                    twin.zero_grad()
                backward_chain(twins[:flag], grad_buf[:n])
            elif op == _RESEED:
                seed = int(payload.decode())
                for i, twin in enumerate(twins):
                    twin.rng = np.random.default_rng([seed, n, 1, i, index])
            reply = _OK
        except BaseException as exc:  # reported to the parent, which raises it
            reply = _error_reply(exc)
        _write_all(replies, reply)
