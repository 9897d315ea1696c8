"""An MPI job's communicators, and collectives that end, never hang, when a rank fails.

A blocking MPI collective cannot be interrupted: if one rank raises, the others wait for it
forever. So every collective nnf calls under MPI is nonblocking (``Iallreduce``, ``Ibcast``,
``Iallgather``, ``Iallgatherv``) and waited for in a poll loop (``Job.wait``) that also
watches a second communicator for error notices. A rank whose ``fit``, ``evaluate`` or
``predict`` raises sends every other rank a notice (its rank and the one-line cause,
``Job.guard``) before raising its own error; a rank waiting in a collective (or starting
one) reads the notice within a poll and raises ``RankFailedError`` naming the failing rank
and the cause. No MPI_Abort: the processes live on, and a script may catch the error.

The job is then broken (a collective will never complete on its communicator), so every
later nnf collective in the process raises the same error at once. ``Job`` uses duplicates
of ``COMM_WORLD`` (made on first use, which every rank reaches at the same call): nnf's
messages never mix with the script's own.

The poll loop yields the CPU between polls (``os.sched_yield``): as fast as a blocking
``Allreduce`` on MPICH with a core per rank, and as fast with more ranks than cores, where a
plain busy loop was 5-8x slower (1.36 MB, 3 ranks on 2 cores: 1.9-2.3 ms against 9-19 ms).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import NNFError, RankFailedError

NOTICE_TAG = 0x6E6E66  # "nnf": the tag of error notices on the job's second communicator
POLLS_PER_CHECK = 16  # request tests between two looks for a notice
NOTICE_SECONDS = 2.0  # how long a failing rank waits for its notices to leave

_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


def describe(error: BaseException) -> str:
    """One line naming ``error``: its message for nnf's own errors, else type and message."""
    if isinstance(error, KeyboardInterrupt):
        text = "interrupted (KeyboardInterrupt)"
    elif isinstance(error, NNFError):
        text = str(error) or type(error).__name__
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return " ".join(text.split())


class Job:
    """The ranks of ``world`` (an ``MPI.Comm``) as nnf uses them: ``comm`` carries the
    collectives, ``notices`` the error notices."""

    def __init__(self, world: Any) -> None:
        from mpi4py import MPI

        self.mpi = MPI
        self.comm = world.Dup()
        self.notices = world.Dup()
        self.rank = int(self.comm.Get_rank())
        self.ranks = int(self.comm.Get_size())
        machine = world.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_ranks = int(machine.Get_size())  # ranks on this machine, this one included
        machine.Free()
        self.failure: str | None = None  # why this job can no longer run collectives
        self.failed_rank: int | None = None
        self.cause_types: tuple[str, ...] = ()  # the failing error's class and bases

    # ------------------------------------------------------------------ failures
    def check(self) -> None:
        """Raise RankFailedError if the job failed or another rank sent a notice."""
        if self.failure is None:
            status = self.mpi.Status()
            if not self.notices.Iprobe(source=self.mpi.ANY_SOURCE, tag=NOTICE_TAG, status=status):
                return
            rank, cause, types = self.notices.recv(source=status.Get_source(), tag=NOTICE_TAG)
            self.failure = f"rank {rank} of {self.ranks} failed: {cause}"
            self.failed_rank, self.cause_types = int(rank), tuple(types)
        raise RankFailedError(self.failure, self.failed_rank, self.cause_types)

    def notify(self, error: BaseException) -> None:
        """Tell every other rank that this one fails with ``error`` (once; never blocks for
        more than ``NOTICE_SECONDS``), then refuse later collectives."""
        if self.failure is not None:
            return
        cause = describe(error)
        self.failure = f"rank {self.rank} of {self.ranks} failed earlier: {cause}"
        self.failed_rank = self.rank
        self.cause_types = tuple(c.__name__ for c in type(error).__mro__)
        notice = (self.rank, cause, self.cause_types)
        requests = [
            self.notices.isend(notice, dest=r, tag=NOTICE_TAG)
            for r in range(self.ranks)
            if r != self.rank
        ]
        deadline = time.monotonic() + NOTICE_SECONDS
        while requests and time.monotonic() < deadline:
            requests = [r for r in requests if not r.Test()]
            if requests:
                time.sleep(0.001)

    @contextmanager
    def guard(self) -> Iterator[Job]:
        """The block of one nnf call that runs collectives: an exception raised in it on this
        rank (other than another rank's failure) is announced to the other ranks first."""
        self.check()
        try:
            yield self
        except RankFailedError:
            raise
        except BaseException as error:
            self.notify(error)
            raise

    # --------------------------------------------------------------- collectives
    def wait(self, request: Any) -> None:
        """Wait for ``request`` to complete, raising RankFailedError if a notice arrives."""
        polls = 0
        while not request.Test():
            polls += 1
            if polls % POLLS_PER_CHECK == 0:
                self.check()
            _yield()

    def allreduce(self, send: np.ndarray, recv: np.ndarray) -> None:
        """``recv`` = the element-wise sum of every rank's ``send`` (contiguous, same shape)."""
        self.check()
        self.wait(self.comm.Iallreduce(send, recv))

    def bcast(self, buffer: np.ndarray, root: int = 0) -> None:
        """``buffer`` on every rank = ``root``'s."""
        self.check()
        self.wait(self.comm.Ibcast(buffer, root=root))

    def allgather(self, value: int) -> list[int]:
        """Every rank's integer ``value``, by rank."""
        send = np.array([value], dtype=np.int64)
        recv = np.empty(self.ranks, dtype=np.int64)
        self.check()
        self.wait(self.comm.Iallgather(send, recv))
        return [int(v) for v in recv]

    def allgatherv(self, rows: np.ndarray, out: np.ndarray, counts: list[int]) -> None:
        """``out`` (contiguous) = every rank's ``rows`` one after the other; rank r sends
        ``counts[r]`` elements."""
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
        kind = self.mpi._typedict[np.dtype(out.dtype).char]
        self.check()
        self.wait(self.comm.Iallgatherv([rows, kind], [out, (counts, displs), kind]))


_job: Job | None = None


def job() -> Job:
    """This process's job over ``MPI.COMM_WORLD`` (made on first use: a collective call)."""
    global _job
    if _job is None:
        from .mpi import world

        _job = Job(world())
    return _job


def current_job() -> Job | None:
    """The job if one was made in this process, else None (never initialises MPI)."""
    return _job
