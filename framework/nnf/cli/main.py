"""The ``nnf`` command group and its error handling (exit codes, one-line errors, --debug).

Only click and the standard library are imported here: every command imports NumPy and the
rest inside its function, so ``nnf --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import click

from .. import __version__
from .errors import INTERRUPTED, OK, TERMINATED, Terminated, exit_code, one_line


def _debug_requested(args: Sequence[str]) -> bool:
    if os.environ.get("NNF_DEBUG", "").strip().lower() in {"1", "true", "yes"}:
        return True
    for arg in args:  # group options come before the command name
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            return False
    return False


class NNFGroup(click.Group):
    """A click group that turns every failure into one line on stderr and an exit code.

    ``lazy`` commands live in modules with heavy imports: they are imported only when run
    (or their own help is asked for), so ``nnf --help`` stays fast.
    """

    lazy: ClassVar[dict[str, tuple[str, str, str]]] = {}  # name -> (module, attr, short help)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            from importlib import import_module

            module, attribute, _ = self.lazy[cmd_name]
            self.add_command(getattr(import_module(module), attribute), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is None:
                rows.append((name, self.lazy[name][2]))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(  # type: ignore[override, unused-ignore]  # click 8.2 changed its signature
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        debug = _debug_requested(args)
        try:
            code = super().main(args, "nnf", complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else OK
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            code = exc.exit_code
        except (Exception, KeyboardInterrupt, click.exceptions.Abort) as exc:
            code = exit_code(exc)
            if debug and not isinstance(exc, click.UsageError):
                import traceback

                traceback.print_exc(file=sys.stderr)
            message = one_line(exc)
            stopped = code in (INTERRUPTED, TERMINATED)
            prefix = "" if stopped else "error: "
            from ..errors import RankFailedError
            from ..parallel import mpi

            ranks, rank = mpi.launched_size(), mpi.launched_rank()
            if ranks > 1:  # name the rank that failed
                prefix = f"rank {rank} of {ranks}: {prefix}"
            # Ctrl-C, SIGTERM: rank 0 says it once; another rank's failure: that rank says it.
            quiet = ranks > 1 and ((rank != 0 and stopped) or isinstance(exc, RankFailedError))
            if not quiet:
                print(f"nnf: {prefix}{message}", file=sys.stderr, flush=True)
            mpi.end_job(exc)  # the other ranks would wait forever for this one
        if not standalone_mode:
            return code
        sys.exit(code)


@click.group(
    cls=NNFGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    no_args_is_help=True,
)
@click.version_option(__version__, "--version", prog_name="nnf")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
def cli(debug: bool) -> None:
    """nnf: build, train and use neural networks written as small TOML specs.

    \b
    First run (SPEC.toml: e.g. examples/specs/lenet5.toml in the nnf source checkout):
      nnf train SPEC.toml                        # bundled MNIST subset; writes runs/NAME/
      nnf evaluate runs/NAME/last.nnf
      nnf predict runs/NAME/last.nnf image.png

    Exit codes: 0 ok, 1 failed while running, 2 usage or spec error, 130 interrupted.
    Progress goes to stderr, results to stdout.
    """


def _register() -> None:
    from .cmd_build import build
    from .cmd_evaluate import evaluate
    from .cmd_info import inspect_cmd, layers, summary
    from .cmd_init import init
    from .cmd_predict import predict
    from .cmd_train import train

    for command in (init, build, train, evaluate, predict, summary, inspect_cmd, layers):
        cli.add_command(command)
    NNFGroup.lazy["report"] = ("nnf.cli.cmd_report", "report", "An HTML report on a trained model.")
    NNFGroup.lazy["show"] = ("nnf.cli.cmd_show", "show", "Draw filters, feature maps or curves.")
    import importlib.util

    if importlib.util.find_spec("nnf.export") is not None:  # finds it without importing it
        NNFGroup.lazy["export"] = (
            "nnf.export.cli",
            "export_command",
            "Write a model as ONNX, a plain .npz of weights, or JSON.",
        )


_register()


BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads() -> None:
    """Run BLAS on one thread unless the user chose otherwise.

    nnf multiplies small per-batch matrices; spreading each over threads made a LeNet epoch
    5-13x slower on a busy 2-core machine. Must run before NumPy is imported.
    """
    for var in BLAS_THREAD_VARS:
        os.environ.setdefault(var, "1")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``nnf`` console script: nnf owns this process, so it sets BLAS
    threads, its own threads under an MPI launcher (``nnf.parallel.launcher.share_threads``)
    and the allocator (``nnf.parallel.allocator``) for it before anything else runs."""
    limit_blas_threads()
    from ..parallel.launcher import share_threads

    share_threads()  # several MPI ranks on this machine: their share of its CPUs each
    from ..parallel.allocator import tune  # ctypes only: no NumPy yet

    tune()
    with _stop_on_sigterm():
        cli.main(args=argv, prog_name="nnf")


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Under an MPI launcher with several ranks, SIGTERM (``mpiexec`` forwards it to every
    rank; schedulers send it at a time limit) stops the command as Ctrl-C does, with exit
    code 143 and rank 0's one line saying where the last model is, instead of the launcher's
    banner. Elsewhere SIGTERM keeps its default."""
    import signal

    from ..parallel.launcher import launched_size  # the environment only: no NumPy, no MPI

    if launched_size() < 2:
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
