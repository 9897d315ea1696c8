"""Training progress on stderr: a live bar on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

HIDDEN = ("epoch", "seconds")
SHORT = {"accuracy": "acc", "val_accuracy": "val_acc"}


def format_metrics(logs: dict[str, Any]) -> str:
    """``loss 0.2311  acc 0.9312  val_loss 0.2010`` from an epoch's logs."""
    parts = []
    for key, value in logs.items():
        if key in HIDDEN or not isinstance(value, int | float):
            continue
        parts.append(f"{SHORT.get(key, key)} {value:.4f}")
    return "  ".join(parts)


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"


class Progress:
    """A training callback that reports each epoch (and each batch, on a terminal).

    ``first_epoch`` and ``last_epoch`` count from 1 (``epoch 3/10``). ``on_batch_end`` is used
    when the training loop calls it; otherwise the terminal shows one line per epoch too.
    """

    def __init__(
        self,
        first_epoch: int,
        last_epoch: int,
        stream: TextIO | None = None,
        tty: bool | None = None,
        width: int = 24,
        min_interval: float = 0.1,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.epoch = first_epoch
        self.last_epoch = last_epoch
        self.width = width
        self.min_interval = min_interval
        self._epoch_start = time.perf_counter()
        self._last_draw = 0.0
        self._open_line = False

    def _prefix(self) -> str:
        digits = len(str(self.last_epoch))
        return f"epoch {self.epoch:>{digits}}/{self.last_epoch}"

    def on_batch_end(self, batch: int, num_batches: int, logs: dict[str, Any]) -> None:
        """Redraw the bar after batch ``batch`` (0-based) of ``num_batches``."""
        if not self.tty:
            return
        now = time.perf_counter()
        if batch == 0:
            self._epoch_start = now - 1e-9
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

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any = None) -> None:
        """Print the epoch's summary line (replacing the bar on a terminal)."""
        seconds = logs.get("seconds", time.perf_counter() - self._epoch_start)
        line = f"{self._prefix()}  {format_metrics(logs)}  ({seconds:.1f}s)"
        if self.tty and self._open_line:
            self.stream.write("\r" + line + "\x1b[K\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._open_line = False
        self.epoch += 1
        self._epoch_start = time.perf_counter()

    def close(self) -> None:
        """End an unfinished bar line (after Ctrl-C or an error)."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
