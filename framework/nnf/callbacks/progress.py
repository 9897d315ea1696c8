"""``ProgressBar``: a live bar with metrics on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from .base import Callback

if TYPE_CHECKING:
    from ..model import Sequential

__all__ = ["ProgressBar", "format_metrics"]

HIDDEN = ("epoch", "seconds")
SHORT = {"accuracy": "acc", "val_accuracy": "val_acc", "learning_rate": "lr"}


def format_metrics(logs: dict[str, Any]) -> str:
    """``loss 0.2311  acc 0.9312  val_loss 0.2010`` from an epoch's logs."""
    parts = []
    for key, value in logs.items():
        if key in HIDDEN or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        parts.append(
            f"{SHORT.get(key, key)} {value:.4g}"
            if key == "learning_rate"
            else f"{SHORT.get(key, key)} {value:.4f}"
        )
    return "  ".join(parts)


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"


class ProgressBar(Callback):
    """Reports training on ``stream`` (default: stdout at call time).

    On a terminal (``tty``, detected by default) a bar with the running metrics is redrawn
    at most every ``min_interval`` seconds, then replaced by the epoch's line; elsewhere
    (logs, notebooks' captured output, ``per_epoch=True``) one line per epoch:
    ``epoch 3/10  loss 0.2311  acc 0.9312  (1.2s)``.
    """

    rank_zero_only = True  # under MPI (fit(parallel="mpi")) only rank 0 prints

    def __init__(
        self,
        stream: TextIO | None = None,
        tty: bool | None = None,
        per_epoch: bool = False,
        width: int = 24,
        min_interval: float = 0.1,
    ) -> None:
        self._stream = stream
        self._tty = tty
        self.per_epoch = per_epoch
        self.width = width
        self.min_interval = min_interval
        self.epoch = 1
        self.last_epoch = 1
        self._epoch_start = time.perf_counter()
        self._last_draw = 0.0
        self._open_line = False

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    @property
    def tty(self) -> bool:
        if self.per_epoch:
            return False
        if self._tty is not None:
            return self._tty
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _prefix(self) -> str:
        digits = len(str(self.last_epoch))
        return f"epoch {self.epoch:>{digits}}/{self.last_epoch}"

    def on_train_begin(self, model: Sequential, params: dict[str, Any]) -> None:
        self.epoch, self.last_epoch = params["first_epoch"], params["last_epoch"]

    def on_epoch_begin(self, epoch: int, model: Sequential) -> None:
        self.epoch = epoch + 1
        self._epoch_start = time.perf_counter()

    def on_batch_end(self, batch: int, num_batches: int, logs: dict[str, Any]) -> None:
        """Redraw the bar after batch ``batch`` (0-based) of ``num_batches``."""
        if not self.tty:
            return
        now = time.perf_counter()
        done = batch + 1
        if done < num_batches and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        elapsed = now - self._epoch_start
        eta = elapsed / done * (num_batches - done)
        filled = int(self.width * done / max(num_batches, 1))
        bar = "=" * filled + (">" if filled < self.width else "") + "." * (self.width - filled - 1)
        line = (
            f"{self._prefix()} [{bar[: self.width]}] {done}/{num_batches} "
            f"ETA {_clock(eta)}  {format_metrics(logs)}"
        )
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self._open_line = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Sequential) -> None:
        """Print the epoch's summary line (replacing the bar on a terminal)."""
        self.epoch = epoch + 1
        seconds = logs.get("seconds", time.perf_counter() - self._epoch_start)
        line = f"{self._prefix()}  {format_metrics(logs)}  ({seconds:.1f}s)"
        if self._open_line:
            self.stream.write("\r" + line + "\x1b[K\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._open_line = False

    def on_train_abort(self, model: Sequential, error: BaseException) -> None:
        self.close()

    def close(self) -> None:
        """End an unfinished bar line (after Ctrl-C or an error)."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
