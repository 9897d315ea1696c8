"""Data parallelism in worker processes: ``nnf.replicas`` without the GIL (Linux, fork).

Threads contend for the GIL at every NumPy call: two halves of a LeNet-5 batch took
1.33-1.55x the time of one half alone on two threads, 1.08-1.30x with one half in a worker
process (``benchmarks/split_overhead.py``; the rest is the two cores sharing caches).
So where ``fork`` is safe, ``data_parallel`` runs parts 1.. of each batch in forked workers:

* the model's parameters move into shared memory for the duration (values copied back into
  the original arrays at the end, so references held by the caller stay valid); an optimizer
  step in the parent is seen by every worker, as it updates them in place;
* each worker holds twins of the layers (``Layer.replica``), with gradients in shared memory
  that the parent adds into the model's and zeroes, in part order (reproducible);
* inputs, outputs and output gradients of each part pass through shared buffers; a pipe per
  direction carries one small command or reply per step.

A worker never returns into the caller's code: it leaves with ``os._exit`` when told to,
when the parent closes its pipe, or if the parent dies. Errors in a worker come back as a
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
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import threads
from .errors import TrainingError
from .layer import Layer

_COMMAND = struct.Struct("<BqqQQ")  # op, n, flag / start, seed, epoch
_FORWARD, _BACKWARD, _RESEED, _STOP = 1, 2, 3, 4
_ALIGN = 64


def fork_available() -> bool:
    """Whether worker processes can be used here: Linux with ``os.fork``, not in a worker."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and not _in_worker


_in_worker = False


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


class _Worker:
    """The parent's handle on one worker: its pid, pipes and shared buffers."""

    def __init__(self, pid: int, commands: int, replies: int, buffers: dict[str, Any]) -> None:
        self.pid, self.commands, self.replies = pid, commands, replies
        self.x, self.out, self.grad = buffers["x"], buffers["out"], buffers["grad"]
        self.grads: list[dict[str, np.ndarray]] = buffers["grads"]
        self.memory = buffers["memory"]  # keeps the shared mapping alive
        self.busy = False

    def send(self, op: int, n: int = 0, flag: int = 0, seed: int = 0, epoch: int = 0) -> None:
        os.write(self.commands, _COMMAND.pack(op, n, flag, seed, epoch))
        self.busy = True

    def wait(self) -> None:
        """Block until the worker finishes its command; raise its error, if any."""
        if not self.busy:
            return
        self.busy = False
        reply = _read_exact(self.replies, 1, PARENT_SPIN)
        if reply == b"k":
            return
        if reply == b"e":
            (size,) = struct.unpack("<I", _read_exact(self.replies, 4))
            message = _read_exact(self.replies, size).decode("utf-8", "replace")
            raise TrainingError(f"a worker process failed: {message}")
        raise TrainingError("a worker process died; set NNF_PARALLEL=threads to train without")


# Seconds to poll a pipe before sleeping on it. A process asleep in read() is woken late on
# a VM (tens of µs per wake-up, two per step); polling through the short gaps of a training
# step (the worker between commands, the parent for the worker's reply) avoids that.
WORKER_SPIN = 0.005
PARENT_SPIN = 0.05


def _read_exact(fd: int, size: int, spin: float = 0.0) -> bytes:
    """``size`` bytes from pipe ``fd`` (fewer at end of file); polls for ``spin`` seconds
    before blocking. ``fd`` must be non-blocking."""
    data = b""
    deadline = time.perf_counter() + spin
    while len(data) < size:
        try:
            chunk = os.read(fd, size - len(data))
        except BlockingIOError:
            if time.perf_counter() > deadline:
                select.select([fd], [], [])
            continue
        if not chunk:
            return data
        data += chunk
    return data


class ProcessReplicas:
    """Parts 1.. of each batch in forked workers, part 0 on the model's own layers.

    Same interface as ``nnf.replicas.Replicas``; ``close()`` ends the workers and puts the
    parameters back into their original arrays.
    """

    def __init__(
        self, layers: Sequence[Layer], parts: int, max_batch: int, min_part: int = 1
    ) -> None:
        self.layers = list(layers)
        self.min_part = min_part  # a batch smaller than two of these is not split
        self.bounds: list[tuple[int, int]] = []
        self._originals = [dict(layer.params) for layer in self.layers]
        params = [(k, p) for layer in self.layers for k, p in layer.params.items()]
        shared = _Shared([(p.shape, p.dtype) for _, p in params])
        it = iter(shared.arrays)
        for layer in self.layers:
            for k, p in list(layer.params.items()):
                s = next(it)
                s[...] = p
                layer.params[k] = s
        self._params_memory = shared
        part = -(-max_batch // parts)
        first, last = self.layers[0], self.layers[-1]
        dtype = first.dtype
        self.workers: list[_Worker] = []
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            grads_specs = [
                (g.shape, g.dtype) for layer in self.layers for g in layer.grads.values()
            ]
            for index in range(1, parts):
                specs = [
                    ((part, *(first.in_shape or ())), dtype),
                    ((part, *(last.out_shape or ())), dtype),
                    ((part, *(last.out_shape or ())), dtype),
                    *grads_specs,
                ]
                mem = _Shared(specs)
                arrays = iter(mem.arrays[3:])
                grads = [{k: next(arrays) for k in layer.grads} for layer in self.layers]
                buffers = {
                    "x": mem.arrays[0],
                    "out": mem.arrays[1],
                    "grad": mem.arrays[2],
                    "grads": grads,
                    "memory": mem,
                }
                self.workers.append(self._start(index, buffers))
        except BaseException:
            self.close()
            raise

    @property
    def parts(self) -> int:
        return len(self.workers) + 1

    def _start(self, index: int, buffers: dict[str, Any]) -> _Worker:
        commands_r, commands_w = os.pipe()
        replies_r, replies_w = os.pipe()
        os.set_blocking(commands_r, False)  # read with polling (see _read_exact)
        os.set_blocking(replies_r, False)
        with warnings.catch_warnings():
            # Python >= 3.12 warns when forking with threads alive (nnf's idle pool may be):
            # the worker only runs NumPy on its own data and never touches those threads.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the worker: never returns
            status = 1
            try:
                os.close(commands_w)
                os.close(replies_r)
                for w in self.workers:  # the other workers' pipes are not ours
                    os.close(w.commands)
                    os.close(w.replies)
                _serve(self.layers, index, buffers, commands_r, replies_w)
                status = 0
            finally:
                os._exit(status)
        os.close(commands_r)
        os.close(replies_w)
        return _Worker(pid, commands_w, replies_r, buffers)

    def reseed(self, seed: int, epoch: int) -> None:
        for w in self.workers:
            w.send(_RESEED, seed=seed, epoch=epoch)
        for w in self.workers:
            w.wait()

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """The model's output for batch ``x``; parts 1.. computed by the workers meanwhile."""
        n = len(x)
        self.bounds = threads.split(n, self.parts if n >= 2 * self.min_part else 1)
        flag = self.layers[0].needs_input_gradient
        for w, (a, b) in zip(self.workers, self.bounds[1:]):
            w.x[: b - a] = x[a:b]
            w.send(_FORWARD, b - a, int(training) | (int(flag) << 1))
        a, b = self.bounds[0]
        try:
            out = x[a:b]
            for layer in self.layers:
                out = layer.forward(out, training=training)
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
            grad = output_gradient[a:b]
            for layer in reversed(self.layers[:start]):
                grad = layer.backward(grad)
        finally:
            self._wait_all()
        for w in active:
            for layer, shared in zip(self.layers, w.grads):
                for k, g in shared.items():
                    layer.grads[k] += g
                    g.fill(0)

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
        """End the workers and move the parameters back into their original arrays."""
        for w in self.workers:
            for fd in (w.commands, w.replies):
                try:
                    os.close(fd)  # the worker reads EOF and exits
                except OSError:
                    pass
        for w in self.workers:
            _reap(w.pid)
        self.workers = []
        for layer, originals in zip(self.layers, self._originals):
            for k, original in originals.items():
                original[...] = layer.params[k]
                layer.params[k] = original


def _reap(pid: int) -> None:
    """Wait for a worker to exit (it does at EOF); kill it if it has not within 5 s."""
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
    layers: list[Layer], index: int, buffers: dict[str, Any], commands: int, replies: int
) -> None:
    """The worker's loop: run each command on twins of ``layers`` until told to stop."""
    global _in_worker
    _in_worker = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threads._local.busy = True  # no threads of its own inside a worker
    twins = [layer.replica() for layer in layers]
    for twin, shared in zip(twins, buffers["grads"]):
        for k, g in shared.items():
            g.fill(0)
            twin.grads[k] = g
    x, out_buf, grad_buf = buffers["x"], buffers["out"], buffers["grad"]
    while True:
        header = _read_exact(commands, _COMMAND.size, WORKER_SPIN)
        if len(header) < _COMMAND.size:
            return  # the parent closed the pipe (or died)
        op, n, flag, seed, epoch = _COMMAND.unpack(header)
        try:
            if op == _FORWARD:
                twins[0].needs_input_gradient = bool(flag & 2)
                out = x[:n]
                for twin in twins:
                    out = twin.forward(out, training=bool(flag & 1))
                out_buf[:n] = out
            elif op == _BACKWARD:
                grad = grad_buf[:n]
                for twin in reversed(twins[:flag]):
                    grad = twin.backward(grad)
            elif op == _RESEED:
                for i, twin in enumerate(twins):
                    twin.rng = np.random.default_rng([seed, epoch, 1, i, index])
            elif op == _STOP:
                return
            os.write(replies, b"k")
        except BaseException as exc:  # reported to the parent, which raises it
            message = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:8192]
            os.write(replies, b"e" + struct.pack("<I", len(message)) + message)
