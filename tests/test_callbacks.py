"""nnf.callbacks: early stopping, schedules, checkpoints, the metrics log, spec keys."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nnf
import numpy as np
import pytest
from nnf.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateScheduler,
    MetricsLogger,
    ModelCheckpoint,
    ReduceLROnPlateau,
    from_training,
)
from nnf.errors import ConfigError
from nnf.layers import Dense, ReLU, Softmax


def blobs(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + np.eye(3, 4, dtype=np.float32)[y] * 2
    return x, y


def mlp() -> nnf.Sequential:
    return nnf.Sequential(
        [Dense(output_size=8), ReLU(), Dense(output_size=3), Softmax()], input_shape=(4,)
    )


class Recorder(Callback):
    """Records the learning rate each epoch trained with, and feeds scripted val_loss."""

    def __init__(self, values: list[float] | None = None) -> None:
        self.rates: list[float] = []
        self.values = values

    def on_epoch_end(self, epoch, logs, model):
        self.rates.append(logs["learning_rate"])
        if self.values is not None:
            logs["val_loss"] = self.values[epoch]


# ------------------------------------------------------------------ early stopping
def test_early_stopping_stops_after_patience_and_restores_the_best_weights() -> None:
    x, y = blobs()
    model = mlp()
    scripted = [1.0, 0.5, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2]  # best at epoch 2, then 3 worse
    snapshots: list[list[np.ndarray]] = []

    class Snap(Callback):
        def on_epoch_end(self, epoch, logs, model):
            snapshots.append([p.copy() for _, p, _ in model.named_parameters()])

    stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    history = model.fit(
        x,
        y,
        epochs=8,
        seed=0,
        verbose=0,
        validation_split=0.25,
        callbacks=[Recorder(scripted), Snap(), stop],
    )
    assert len(history) == 5 and stop.stopped_epoch == 5 and stop.best_epoch == 2
    assert stop.best == 0.5
    for (_, p, _), kept in zip(model.named_parameters(), snapshots[1]):
        np.testing.assert_array_equal(p, kept)  # the weights of epoch 2, not of epoch 5
    assert model.training_state["epoch"] == 5


def test_early_stopping_without_restore_keeps_the_last_weights() -> None:
    x, y = blobs()
    model = mlp()
    stop = EarlyStopping(patience=0)
    rec = Recorder([1, 2, 3, 4, 5])
    model.fit(x, y, epochs=5, seed=0, verbose=0, validation_split=0.25, callbacks=[rec, stop])
    assert stop.stopped_epoch == 2  # the first epoch without improvement
    assert model.training_state["epoch"] == 2


def test_early_stopping_on_accuracy_maximises_and_names_missing_metrics() -> None:
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="loss").mode == "min"
    x, y = blobs()
    with pytest.raises(ConfigError, match="validation_split"):
        mlp().fit(x, y, epochs=1, verbose=0, callbacks=[EarlyStopping(monitor="val_loss")])


# ----------------------------------------------------------------------- schedules
@pytest.mark.parametrize(
    ("schedule", "options", "expected"),
    [
        ("step", {"step_size": 2, "factor": 0.5}, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]),
        ("exponential", {"decay_rate": 0.9}, [0.1 * 0.9**e for e in range(6)]),
        (
            "cosine",
            {"epochs": 4, "min_lr": 0.01},
            [0.01 + 0.09 * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2 for e in range(6)],
        ),
    ],
)
def test_schedules_set_the_rate_of_each_epoch(schedule, options, expected) -> None:
    x, y = blobs()
    rec = Recorder()
    sched = LearningRateScheduler(schedule, **options)
    mlp().fit(x, y, epochs=6, learning_rate=0.1, verbose=0, seed=0, callbacks=[sched, rec])
    np.testing.assert_allclose(rec.rates, expected, rtol=1e-12)


def test_schedule_function_and_resume_continue_the_curve() -> None:
    x, y = blobs()
    rec = Recorder()
    sched = LearningRateScheduler(lambda epoch, lr0: lr0 / (1 + epoch))
    model = mlp()
    model.fit(x, y, epochs=2, learning_rate=0.2, verbose=0, seed=0, callbacks=[sched, rec])
    model.fit(x, y, epochs=2, verbose=0, callbacks=[sched, rec])  # same lr0, epochs 2 and 3
    np.testing.assert_allclose(rec.rates, [0.2, 0.1, 0.2 / 3, 0.05])


def test_cosine_without_epochs_spans_the_fit_call() -> None:
    x, y = blobs()
    rec = Recorder()
    sched = LearningRateScheduler("cosine")
    mlp().fit(x, y, epochs=3, learning_rate=0.1, verbose=0, seed=0, callbacks=[sched, rec])
    np.testing.assert_allclose(rec.rates, [0.1, 0.075, 0.025])


def test_reduce_on_plateau_cuts_the_rate_after_patience() -> None:
    x, y = blobs()
    rec = Recorder([1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95])
    plateau = ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.03)
    # Recorder sets val_loss before ReduceLROnPlateau reads it (list order).
    mlp().fit(
        x,
        y,
        epochs=8,
        learning_rate=0.1,
        verbose=0,
        seed=0,
        validation_split=0.25,
        callbacks=[rec, plateau],
    )
    # Epochs 3-4 do not improve on 0.9: the rate halves for epoch 5, again for epoch 7
    # (never below min_lr).
    np.testing.assert_allclose(rec.rates, [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.03, 0.03])


# ---------------------------------------------------------------------- checkpoint
def test_checkpoint_keeps_the_last_and_the_best(tmp_path: Path) -> None:
    x, y = blobs()
    model = mlp()
    check = ModelCheckpoint(last=tmp_path / "last.nnf", best=tmp_path / "best.nnf")
    rec = Recorder([0.9, 0.5, 0.7, 0.6])
    model.fit(x, y, epochs=4, seed=0, verbose=0, validation_split=0.25, callbacks=[rec, check])
    assert nnf.load(tmp_path / "last.nnf").training_state["epoch"] == 4
    assert nnf.load(tmp_path / "best.nnf").training_state["epoch"] == 2
    assert check.best_value == 0.5 and check.epochs_done == 4


def test_checkpoint_writes_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that fails half-way (here: Ctrl-C while writing) leaves the earlier file whole."""
    x, y = blobs()
    model = mlp()
    last = tmp_path / "last.nnf"
    model.fit(x, y, epochs=1, seed=0, verbose=0, callbacks=[ModelCheckpoint(last=last)])
    before = last.read_bytes()
    import nnf.io.durable as durable

    real = durable.os.replace

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(durable.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(last=last)])
    monkeypatch.setattr(durable.os, "replace", real)
    assert last.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.nnf"]  # no temporary file left


def test_checkpoint_touches_nothing_before_training_starts(tmp_path: Path) -> None:
    best = tmp_path / "best.nnf"
    best.write_bytes(b"an earlier run's model")
    check = ModelCheckpoint(last=tmp_path / "last.nnf", best=best)
    x, y = blobs()
    with pytest.raises(nnf.errors.ShapeError):
        mlp().fit(x[:, :3], y, epochs=1, verbose=0, validation_split=0.25, callbacks=[check])
    assert best.read_bytes() == b"an earlier run's model"
    assert not (tmp_path / "last.nnf").exists()
    # Once a run starts afresh, the earlier best goes (it would name another run's model).
    mlp().fit(x, y, epochs=0, verbose=0, validation_split=0.25, callbacks=[check])
    assert not best.exists() and (tmp_path / "last.nnf").exists()


# ---------------------------------------------------------------------- logger
def test_metrics_logger_writes_jsonl_and_csv(tmp_path: Path) -> None:
    x, y = blobs()
    model = mlp()
    jsonl, csv_file = MetricsLogger(tmp_path / "m.jsonl"), MetricsLogger(tmp_path / "m.csv")
    model.fit(x, y, epochs=2, seed=0, verbose=0, validation_split=0.25, callbacks=[jsonl, csv_file])
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0].split(",")[:3] == ["epoch", "loss", "accuracy"] and len(lines) == 3
    assert float(lines[2].split(",")[1]) == rows[1]["loss"]
    # A second call continues the file with the model's whole history.
    model.fit(x, y, epochs=1, verbose=0, callbacks=[jsonl])
    assert [json.loads(r)["epoch"] for r in (tmp_path / "m.jsonl").open()] == [1, 2, 3]


# ----------------------------------------------------------------------- progress
def test_verbose_prints_one_line_per_epoch_after_the_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = blobs()
    seen: list[bool] = []

    class Spy:
        def write(self, text: str) -> None:
            if text.startswith("epoch"):
                seen.append((tmp_path / "last.nnf").exists())

        def flush(self) -> None:
            pass

    import sys

    real = sys.stdout
    sys.stdout = Spy()  # type: ignore[assignment]
    try:
        mlp().fit(
            x, y, epochs=2, verbose=1, seed=0, callbacks=[ModelCheckpoint(tmp_path / "last.nnf")]
        )
    finally:
        sys.stdout = real
    assert seen == [True, True]
    mlp().fit(x, y, epochs=2, verbose=2, seed=0)
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out] == ["1/2", "2/2"]
    assert "acc" in out[0] and "lr 0.001" in out[0]


# ---------------------------------------------------------------------- the spec
def test_spec_keys_build_the_callbacks() -> None:
    found = from_training(
        {
            "early_stopping": {"monitor": "val_accuracy", "patience": 2},
            "lr_schedule": {"type": "step", "step_size": 3, "factor": 0.5},
            "reduce_lr_on_plateau": {"factor": 0.2},
        }
    )
    kinds = [type(c).__name__ for c in found]
    assert kinds == ["LearningRateScheduler", "ReduceLROnPlateau", "EarlyStopping"]
    assert found[2].patience == 2 and found[2].mode == "max"


@pytest.mark.parametrize(
    ("training", "needles"),
    [
        ("early_stopping = { monitor = 'val_loss', patiense = 3 }", ["patiense", "'patience'"]),
        ("early_stopping = { patience = 'three' }", ["patience must be a int"]),
        ("lr_schedule = { type = 'cosin' }", ["'cosine'"]),
        ("lr_schedule = { type = 'step', step = 2 }", ["'step_size'"]),
        ("reduce_lr_on_plateau = { factor = 2.0 }", ["factor must be in (0, 1)"]),
        ("metrics = ['acuracy']", ["'accuracy'"]),
        ("checkpoint = { monitor = 'val_accuracy', mode = 'mx' }", ["checkpoint", "'max'"]),
        ("early_stoping = { patience = 3 }", ["'early_stopping'"]),
    ],
)
def test_spec_keys_are_validated_with_close_matches(training: str, needles: list[str]) -> None:
    from nnf.spec import loads_spec

    text = "input_shape = [4]\nlayers = [{ type = 'Dense', output_size = 2 }]\n"
    with pytest.raises(ConfigError) as info:
        loads_spec(text + f"[training]\n{training}\n")
    for needle in needles:
        assert needle in str(info.value)


def test_the_documented_modules_are_attributes_of_nnf() -> None:
    import subprocess
    import sys

    code = "import nnf; print(nnf.callbacks.EarlyStopping, nnf.metrics.f1, nnf.spec.load_spec)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
