"""``EarlyStopping``: stop when a monitored metric stops improving, optionally keeping the
weights of its best epoch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .base import Callback, improved, monitored, resolve_mode

if TYPE_CHECKING:
    from ..model import Sequential

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    """Stop once ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``mode``: "min", "max" or "auto" (max for accuracy-like names). With
    ``restore_best_weights`` the model ends with the weights of its best epoch (training
    state and optimizer stay those of the last epoch). ``stopped_epoch`` is the 1-based
    epoch after which training stopped (None if it ran to the end); ``best`` the best value.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 0,
        min_delta: float = 0.0,
        restore_best_weights: bool = False,
    ) -> None:
        if int(patience) < 0 or float(min_delta) < 0:
            raise ConfigError(
                f"EarlyStopping: patience and min_delta must be >= 0, got {patience}, {min_delta}"
            )
        self.monitor = monitor
        self.monitors = monitor  # read by fit: a val_ metric needs validation data
        self.mode = resolve_mode(mode, monitor)
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best_weights = bool(restore_best_weights)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self._best_weights: list[dict[str, np.ndarray]] | None = None

    def on_train_begin(self, model: Sequential, params: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.stopped_epoch, self.wait = None, None, None, 0
        self._best_weights = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Sequential) -> bool:
        value = monitored(logs, self.monitor, "EarlyStopping")
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            if self.restore_best_weights:
                self._best_weights = [
                    {k: v.copy() for k, v in layer.params.items()} for layer in model.layers
                ]
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch + 1
            return True
        return False

    def on_train_end(self, model: Sequential, logs: dict[str, Any]) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            for layer, saved in zip(model.layers, self._best_weights):
                for k, v in saved.items():
                    layer.params[k][...] = v

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, "
            f"patience={self.patience}, min_delta={self.min_delta}, "
            f"restore_best_weights={self.restore_best_weights})"
        )
