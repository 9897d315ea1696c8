"""Callbacks for ``fit``: checkpoints, early stopping, learning-rate schedules, progress, logs.

    from nnf.callbacks import EarlyStopping, LearningRateScheduler, ModelCheckpoint
    model.fit(x, y, epochs=30, validation_split=0.1, callbacks=[
        ModelCheckpoint(last="run/last.nnf", best="run/best.nnf", monitor="val_loss"),
        EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
        LearningRateScheduler("cosine", epochs=30),
    ])

The same callbacks come from a spec's ``[training]`` table (``from_training``), which is how
``nnf train`` builds them. The hooks are described in ``nnf.callbacks.base``.
"""

from __future__ import annotations

from .base import Callback
from .checkpoint import ModelCheckpoint
from .early_stopping import EarlyStopping
from .logger import MetricsLogger
from .progress import ProgressBar
from .schedules import (
    LearningRateScheduler,
    ReduceLROnPlateau,
    cosine_schedule,
    exponential_schedule,
    step_schedule,
)
from .spec import CALLBACK_KEYS, check_callback_tables, from_training

__all__ = [
    "CALLBACK_KEYS",
    "Callback",
    "EarlyStopping",
    "LearningRateScheduler",
    "MetricsLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "ReduceLROnPlateau",
    "check_callback_tables",
    "cosine_schedule",
    "exponential_schedule",
    "from_training",
    "step_schedule",
]
