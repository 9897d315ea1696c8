"""What an MPI launcher tells a process through its environment: the job's size and this
process's rank, read without importing mpi4py or NumPy (``nnf --help`` and every command
that does not run MPI stay fast), and whether the ``nnf`` commands choose the ``mpi``
backend by themselves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

# What MPICH/Intel MPI (PMI), Open MPI, PMIx launchers and SLURM's srun put in each rank's
# environment: the job's size and this process's rank, readable without initialising MPI.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")
# How many ranks run on this machine: MPICH's Hydra, Open MPI.
LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")


def _first_int(names: Sequence[str], default: int) -> int:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return default


def launched_size() -> int:
    """How many ranks the MPI launcher started (1 outside ``mpiexec``/``srun``)."""
    return _first_int(SIZE_VARIABLES, 1)


def launched_rank() -> int:
    """This process's rank as the launcher set it (0 outside ``mpiexec``/``srun``)."""
    return _first_int(RANK_VARIABLES, 0)


def launched_backend() -> str | None:
    """``"mpi"`` when the process is one of several ranks started by a launcher and
    ``NNF_PARALLEL`` is unset or ``mpi`` (how the ``nnf`` commands choose MPI by themselves),
    else None."""
    chosen = os.environ.get("NNF_PARALLEL", "").strip().lower()
    return "mpi" if launched_size() > 1 and chosen in ("", "mpi") else None


def launched_local_size() -> int:
    """How many ranks of the job the launcher started on this machine (0: it does not say)."""
    return _first_int(LOCAL_SIZE_VARIABLES, 0)


def share_threads() -> None:
    """For the ``nnf`` command only (it changes the process's environment): under a launcher
    with several ranks on this machine and without ``NNF_NUM_THREADS``, give each rank its
    share of the CPUs it may run on as ``NNF_NUM_THREADS`` (2 ranks on 8 CPUs: 4 each; one
    per CPU: 1), so that the ranks' threads (batch splits, convolution blocks) do not
    oversubscribe the machine. Must run before nnf reads ``NNF_NUM_THREADS``."""
    local = launched_local_size()
    if launched_size() < 2 or local < 2 or os.environ.get("NNF_NUM_THREADS", "").strip():
        return
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    os.environ["NNF_NUM_THREADS"] = str(max(1, cpus // local))
