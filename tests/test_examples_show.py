"""The visualisation, ONNX Runtime and Fashion-MNIST examples run (with fewer epochs)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from report_checks import assert_not_blank, decode_png, inline_pngs, sections

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def example(name: str) -> dict:
    return runpy.run_path(str(EXAMPLES / name))


def test_visualise_example(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    written = example("visualise.py")["main"](tmp_path, epochs=1)
    assert sorted(written) == ["curves", "filters", "maps", "report"]
    html = written["report"].read_text()
    assert sections(html) == ["summary", "curves", "metrics", "mistakes", "filters", "maps"]
    assert "sample 7 (true" in html
    for png in [
        *inline_pngs(html),
        *(written[k].read_bytes() for k in ("curves", "filters", "maps")),
    ]:
        assert_not_blank(decode_png(png))
    assert "wrote " in capsys.readouterr().out


def test_onnx_inference_example(capsys):
    pytest.importorskip("onnxruntime")
    difference = example("onnx_inference.py")["main"]()
    assert difference < 1e-4  # ONNX Runtime computes what nnf computes
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("predicted ")]
    assert len(lines) == 10
    right = sum(ln.split()[1] == ln.split()[-1] for ln in lines)
    assert right >= 7  # one epoch on the bundled digits already gets most right


@pytest.mark.skipif(
    not FASHION.is_dir(),
    reason="needs Fashion-MNIST: apt-get install dataset-fashion-mnist "
    "(gives /usr/share/datasets/fashion-mnist)",
)
@pytest.mark.slow
def test_fashion_mnist_example(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("NNF_CACHE_DIR", str(tmp_path / "cache"))  # never a download: found above
    scores = example("fashion_mnist.py")["main"](epochs=1, out=tmp_path, limit=6000)
    assert scores["accuracy"] > 0.65  # 10 classes; one epoch on 6,000 images
    html = (tmp_path / "report.html").read_text()
    assert "Ankle boot" in html or "ankle boot" in html.lower()
    assert "(10,000 samples)" in html
    assert (tmp_path / "lenet5.nnf").is_file()
    assert "test accuracy" in capsys.readouterr().out
