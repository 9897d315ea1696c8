"""``ModelCheckpoint``: the last model after every epoch and the best by a monitored metric,
each written atomically (``nnf.io.save``), so an interrupted run keeps its last good epoch."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Callback, improved, monitored, resolve_mode

if TYPE_CHECKING:
    from ..model import Sequential

__all__ = ["ModelCheckpoint"]

Metadata = Mapping[str, str] | Callable[["Sequential"], Mapping[str, str]]


class ModelCheckpoint(Callback):
    """Save ``last`` (when training starts and after every epoch) and ``best`` (whenever
    ``monitor`` improves); either path may be None.

    Nothing is written or deleted before training starts, so a run that fails while being
    set up leaves an earlier run's files as they were. ``best_so_far``: the monitored value
    that the existing ``best`` file already holds (a resumed run); None starts afresh and
    removes a ``best`` file left by an earlier run when training starts, so that ``best``
    never names a model of another run. ``metadata``: strings saved in each file (or a
    function of the model returning them). ``epochs_done`` is the epoch count that ``last``
    holds.
    """

    rank_zero_only = True  # under MPI (fit(parallel="mpi")) only rank 0 writes

    def __init__(
        self,
        last: str | os.PathLike[str] | None = None,
        best: str | os.PathLike[str] | None = None,
        monitor: str = "val_loss",
        mode: str = "auto",
        best_so_far: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        self.last = Path(last) if last is not None else None
        self.best = Path(best) if best is not None else None
        self.monitor = monitor
        self.monitors = monitor if best is not None else None  # read by fit
        self.mode = resolve_mode(mode, monitor)
        self.best_value = best_so_far
        self.metadata = metadata
        self.epochs_done = 0

    def _save(self, model: Sequential, path: Path) -> None:
        from .. import io

        meta = self.metadata(model) if callable(self.metadata) else self.metadata
        path.parent.mkdir(parents=True, exist_ok=True)
        io.save(model, path, metadata=dict(meta or {}))

    def on_train_begin(self, model: Sequential, params: dict[str, Any]) -> None:
        self.epochs_done = int(model.training_state.get("epoch", 0))
        if self.best is not None and self.best_value is None:
            self.best.unlink(missing_ok=True)  # an earlier run's best would mislead
        if self.last is not None:
            self._save(model, self.last)  # a valid last file from the start: Ctrl-C loses nothing

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Sequential) -> None:
        # The last model first: whatever reports the epoch afterwards can rely on it.
        if self.last is not None:
            self._save(model, self.last)
        self.epochs_done = epoch + 1
        if self.best is not None:
            value = monitored(logs, self.monitor, "ModelCheckpoint")
            if improved(value, self.best_value, self.mode):
                self.best_value = value
                self._save(model, self.best)

    def __repr__(self) -> str:
        return f"ModelCheckpoint(last={self.last}, best={self.best}, monitor={self.monitor!r})"
