"""Training with everything kept on disk: ``last`` after every epoch, ``best`` on a lower
validation loss, metrics as JSON lines; Ctrl-C and a NaN loss end with the last good model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FAILURE, INTERRUPTED, CommandError
from .runinfo import save_model

if TYPE_CHECKING:
    from ..model import Sequential
    from ..optimizers import Optimizer
    from .output import Console
    from .train_config import RunFiles


class Checkpoints:
    """Saves ``last`` after every epoch (and ``best`` on a lower val_loss), appends metrics."""

    def __init__(
        self,
        files: RunFiles,
        with_val: bool,
        rows: list[dict[str, Any]],
        run: dict[str, Any],
        best_loss: float = float("inf"),
    ) -> None:
        self.files, self.with_val, self.rows, self.run = files, with_val, rows, run
        self.best_loss = best_loss  # best.nnf is replaced only by a lower val_loss than this
        self.epochs_done = 0

    def save_last(self, model: Sequential) -> None:
        save_model(model, self.files.last, self.run)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Sequential) -> None:
        from .output import write_jsonl_atomic

        # The model first: a metrics line never describes an epoch that last.nnf lacks.
        self.save_last(model)
        self.epochs_done = int(logs.get("epoch", epoch + 1))
        val = logs.get("val_loss")
        if self.with_val and val is not None and val < self.best_loss:
            self.best_loss = val
            save_model(model, self.files.best, self.run)
        self.rows.append(dict(logs))
        write_jsonl_atomic(self.files.metrics, self.rows)


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


def _val_losses(rows: list[dict[str, Any]]) -> list[float]:
    return [float(r["val_loss"]) for r in rows if r.get("val_loss") is not None]


def _best_beside(source: Path) -> Path:
    """Where ``nnf train`` put the best model of the run whose last model is ``source``."""
    if source.name == "last.nnf":
        return source.with_name("best.nnf")
    return Path(f"{source.with_suffix('')}.best.nnf")


def earlier_best(model: Sequential, source: str, files: RunFiles) -> float:
    """The val_loss that a resumed run's best.nnf must beat, with that model put in place.

    The lowest val_loss of the saved history counts only when its model is at hand: the
    source run's best file (copied to ``files.best`` when the output is elsewhere). Else the
    best of this session is kept, so best.nnf always exists and matches its loss.
    """
    history = _val_losses(list(model.training_state.get("history", [])))
    if not history:
        return float("inf")
    best = min(history)
    candidate = _best_beside(Path(source))
    try:
        from .. import io

        found = _val_losses(list(io.load(candidate).training_state.get("history", [])))
    except Exception:  # missing or unreadable: the earlier best is not at hand
        return float("inf")
    if not found or min(found) != best:
        return float("inf")  # a best file of some other run
    if candidate.resolve() != files.best.resolve():
        from .plot import write_bytes_atomic

        write_bytes_atomic(files.best, candidate.read_bytes())
    return best


def fit_with_checkpoints(
    model: Sequential,
    x: Any,
    y: Any,
    config: dict[str, Any],
    files: RunFiles,
    with_val: bool,
    console: Console,
    optimizer: Optimizer | None,
    run: dict[str, Any],
    best_loss: float = float("inf"),
) -> list[dict[str, Any]]:
    """Fit, saving as it goes; Ctrl-C exits 130 and a NaN loss exits 1, both keeping last.nnf.

    ``optimizer`` None continues with the model's saved optimizer (``--resume``); ``best_loss``
    is the val_loss best.nnf already holds (see ``earlier_best``).
    """
    from ..errors import TrainingError
    from .progress import Progress

    keep_optimizer = optimizer is None
    first = int(model.training_state.get("epoch", 0))
    rows = [dict(r) for r in model.training_state.get("history", [])]
    saver = Checkpoints(files, with_val, rows, run, best_loss)
    saver.epochs_done = first
    callbacks: list[Any] = [saver]
    progress = None
    if not console.quiet:
        progress = Progress(first + 1, first + config["epochs"], stream=console.err)
        callbacks.insert(0, progress)
    saver.save_last(model)  # a valid last.nnf exists from the start: Ctrl-C never loses it
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
        )
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        raise CommandError(
            f"interrupted; the model after epoch {saver.epochs_done} is in {files.last} "
            f"(continue with: nnf train {files.last} --resume)",
            INTERRUPTED,
        ) from None
    except TrainingError as exc:
        if progress is not None:
            progress.close()
        raise CommandError(
            f"training stopped: {exc}; the last good model (after epoch {saver.epochs_done}) "
            f"is in {files.last}",
            FAILURE,
        ) from None
    return rows
