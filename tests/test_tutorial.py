"""The tutorial's programs run on nnf with only their imports changed, and reach its results."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "tutorial"
SEED_TEXT = ROOT.parent / "shared" / "seed" / "000_ed0ffd7b9922c6aa.txt"


def code_lines(text: str) -> list[str]:
    """Statements without imports, comments, blank lines or indentation."""
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or re.match(r"^(import|from)\s", line):
            continue
        lines.append(line)
    return lines


def run_example(path: Path, capsys, seed: int, replace: dict[str, str] | None = None) -> str:
    """Run a program in this process with NumPy's global seed fixed; return what it printed."""
    source = path.read_text()
    for old, new in (replace or {}).items():
        assert old in source
        source = source.replace(old, new)
    np.random.seed(seed)
    code = compile(source, str(path), "exec")
    exec(code, {"__name__": "__main__", "__file__": str(path)})
    return capsys.readouterr().out


@pytest.mark.skipif(not SEED_TEXT.exists(), reason="needs ../shared/seed beside the checkout")
def test_cnn_program_differs_from_the_tutorial_only_in_imports():
    tutorial = SEED_TEXT.read_text()
    main = tutorial.split("Hàm Chính", 1)[1].split("Link tham khảo", 1)[0]
    tutorial_lines = [ln for ln in code_lines(main) if not ln.isdigit()]
    assert code_lines((EXAMPLES / "mnist_conv.py").read_text()) == tutorial_lines


def test_xor_reaches_the_tutorials_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a headless run saves its plot
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no display, as on CI
    out = run_example(EXAMPLES / "xor.py", capsys, seed=0)
    errors = [float(m) for m in re.findall(r"^\d+/10000, error=(\S+)$", out, re.M)]
    assert len(errors) == 10000
    assert errors[-1] < 0.01
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert "no display: plot saved to xor.png" in out
    pixels = plt_read(tmp_path / "xor.png")
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.01


def plt_read(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return np.asarray(imread(path))


def test_cnn_separates_zeros_and_ones(capsys):
    out = run_example(EXAMPLES / "mnist_conv.py", capsys, seed=0)
    errors = [float(m) for m in re.findall(r"^\d+/20, error=(\S+)$", out, re.M)]
    assert len(errors) == 20 and errors[-1] < errors[0]
    pairs = re.findall(r"^pred: (\d), true: (\d)$", out, re.M)
    assert len(pairs) == 200
    accuracy = np.mean([p == t for p, t in pairs])
    assert accuracy >= 0.98


def test_dense_mnist_learns(capsys):
    # 20 of the tutorial's 100 epochs keep the test short; it learns well before that.
    out = run_example(
        EXAMPLES / "mnist_dense.py", capsys, seed=0, replace={"epochs=100": "epochs=20"}
    )
    errors = [float(m) for m in re.findall(r"^\d+/20, error=(\S+)$", out, re.M)]
    assert len(errors) == 20 and errors[-1] < 0.5 * errors[0]
    pairs = re.findall(r"^pred: (\d) \ttrue: (\d)$", out, re.M)
    assert len(pairs) == 20
    assert np.mean([p == t for p, t in pairs]) >= 0.75
