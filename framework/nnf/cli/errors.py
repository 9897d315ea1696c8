"""Exit codes and the one-line error messages of the ``nnf`` command.

0 success; 1 a failure while running (unreadable model file, failed download, NaN loss, I/O);
2 a usage or spec error (bad option, malformed spec, unknown layer, data that does not fit
the model, an output that exists without ``--force``); 130 interrupted (Ctrl-C); 143
terminated (SIGTERM to a rank of an MPI job: ``mpiexec`` forwards it, as do schedulers).
"""

from __future__ import annotations

from ..errors import DataError

OK = 0
FAILURE = 1
USAGE = 2
INTERRUPTED = 130
TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM reached the ``nnf`` command under an MPI launcher: it stops as on Ctrl-C."""


class DataUsageError(DataError):
    """Data the user gave that no model can take (text, objects, complex numbers): exit 2."""


class CommandError(Exception):
    """A user-facing failure with its exit code; the message is printed as one line."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def exit_code(exc: BaseException) -> int:
    """The exit code for an exception that ends a command."""
    import click

    if isinstance(exc, CommandError):
        return exc.code
    if isinstance(exc, Terminated):
        return TERMINATED
    if isinstance(exc, KeyboardInterrupt | click.exceptions.Abort):
        return INTERRUPTED
    if isinstance(exc, click.UsageError):
        return USAGE
    from ..errors import ConfigError, RankFailedError, ShapeError, UnknownLayerError

    usage = (ConfigError, ShapeError, UnknownLayerError, DataUsageError)
    if isinstance(exc, RankFailedError):  # another MPI rank failed: exit as it does (mpiexec
        # ORs the ranks' exit codes: 2 and 1 would give 3)
        if exc.interrupted:
            return TERMINATED if "Terminated" in exc.cause_types else INTERRUPTED
        return USAGE if {c.__name__ for c in usage} & set(exc.cause_types) else FAILURE
    if isinstance(exc, usage):
        return USAGE
    return FAILURE


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on a single line, worded for the user."""
    import click

    from ..errors import NNFError

    if isinstance(exc, click.UsageError):
        text = exc.format_message()
        cmd = exc.ctx.command_path if exc.ctx is not None else "nnf"
        text = f"{text} (see '{cmd} --help')"
    elif isinstance(exc, CommandError | NNFError | click.ClickException):
        text = str(exc)
    elif isinstance(exc, Terminated):
        text = "terminated (SIGTERM)"
    elif isinstance(exc, KeyboardInterrupt | click.exceptions.Abort):
        text = "interrupted"
    elif isinstance(exc, FileNotFoundError):
        text = f"file not found: {exc.filename or exc}"
    elif isinstance(exc, PermissionError):
        text = f"permission denied: {exc.filename or exc}"
    elif isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        text = f"{exc.strerror or exc}{where}"
    elif isinstance(exc, MemoryError):
        text = "out of memory: use a smaller batch size or less data"
    else:
        text = (
            f"internal error: {type(exc).__name__}: {exc} (for the traceback run "
            "'nnf --debug COMMAND ...' or set NNF_DEBUG=1)"
        )
    return " ".join(text.split())
