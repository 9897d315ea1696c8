"""Callbacks: early stopping, a learning-rate schedule, checkpoints and a CSV log.

    python examples/callbacks.py [OUTPUT_FOLDER]

The same run from the command line is a spec with these [training] keys:

    early_stopping = { monitor = "val_loss", patience = 3, restore_best_weights = true }
    lr_schedule = { type = "cosine", min_lr = 1e-4 }

and `nnf train` writes last.nnf, best.nnf and metrics.jsonl into its run folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nnf
from nnf.callbacks import EarlyStopping, LearningRateScheduler, MetricsLogger, ModelCheckpoint
from nnf.layers import Dense, Flatten, ReLU, Softmax


def main(folder: str | Path, epochs: int = 20, limit: int = 1000) -> nnf.History:
    data = nnf.datasets.load()  # bundled MNIST subset: uint8 (N, 28, 28), labels 0..9
    x, y = data.x_train[:limit], data.y_train[:limit]
    model = nnf.Sequential(
        [Flatten(), Dense(output_size=64), ReLU(), Dense(output_size=10), Softmax()],
        input_shape=(1, 28, 28),  # (N, 28, 28) images get their channel axis; uint8 is scaled
    )
    out = Path(folder)
    stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    history = model.fit(
        x,
        y,
        epochs=epochs,
        validation_split=0.2,
        seed=0,
        verbose=2,  # one line per epoch, learning rate included
        callbacks=[
            ModelCheckpoint(last=out / "last.nnf", best=out / "best.nnf", monitor="val_loss"),
            LearningRateScheduler("cosine", min_lr=1e-4),  # over this call's epochs
            MetricsLogger(out / "metrics.csv"),
            stop,
        ],
    )
    where = f"after epoch {stop.stopped_epoch}" if stop.stopped_epoch else "at the end"
    print(f"stopped {where}; best val_loss {stop.best:.4f} at epoch {stop.best_epoch}")
    print("test:", model.evaluate(data.x_test, data.y_test))  # the restored best weights
    return history


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="nnf-callbacks-"))
