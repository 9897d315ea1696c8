"""The callback protocol of ``fit``: hooks called around epochs and batches.

``fit(callbacks=[...])`` takes any objects with some of these methods (subclassing
``Callback`` is optional). ``epoch`` counts from 0 over the model's whole life, so a resumed
run continues the count. The hooks, in order:

    on_train_begin(model, params)      params: epochs, first_epoch, last_epoch (1-based,
                                       inclusive), batch_size, num_batches, samples,
                                       validation (bool)
    on_epoch_begin(epoch, model)       before the epoch's first batch (set the rate here)
    on_batch_end(batch, num_batches, logs)   logs: the epoch's running loss and metric
    on_epoch_end(epoch, logs, model)   logs: loss, metrics, val_*, learning_rate, seconds;
                                       returning True stops training after this epoch
    on_train_end(model, logs)          after the last epoch (logs: the last epoch's)
    on_train_abort(model, error)       training ended by an exception (Ctrl-C, a NaN loss);
                                       the exception is raised again afterwards

Under MPI (``fit(parallel="mpi")``) every rank runs the callbacks on the same logs, except
those with a true ``rank_zero_only`` attribute (the progress bar, checkpoints, metrics
files: whatever prints or writes), which run on rank 0 alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..model import Sequential

__all__ = ["Callback", "improved", "resolve_mode"]

#: Monitored metrics where higher is better (for ``mode="auto"``).
HIGHER_IS_BETTER = ("acc", "accuracy", "precision", "recall", "f1", "r2")


class Callback:
    """Base class with every hook as a no-op; override the ones you need."""

    def on_train_begin(self, model: Sequential, params: dict[str, Any]) -> None:
        """Training starts (see the module docstring for ``params``)."""

    def on_epoch_begin(self, epoch: int, model: Sequential) -> None:
        """Epoch ``epoch`` (0-based) is about to run."""

    def on_batch_end(self, batch: int, num_batches: int, logs: dict[str, float]) -> None:
        """Mini-batch ``batch`` (0-based) of ``num_batches`` finished."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Sequential) -> bool | None:
        """Epoch ``epoch`` finished with ``logs``; return True to stop training."""
        return None

    def on_train_end(self, model: Sequential, logs: dict[str, float]) -> None:
        """Training finished normally (also after an early stop)."""

    def on_train_abort(self, model: Sequential, error: BaseException) -> None:
        """Training ends with ``error``; it is raised again once every callback ran."""


def resolve_mode(mode: str, monitor: str) -> str:
    """``"min"`` or ``"max"``; ``"auto"`` is max for accuracy-like metrics, else min."""
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    return "max" if name in HIGHER_IS_BETTER or name.endswith("_accuracy") else "min"


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` in direction ``mode``."""
    if not np.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def monitored(logs: dict[str, Any], monitor: str, who: str) -> float:
    """``logs[monitor]``, or a ConfigError that lists what the logs hold."""
    if monitor not in logs:
        hint = (
            "; pass validation_split or validation_data to fit (--val-split in nnf train)"
            if monitor.startswith("val_")
            else ""
        )
        have = ", ".join(k for k in logs if k not in ("epoch", "seconds"))
        raise ConfigError(f"{who} monitors {monitor!r}, but the epoch logs hold {have}{hint}")
    return float(logs[monitor])


def check_monitors(callbacks: Any, has_validation: bool) -> None:
    """Refuse callbacks that watch a ``val_`` metric (their ``monitors`` attribute) when
    there is no validation data: before training, so that nothing is written."""
    if has_validation:
        return
    for cb in callbacks:
        watched = getattr(cb, "monitors", None)
        if isinstance(watched, str) and watched.startswith("val_"):
            raise ConfigError(
                f"{type(cb).__name__} monitors {watched!r} but there is no validation data; "
                "pass validation_split or validation_data (--val-split in nnf train), or "
                "monitor a training metric such as 'loss'"
            )
