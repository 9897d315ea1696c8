"""``MetricsLogger``: every epoch's metrics in a JSON-lines or CSV file, rewritten atomically
after each epoch (a reader never sees half a line)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import Callback

if TYPE_CHECKING:
    from ..model import Sequential

__all__ = ["MetricsLogger"]


class MetricsLogger(Callback):
    """One row per epoch in ``path``: JSON lines (``.jsonl``, the default) or CSV (``.csv``).

    ``format`` ("jsonl" or "csv") overrides the suffix. With ``include_history`` the file
    starts with the epochs the model already trained (a resumed run's whole history).
    ``rows`` holds what was written.
    """

    rank_zero_only = True  # under MPI (fit(parallel="mpi")) only rank 0 writes

    def __init__(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        include_history: bool = True,
    ) -> None:
        self.path = Path(path)
        fmt = format or ("csv" if self.path.suffix.lower() == ".csv" else "jsonl")
        if fmt not in ("jsonl", "csv"):
            raise ConfigError(f"MetricsLogger: format must be 'jsonl' or 'csv', got {format!r}")
        self.format = fmt
        self.include_history = include_history
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, model: Sequential, params: dict[str, Any]) -> None:
        history = model.training_state.get("history", []) if self.include_history else []
        self.rows = [dict(r) for r in history]
        if self.rows:  # a resumed run's file starts complete; a new one with its first epoch
            self._write()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Sequential) -> None:
        self.rows.append(dict(logs))
        self._write()

    def _text(self) -> str:
        if self.format == "jsonl":
            return "".join(json.dumps(r, default=_plain) + "\n" for r in self.rows)
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()

    def _write(self) -> None:
        from ..io.durable import atomic_write

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, [self._text().encode("utf-8")])


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)
