"""The batched example program runs and separates zeros from ones."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_batched_cnn_example(capsys):
    main = runpy.run_path(str(EXAMPLES / "batched_cnn.py"))["main"]
    assert main(epochs=3) >= 0.97
    out = capsys.readouterr().out
    assert "Total params: 341,727" in out and "test accuracy" in out
