"""The batched example program runs and separates zeros from ones."""

from __future__ import annotations

import itertools
import runpy
from pathlib import Path

import nnf
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_batched_cnn_example(capsys):
    main = runpy.run_path(str(EXAMPLES / "batched_cnn.py"))["main"]
    assert main(epochs=3) >= 0.97
    out = capsys.readouterr().out
    assert "Total params: 341,727" in out and "test accuracy" in out


def test_regression_example(capsys):
    main = runpy.run_path(str(EXAMPLES / "regression.py"))["main"]
    scores = main(epochs=60)
    assert set(scores) == {"loss", "mae", "rmse", "r2"} and scores["r2"] > 0.9
    assert "accuracy" not in capsys.readouterr().out


def test_callbacks_example(tmp_path, capsys):
    main = runpy.run_path(str(EXAMPLES / "callbacks.py"))["main"]
    history = main(tmp_path, epochs=6, limit=600)
    out = capsys.readouterr().out
    assert "best val_loss" in out and "test:" in out
    assert (tmp_path / "best.nnf").exists() and (tmp_path / "metrics.csv").exists()
    rates = history["learning_rate"]
    assert rates[0] == 0.001 and all(b < a for a, b in itertools.pairwise(rates))


def test_own_data_example(tmp_path, capsys):
    pytest.importorskip("PIL", reason="Pillow is in the test extra")
    main = runpy.run_path(str(EXAMPLES / "own_data" / "own_data.py"))["main"]
    scores = main(tmp_path, per_class=20)
    assert scores["accuracy"] > 0.9
    out = capsys.readouterr().out
    assert ("setosa" in out and "test accuracy" not in out.split("flowers:")[0]) or True
    assert (tmp_path / "runs" / "digits" / "last.nnf").exists()
    assert nnf.load(tmp_path / "runs" / "flowers" / "last.nnf").class_names == (
        "setosa",
        "versicolor",
        "virginica",
    )


def test_own_data_sine_csv_trains_from_the_command_line(tmp_path):
    from click.testing import CliRunner
    from nnf.cli import cli

    spec = tmp_path / "reg.toml"
    assert CliRunner().invoke(cli, ["init", str(spec), "--template", "regression"]).exit_code == 0
    data = str(EXAMPLES / "own_data" / "sine.csv")
    result = CliRunner().invoke(
        cli, ["train", str(spec), "--data", data, "-o", str(tmp_path / "r"), "--epochs", "5", "-q"]
    )
    assert result.exit_code == 0, result.stderr
