"""Learning-rate schedules: ``LearningRateScheduler`` (step, exponential, cosine or your own
function of the epoch) and ``ReduceLROnPlateau``.

The built-in schedules are functions of the epoch index (0-based, counted over the model's
whole life) and the initial rate ``lr0``, so a resumed run continues the same curve:

    step:         lr0 * factor ** (epoch // step_size)
    exponential:  lr0 * decay_rate ** epoch
    cosine:       min_lr + (lr0 - min_lr) * (1 + cos(pi * min(epoch, epochs) / epochs)) / 2
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import Callback, improved, monitored, resolve_mode

if TYPE_CHECKING:
    from ..model import Sequential

__all__ = [
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "cosine_schedule",
    "exponential_schedule",
    "step_schedule",
]

Schedule = Callable[[int, float], float]  # (epoch, lr0) -> rate for that epoch


def step_schedule(step_size: int, factor: float = 0.1) -> Schedule:
    """Multiply the rate by ``factor`` every ``step_size`` epochs."""
    if int(step_size) < 1 or not float(factor) > 0:
        raise ConfigError(
            f"step schedule: step_size >= 1 and factor > 0, got {step_size}, {factor}"
        )
    return lambda epoch, lr0: lr0 * float(factor) ** (epoch // int(step_size))


def exponential_schedule(decay_rate: float) -> Schedule:
    """Multiply the rate by ``decay_rate`` every epoch."""
    if not float(decay_rate) > 0:
        raise ConfigError(f"exponential schedule: decay_rate must be > 0, got {decay_rate}")
    return lambda epoch, lr0: lr0 * float(decay_rate) ** epoch


def cosine_schedule(epochs: int, min_lr: float = 0.0) -> Schedule:
    """Half a cosine from ``lr0`` down to ``min_lr`` over ``epochs`` epochs, then ``min_lr``."""
    if int(epochs) < 1 or float(min_lr) < 0:
        raise ConfigError(f"cosine schedule: epochs >= 1 and min_lr >= 0, got {epochs}, {min_lr}")

    def rate(epoch: int, lr0: float) -> float:
        t = min(epoch, int(epochs)) / int(epochs)
        return float(min_lr) + (lr0 - float(min_lr)) * (1 + math.cos(math.pi * t)) / 2

    return rate


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "step": step_schedule,
    "exponential": exponential_schedule,
    "cosine": cosine_schedule,
}


class LearningRateScheduler(Callback):
    """Set the optimizer's rate before each epoch from a schedule.

    ``schedule``: "step", "exponential", "cosine" (with their ``options``, see the module
    docstring) or a function ``f(epoch, lr0) -> rate``. ``initial_learning_rate``: lr0
    (default: the optimizer's rate when training first starts; give it when resuming from a
    file, whose optimizer holds an already scheduled rate). For "cosine", ``epochs`` defaults
    to the last epoch of the first ``fit`` call.
    """

    def __init__(
        self,
        schedule: str | Schedule,
        initial_learning_rate: float | None = None,
        **options: Any,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.options = dict(options)
        if callable(schedule):
            if options:
                raise ConfigError("a schedule function takes no options; bind them yourself")
            self.schedule: Schedule | None = schedule
            self.kind = getattr(schedule, "__name__", "function")
        elif schedule in SCHEDULES:
            self.kind = str(schedule)
            self.schedule = (
                None
                if schedule == "cosine" and "epochs" not in options
                else (_make(self.kind, options))
            )
        else:
            raise ConfigError(
                f"unknown schedule {schedule!r}: use one of {', '.join(SCHEDULES)} or a function"
            )

    def on_train_begin(self, model: Sequential, params: dict[str, Any]) -> None:
        if model.optimizer is None:
            raise ConfigError("LearningRateScheduler needs the model's optimizer; fit sets it")
        if self.initial_learning_rate is None:
            self.initial_learning_rate = float(model.optimizer.learning_rate)
        if self.schedule is None:  # cosine over this run's epochs
            self.schedule = _make(self.kind, {**self.options, "epochs": params["last_epoch"]})

    def on_epoch_begin(self, epoch: int, model: Sequential) -> None:
        assert self.schedule is not None and self.initial_learning_rate is not None
        rate = float(self.schedule(epoch, float(self.initial_learning_rate)))
        if not rate > 0 or not math.isfinite(rate):
            raise ConfigError(f"the learning-rate schedule gave {rate} for epoch {epoch + 1}")
        assert model.optimizer is not None
        model.optimizer.learning_rate = rate

    def __repr__(self) -> str:
        return f"LearningRateScheduler({self.kind!r}, {self.options})"


def _make(kind: str, options: dict[str, Any]) -> Schedule:
    import inspect

    factory = SCHEDULES[kind]
    valid = list(inspect.signature(factory).parameters)
    for key in options:
        if key not in valid:
            from ..spec import _close

            raise ConfigError(
                f"{kind} schedule: unknown option {key!r}{_close(key, valid)}; "
                f"valid options: {', '.join(valid)}"
            )
    try:
        return factory(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{kind} schedule: {exc}") from None


class ReduceLROnPlateau(Callback):
    """Multiply the rate by ``factor`` once ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs; then wait ``cooldown`` epochs; never go below
    ``min_lr``."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if not 0 < float(factor) < 1:
            raise ConfigError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        if int(patience) < 0 or int(cooldown) < 0 or float(min_lr) < 0 or float(min_delta) < 0:
            raise ConfigError("ReduceLROnPlateau: patience, cooldown, min_lr, min_delta >= 0")
        self.monitor = monitor
        self.monitors = monitor  # read by fit: a val_ metric needs validation data
        self.factor = float(factor)
        self.patience = int(patience)
        self.mode = resolve_mode(mode, monitor)
        self.min_delta = float(min_delta)
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self.best: float | None = None
        self.wait = 0
        self.cooling = 0

    def on_train_begin(self, model: Sequential, params: dict[str, Any]) -> None:
        self.best, self.wait, self.cooling = None, 0, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Sequential) -> None:
        value = monitored(logs, self.monitor, "ReduceLROnPlateau")
        if self.cooling > 0:
            self.cooling -= 1
            self.wait = 0
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
            return
        if self.cooling > 0:
            return
        self.wait += 1
        if self.wait >= self.patience and model.optimizer is not None:
            old = float(model.optimizer.learning_rate)
            model.optimizer.learning_rate = max(old * self.factor, self.min_lr)
            self.wait, self.cooling = 0, self.cooldown
