"""``nnf train``'s callbacks: ``nnf.callbacks`` composed for a run folder; Ctrl-C and a NaN
loss end with the last good model on disk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FAILURE, TERMINATED, CommandError, exit_code

if TYPE_CHECKING:
    from ..callbacks import ModelCheckpoint
    from ..model import Sequential
    from ..optimizers import Optimizer
    from .output import Console
    from .train_config import RunFiles


def make_optimizer(config: dict[str, Any], keep_optimizer: bool) -> Optimizer | None:
    """The optimizer the settings name (``None`` keeps the model's saved one); built before any
    file is written, so bad options fail with nothing left behind."""
    if keep_optimizer:
        return None
    from ..errors import ConfigError
    from ..optimizers import get_optimizer

    options = dict(config["optimizer_options"])
    if "learning_rate" in options:  # also checked in the spec; saved runs may predate that
        raise ConfigError(
            "set the learning rate with --lr or learning_rate = ..., not in optimizer_options"
        )
    return get_optimizer(config["optimizer"], learning_rate=config["learning_rate"], **options)


def _val_losses(rows: list[dict[str, Any]], monitor: str) -> list[float]:
    return [float(r[monitor]) for r in rows if r.get(monitor) is not None]


def _best_beside(source: Path) -> Path:
    """Where ``nnf train`` put the best model of the run whose last model is ``source``."""
    if source.name == "last.nnf":
        return source.with_name("best.nnf")
    return Path(f"{source.with_suffix('')}.best.nnf")


def earlier_best(
    model: Sequential, source: str, files: RunFiles, monitor: str = "val_loss", mode: str = "min"
) -> float | None:
    """The monitored value that a resumed run's best.nnf must beat, with that model in place.

    The best value of the saved history counts only when its model is at hand: the source
    run's best file (copied to ``files.best`` when the output is elsewhere). Else None: this
    session's best is kept, so best.nnf always exists and matches its value.
    """
    pick = min if mode == "min" else max
    history = _val_losses(list(model.training_state.get("history", [])), monitor)
    if not history:
        return None
    best = pick(history)
    candidate = _best_beside(Path(source))
    try:
        from .. import io

        found = _val_losses(list(io.load(candidate).training_state.get("history", [])), monitor)
    except Exception:  # missing or unreadable: the earlier best is not at hand
        return None
    if not found or pick(found) != best:
        return None  # a best file of some other run
    if candidate.resolve() != files.best.resolve():
        from .plot import write_bytes_atomic

        write_bytes_atomic(files.best, candidate.read_bytes())
    return best


def run_callbacks(
    config: dict[str, Any],
    files: RunFiles,
    with_val: bool,
    console: Console,
    metadata: dict[str, str],
    best_so_far: float | None,
    initial_learning_rate: float | None,
    source: str,
) -> list[Any]:
    """Checkpoint first (the progress line of an epoch is printed once its model is on disk),
    then the metrics log, the spec's callbacks, and the progress bar on stderr."""
    from ..callbacks import MetricsLogger, ModelCheckpoint, ProgressBar, from_training

    check = config.get("checkpoint") or {}
    saver = ModelCheckpoint(
        last=files.last,
        best=files.best if with_val else None,
        monitor=check.get("monitor", "val_loss"),
        mode=check.get("mode", "auto"),
        best_so_far=best_so_far,
        metadata=metadata,
    )
    table = dict(config)
    if table.get("lr_schedule"):
        schedule = dict(table["lr_schedule"])
        schedule.setdefault("initial_learning_rate", initial_learning_rate)
        if schedule.get("type") == "cosine":
            schedule.setdefault("epochs", config["total_epochs"])
        table["lr_schedule"] = schedule
    callbacks: list[Any] = [saver, MetricsLogger(files.metrics), *from_training(table, source)]
    if not with_val:
        callbacks.append(RemoveOnStart([files.best]))
    if not console.quiet:
        callbacks.append(ProgressBar(stream=console.err))
    return callbacks


class RemoveOnStart:
    """Removes files of an earlier run once training starts (never before: a run that fails
    while being set up leaves them as they were)."""

    rank_zero_only = True  # under MPI (fit(parallel="mpi")) only rank 0 writes

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def on_train_begin(self, model: Sequential, params: dict[str, Any]) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)


def fit_with_callbacks(
    model: Sequential,
    x: Any,
    y: Any,
    config: dict[str, Any],
    callbacks: list[Any],
    optimizer: Optimizer | None,
    class_names: Any,
    parallel: str | None = None,
) -> None:
    """Fit; Ctrl-C exits 130 and a NaN loss exits 1, both keeping the last model.

    ``optimizer`` None continues with the model's saved optimizer (``--resume``);
    ``parallel``: the backend (``nnf.parallel``; None: NNF_PARALLEL, else auto).
    """
    from ..errors import RankFailedError, TrainingError

    saver: ModelCheckpoint = callbacks[0]
    keep_optimizer = optimizer is None
    try:
        model.fit(
            x,
            y,
            epochs=config["epochs"],
            batch_size=config["batch_size"],
            loss=config["loss"],
            optimizer=optimizer,
            learning_rate=config["learning_rate"] if keep_optimizer else None,
            validation_split=config["validation_split"],
            shuffle=config["shuffle"],
            seed=config["seed"],
            callbacks=callbacks,
            verbose=0,
            metrics=config.get("metrics"),
            class_names=class_names,
            parallel=parallel,
        )
    except (KeyboardInterrupt, RankFailedError) as exc:
        if isinstance(exc, RankFailedError) and not exc.interrupted:
            raise  # another rank failed: it says why
        code = exit_code(exc)  # 130 (Ctrl-C) or 143 (SIGTERM), here or on another rank
        what = "terminated (SIGTERM)" if code == TERMINATED else "interrupted"
        raise CommandError(
            f"{what}; the model after epoch {_epochs_in(saver)} is in {saver.last} "
            f"(continue with: nnf train --resume {_resume_target(saver.last)})",
            code,
        ) from None
    except TrainingError as exc:
        raise CommandError(
            f"training stopped: {exc}; the last good model (after epoch {saver.epochs_done}) "
            f"is in {saver.last}",
            FAILURE,
        ) from None


def _epochs_in(saver: ModelCheckpoint) -> int:
    """The epoch count the file ``saver.last`` holds. Read from the file: Ctrl-C may land
    after the file was replaced but before the saver counted the epoch (its directory is
    synced in between)."""
    from ..errors import NNFError
    from ..io import inspect

    try:
        training = inspect(saver.last).get("training") if saver.last is not None else None
    except (OSError, NNFError):  # unreadable: the saver's own count is the best we know
        return saver.epochs_done
    epoch = training.get("epoch") if training else None
    return int(epoch) if epoch is not None else saver.epochs_done


def _resume_target(last: Path | None) -> str:
    if last is None:
        return "RUN_DIR"
    return str(last.parent) if last.name == "last.nnf" else str(last)
