"""The MPI backend: data-parallel training over processes on one or several machines.

Launched as ``mpiexec -n N nnf train ...`` (or a script calling ``fit(..., parallel="mpi")``),
every rank runs the same training loop on the same data and seed. Each global batch is cut
into N disjoint shards (``shard``: sizes differ by at most one sample); each rank runs its
shard forward and backward with the loss gradient scaled by its share of the batch, and one
buffer-based ``Allreduce`` per step sums the gradients (and the batch's loss) over the ranks
in a single contiguous float buffer. Every rank then applies the same optimizer step to the
same sums, so the weights stay equal everywhere; ``end_epoch`` compares a checksum of
them across ranks once per epoch. Initial weights come from rank 0 (``broadcast_weights``).

A layer that is not ``samples_independent`` (BatchNorm) sees only its rank's shard: its
batch statistics are per rank, as in Horovod or PyTorch's DDP without synchronised batch
norm. What it keeps in ``state`` (running averages) is averaged over the ranks at the end
of every epoch (``end_epoch``), so that all ranks validate, save and predict alike.

``predict_shards`` (``predict``/``evaluate`` with ``parallel="mpi"``) cuts the samples the
same way and gathers every rank's outputs on every rank. Every collective goes through the
process's ``nnf.parallel.mpi_job.Job``, so that a rank that fails ends the others' calls
with ``RankFailedError`` instead of leaving them waiting (``collective`` guards one call).

``mpi4py`` is imported only when this backend runs (importing ``mpi4py.MPI`` initialises
MPI, ~1 s): the helpers that read the launcher's environment (``launched_size``,
``launched_rank``) import nothing.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, TrainingError
from ..layer import Layer
from .launcher import (  # noqa: F401  (nnf.parallel.mpi.launched_size etc. stay importable)
    RANK_VARIABLES,
    SIZE_VARIABLES,
    launched_backend,
    launched_rank,
    launched_size,
)
from .single import Runtime

if TYPE_CHECKING:
    from ..model import Sequential

INSTALL_HINT = "pip install 'nnf-framework[mpi]'"


def world() -> Any:
    """``MPI.COMM_WORLD``, importing mpi4py (and so initialising MPI) on first use."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ConfigError(
            f"parallel='mpi' needs mpi4py and an MPI library ({error}); install them with "
            f"{INSTALL_HINT}"
        ) from None
    return MPI.COMM_WORLD


def shard_bounds(n: int, rank: int, ranks: int) -> tuple[int, int]:
    """``(start, stop)`` of rank ``rank``'s shard of ``n`` samples cut into ``ranks``
    contiguous shards whose sizes differ by at most one (the first ``n % ranks`` get one
    more)."""
    base, extra = divmod(n, ranks)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def _parameters(layers: Sequence[Layer]) -> list[tuple[Layer, str]]:
    """Every (layer, parameter name), in a fixed order all ranks share."""
    return [(layer, name) for layer in layers for name in sorted(layer.params)]


class MPIRuntime(Runtime):
    """The ``mpi`` backend: this rank's shard of every batch runs through ``layers`` (in one
    piece); ``sum_gradients`` adds the gradients of all ranks. Its collectives go through
    ``job`` (``nnf.parallel.mpi_job.Job``, or one made over an ``MPI.Comm`` passed instead;
    default: the process's job over ``COMM_WORLD``): they end with RankFailedError, never
    hang, if a rank fails."""

    name = "mpi"

    def __init__(
        self, layers: Sequence[Layer], job: Any | None = None, inner: Runtime | None = None
    ) -> None:
        super().__init__(layers)
        self.inner = inner  # runs the rank's shard split over this machine's cores, if given
        # How this rank predicts its shard of the validation data (``nnf.parallel`` name):
        # "single" when it has no threads to spare (as many ranks as cores on its machine).
        self.local_parallel: str | None = None
        if job is None:
            from .mpi_job import job as current

            job = current()
        elif hasattr(job, "Iallreduce"):  # an MPI communicator: a job of its ranks
            from .mpi_job import Job

            job = Job(job)
        self.job = job
        self.rank = int(job.rank)
        self.ranks = int(job.ranks)
        self.entries = _parameters(self.layers)
        dtypes = {layer.params[key].dtype for layer, key in self.entries}
        if len(dtypes) > 1:
            raise ConfigError(
                f"parallel='mpi' sums every gradient in one buffer and needs a single dtype; "
                f"the model mixes {sorted(str(d) for d in dtypes)}"
            )
        self.dtype = np.dtype(dtypes.pop() if dtypes else np.float64)
        sizes = [layer.params[key].size for layer, key in self.entries]
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(int)
        # The fused buffer: every gradient, then the batch's summed loss (one Allreduce).
        self.buffer = np.empty(int(self.offsets[-1]) + 1, dtype=self.dtype)
        self.summed = np.empty_like(self.buffer)

    def shard(self, n: int) -> tuple[int, int]:
        return shard_bounds(n, self.rank, self.ranks)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        return (
            super().forward(x, training) if self.inner is None else self.inner.forward(x, training)
        )

    def backward(self, output_gradient: np.ndarray, start: int) -> None:
        if self.inner is None:
            super().backward(output_gradient, start)
        else:
            self.inner.backward(output_gradient, start)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()

    def sum_gradients(self, loss_total: float) -> float:
        """One ``Allreduce`` of every layer's gradients and ``loss_total``; the layers then
        hold the sums, which are returned for the loss."""
        buffer, offsets = self.buffer, self.offsets
        for i, (layer, key) in enumerate(self.entries):
            buffer[offsets[i] : offsets[i + 1]] = layer.grads[key].reshape(-1)
        buffer[-1] = loss_total
        self.job.allreduce(buffer, self.summed)
        for i, (layer, key) in enumerate(self.entries):
            grad = layer.grads[key]
            grad[...] = self.summed[offsets[i] : offsets[i + 1]].reshape(grad.shape)
        return float(self.summed[-1])

    def sum_values(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum of ``values`` (float64) over all ranks."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        out = np.empty_like(values)
        self.job.allreduce(values, out)
        return out

    def gather_rows(self, rows: np.ndarray, n: int) -> np.ndarray:
        """All ranks' shards (``shard(n)`` each) of an ``(n, *out)`` result, in order, on
        every rank: one ``Allgatherv``."""
        return gather_rows(self.job, rows, n)

    def broadcast_weights(self) -> None:
        """Rank 0's weights to every rank, in one ``Bcast`` of a fused buffer."""
        buffer, offsets = self.buffer[:-1], self.offsets
        if self.rank == 0:
            for i, (layer, key) in enumerate(self.entries):
                buffer[offsets[i] : offsets[i + 1]] = layer.params[key].reshape(-1)
        self.job.bcast(buffer, root=0)
        for i, (layer, key) in enumerate(self.entries):
            param = layer.params[key]
            param[...] = buffer[offsets[i] : offsets[i + 1]].reshape(param.shape)

    def end_epoch(self, epoch: int) -> None:
        """Average the layers' floating-point ``state`` over the ranks (one ``Allreduce``),
        then raise TrainingError (on every rank) unless all ranks hold the same weights and
        state (a CRC32 of them, gathered)."""
        kept = [
            a
            for layer in self.layers
            for _, a in sorted(layer.state.items())
            if isinstance(a, np.ndarray) and a.dtype.kind == "f"
        ]
        if kept:
            flat = np.concatenate([a.reshape(-1).astype(np.float64) for a in kept])
            total = np.empty_like(flat)
            self.job.allreduce(flat, total)
            total /= self.ranks
            start = 0
            for a in kept:
                a[...] = total[start : start + a.size].reshape(a.shape)
                start += a.size
        crc = 0
        for layer, key in self.entries:
            crc = zlib.crc32(np.ascontiguousarray(layer.params[key]).data, crc)
        for a in kept:
            crc = zlib.crc32(np.ascontiguousarray(a).data, crc)
        sums = self.job.allgather(crc)
        if len(set(sums)) > 1:
            odd = [r for r, s in enumerate(sums) if s != sums[0]]
            raise TrainingError(
                f"the weights of ranks {odd} differ from rank 0's after epoch {epoch + 1} "
                "(their checksums disagree): the ranks ran different data, settings or code"
            )

    def reseed(self, seed: int, epoch: int) -> None:
        """Ranks other than 0 draw their own dropout masks for their shard, and so does
        every part of it split over the machine's cores."""
        if self.rank:
            for i, layer in enumerate(self.layers):
                layer.rng = np.random.default_rng([seed, epoch, 1, i, self.rank])
        for part, chain in enumerate(getattr(self.inner, "chains", [])[1:], start=1):
            for i, twin in enumerate(chain):
                twin.rng = np.random.default_rng([seed, epoch, 1, i, part, self.rank])


def rank_threads(job: Any) -> int:
    """How many threads this rank may split its work over: ``NNF_NUM_THREADS`` if set
    (threads per process), else its share of the CPUs it may run on among the ranks of the
    job on the same machine (2 ranks on 8 CPUs: 4 each)."""
    from . import threads

    if os.environ.get("NNF_NUM_THREADS", "").strip():
        return threads.thread_count()
    return max(1, threads.thread_count() // max(1, int(job.local_ranks)))


@contextmanager
def rank_runtime(layers: Sequence[Layer], batch_size: int) -> Iterator[MPIRuntime]:
    """The ``mpi`` backend for global batches of up to ``batch_size``: each rank's shard
    split over its threads (``rank_threads``) where the in-host split pays
    (``nnf.parallel.host``: every layer ``samples_independent``, parts big enough), in one
    piece otherwise. Threads only: forking worker processes after ``MPI_Init`` is unsafe."""
    from . import host, threads
    from .mpi_job import job as current
    from .replicas import Replicas

    job = current()
    shard = -(-batch_size // job.ranks)
    budget = rank_threads(job)
    parts = min(host.split_parts(layers, shard), budget) if budget >= 2 else 1
    if parts < 2:
        runner = MPIRuntime(layers, job)
        runner.local_parallel = None if budget >= 2 else "single"
        yield runner
        return
    with threads.parallel_section() as usable:
        parts = min(parts, usable)
        inner = Replicas(layers, parts) if parts >= 2 else None
        runner = MPIRuntime(layers, job, inner)
        try:
            yield runner
        finally:
            runner.close()


def gather_rows(job: Any, rows: np.ndarray, n: int) -> np.ndarray:
    """Every rank's shard (``shard_bounds(n, rank, ranks)``) of an ``(n, *out)`` result, in
    order, on every rank (one ``Allgatherv`` through ``job``). All shards must share a dtype
    and a sample shape; an empty shard may be any ``(0, *out)`` array."""
    rows = np.ascontiguousarray(rows)
    sample = int(np.prod(rows.shape[1:], dtype=np.int64))
    counts = [
        (b - a) * sample for a, b in (shard_bounds(n, r, job.ranks) for r in range(job.ranks))
    ]
    out = np.empty((n, *rows.shape[1:]), dtype=rows.dtype)
    job.allgatherv(rows, out, counts)
    return out


@contextmanager
def collective(parallel: str | None) -> Iterator[Any | None]:
    """The MPI job (``nnf.parallel.mpi_job.Job``) if ``parallel`` is ``mpi``, else None; an
    error raised in the block on this rank is first announced to the other ranks, so that
    they raise RankFailedError instead of waiting for this one forever."""
    from . import backend_name

    if backend_name(parallel) != "mpi":
        yield None
        return
    from .mpi_job import job

    with job().guard() as current:
        yield current


def predict_shards(model: Sequential, x: Any, batch_size: int) -> np.ndarray:
    """``model.predict(x)`` over the ranks of the MPI job: every rank passes the same ``x``,
    predicts its shard (``shard_bounds``, on its own cores as ``auto`` would) and gets the
    whole ``(N, *output_shape)`` result, in order (one ``Allgatherv``). A model that is not
    built yet is built on every rank, then given rank 0's weights."""
    from ..inputs import prepare_inputs
    from .mpi_job import job
    from .plan import execution_order

    current = job()
    with current.guard(), model._inference():
        x = prepare_inputs(x, model)
        if not model.built:
            model._ensure_built(x)
            MPIRuntime(execution_order(model.layers), current).broadcast_weights()
        lo, hi = shard_bounds(len(x), current.rank, current.ranks)
        local = None if rank_threads(current) >= 2 else "single"  # cores shared by ranks
        part = model._predict(x[lo:hi], batch_size, local)  # a shard, on this rank's cores
        if part.dtype != model.dtype:  # an empty shard has the model's dtype: all must agree
            part = part.astype(model.dtype)
        return gather_rows(current, part, len(x))


def end_job(error: BaseException) -> None:
    """Make sure the other ranks of this MPI job stop when this one ends with ``error`` (the
    ``nnf`` command calls it after printing its error): a failure inside an nnf call has been
    announced already; one outside (loading the data, writing the report) is announced now
    (``mpi_job.announce``: a rank waiting for the job to begin, or in a collective, raises
    RankFailedError). Nothing outside an MPI job of several ranks."""
    from ..errors import RankFailedError
    from .mpi_job import announce, current_job

    if launched_size() < 2 or isinstance(error, RankFailedError):
        return
    job = current_job()
    if job is not None and job.failure is not None:
        return
    if job is None and launched_backend() is None:
        return  # the ranks run on their own (NNF_PARALLEL=threads, ...)
    announce(error)
