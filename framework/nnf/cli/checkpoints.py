"""Training with everything kept on disk: ``last`` after every epoch, ``best`` on a lower
validation loss, metrics as JSON lines; Ctrl-C and a NaN loss end with the last good model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import FAILURE, INTERRUPTED, CommandError
from .runinfo import save_model

if TYPE_CHECKING:
    from ..model import Sequential
    from .output import Console
    from .train_config import RunFiles


class Checkpoints:
    """Saves ``last`` after every epoch (and ``best`` on a lower val_loss), appends metrics."""

    def __init__(
        self, files: RunFiles, with_val: bool, rows: list[dict[str, Any]], run: dict[str, Any]
    ) -> None:
        self.files, self.with_val, self.rows, self.run = files, with_val, rows, run
        self.best_loss = float("inf")
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


def fit_with_checkpoints(
    model: Sequential,
    x: Any,
    y: Any,
    config: dict[str, Any],
    files: RunFiles,
    with_val: bool,
    console: Console,
    keep_optimizer: bool,
    run: dict[str, Any],
) -> list[dict[str, Any]]:
    """Fit, saving as it goes; Ctrl-C exits 130 and a NaN loss exits 1, both keeping last.nnf."""
    from ..errors import TrainingError
    from ..optimizers import get_optimizer
    from .progress import Progress

    first = int(model.training_state.get("epoch", 0))
    rows = [dict(r) for r in model.training_state.get("history", [])]
    saver = Checkpoints(files, with_val, rows, run)
    saver.epochs_done = first
    callbacks: list[Any] = [saver]
    progress = None
    if not console.quiet:
        progress = Progress(first + 1, first + config["epochs"], stream=console.err)
        callbacks.insert(0, progress)
    optimizer = None
    if not keep_optimizer:
        optimizer = get_optimizer(
            config["optimizer"],
            learning_rate=config["learning_rate"],
            **config["optimizer_options"],
        )
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
