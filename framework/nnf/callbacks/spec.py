"""Callbacks from a spec's ``[training]`` table, validated like layer options.

[training]
early_stopping = { monitor = "val_loss", patience = 3, restore_best_weights = true }
lr_schedule = { type = "cosine", epochs = 20, min_lr = 1e-5 }
reduce_lr_on_plateau = { monitor = "val_loss", factor = 0.5, patience = 2 }
checkpoint = { monitor = "val_accuracy" }     # what best.nnf keeps (nnf train)
metrics = ["accuracy", "top_3_accuracy", "f1"]
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from .base import Callback, resolve_mode
from .early_stopping import EarlyStopping
from .schedules import SCHEDULES, LearningRateScheduler, ReduceLROnPlateau

__all__ = ["CALLBACK_KEYS", "check_callback_tables", "from_training"]

#: ``[training]`` keys that configure callbacks, with the class each one builds.
CALLBACK_KEYS: dict[str, Callable[..., Any]] = {
    "early_stopping": EarlyStopping,
    "lr_schedule": LearningRateScheduler,
    "reduce_lr_on_plateau": ReduceLROnPlateau,
    "checkpoint": lambda monitor="val_loss", mode="auto": resolve_mode(mode, monitor) and None,
}
_TYPES = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}


def _check_options(options: Mapping[str, Any], factory: Callable[..., Any], where: str) -> None:
    from ..spec import _close

    params = {
        name: p
        for name, p in inspect.signature(factory).parameters.items()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and name != "schedule"
    }
    for key, value in options.items():
        if key not in params:
            raise ConfigError(
                f"{where}: unknown option {key!r}{_close(key, list(params))}; "
                f"valid options: {', '.join(params)}"
            )
        default = params[key].default
        want = _TYPES.get(type(default)) if default is not inspect.Parameter.empty else None
        if want and not (isinstance(value, want) and (bool in want or not isinstance(value, bool))):
            raise ConfigError(f"{where}: {key} must be a {type(default).__name__}, got {value!r}")


def _schedule_callback(options: Mapping[str, Any], where: str) -> LearningRateScheduler:
    from ..spec import _close

    table = dict(options)
    kind = table.pop("type", None)
    if kind not in SCHEDULES:
        raise ConfigError(
            f"{where}: type must be one of {', '.join(SCHEDULES)}, got {kind!r}"
            + (_close(str(kind), list(SCHEDULES)) if isinstance(kind, str) else "")
        )
    lr0 = table.pop("initial_learning_rate", None)
    try:
        return LearningRateScheduler(kind, initial_learning_rate=lr0, **table)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _build(key: str, options: Any, source: str) -> Any:
    where = f"{source}: [training] {key}"
    if not isinstance(options, Mapping):
        raise ConfigError(f'{where} must be a table such as {{ monitor = "val_loss" }}')
    if key == "lr_schedule":
        return _schedule_callback(options, where)
    factory = CALLBACK_KEYS[key]
    _check_options(options, factory, where)
    try:
        return factory(**options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_callback_tables(table: Mapping[str, Any], source: str = "<spec>") -> None:
    """Validate the callback keys of a ``[training]`` table (unknown options, types, values)."""
    for key in CALLBACK_KEYS:
        if key in table:
            _build(key, table[key], source)
    if "metrics" in table:
        from ..metrics import check_metrics

        check_metrics(table["metrics"], f"{source}: [training] metrics")


def from_training(table: Mapping[str, Any], source: str = "<spec>") -> list[Callback]:
    """The callbacks a ``[training]`` table asks for: early stopping, schedule, plateau."""
    found = []
    for key in ("lr_schedule", "reduce_lr_on_plateau", "early_stopping"):
        if table.get(key) is not None:
            found.append(_build(key, table[key], source))
    return found
