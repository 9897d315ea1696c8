"""``nnf report`` and ``nnf show`` through click's CliRunner, on a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from nnf.cli import cli
from report_checks import assert_not_blank, decode_png, inline_pngs, sections
from toy_images import make_images

pytest.importorskip("matplotlib")

SPEC = """
name = "tiny"
input_shape = [1, 8, 8]
layers = [
  { type = "Convolutional", kernel_size = 3, depth = 3, bias = "channel" },
  { type = "ReLU" },
  { type = "MaxPool2D" },
  { type = "Flatten" },
  { type = "Dense", output_size = 3 },
  { type = "Softmax" },
]
[training]
epochs = 2
batch_size = 8
learning_rate = 0.01
seed = 1
"""
MLP = """
input_shape = [64]
layers = [{ type = "Dense", output_size = 3 }, { type = "Softmax" }]
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnf: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """work/run: a tiny CNN trained 2 epochs on 3 classes of 8x8 images (with validation)."""
    work = tmp_path_factory.mktemp("work")
    rng = np.random.default_rng(0)

    (xa, ya), (xb, yb) = make_images(96, rng), make_images(30, rng)
    np.savez(work / "tiny.npz", x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    np.save(work / "digits.npy", xb[:4])
    (work / "tiny.toml").write_text(SPEC)
    (work / "mlp.toml").write_text(MLP)
    args = ["train", str(work / "tiny.toml"), "--data", str(work / "tiny.npz")]
    result = run(*args, "-o", str(work / "run"), "--val-split", "0.25", "-q")
    assert result.exit_code == 0, result.stderr
    result = run("build", str(work / "mlp.toml"), "-o", str(work / "mlp.nnf"))
    assert result.exit_code == 0, result.stderr
    return work


@pytest.fixture
def work(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNF_CACHE_DIR", str(tmp_path / "cache"))
    return trained


def test_help_lists_report_and_show():
    out = run("--help").stdout
    assert "  report " in out and "  show " in out
    assert "nnf report runs/lenet5" in run("report", "--help").stdout
    assert "nnf show maps" in run("show", "--help").stdout


def test_report_of_a_run_folder(work: Path, tmp_path: Path):
    result = run("report", str(work / "run"), "-o", "r.html", "-q")
    assert result.exit_code == 0, result.stderr
    assert "report written to r.html" in result.stdout
    html = (tmp_path / "r.html").read_text()
    assert sections(html) == ["summary", "curves", "metrics", "mistakes", "filters", "maps"]
    assert "(test) (30 samples)" in html
    for png in inline_pngs(html):
        assert_not_blank(decode_png(png))
    assert "val_loss" in html  # the curves come from the run's metrics.jsonl


def test_report_default_output_never_overwrites(work: Path):
    target = work / "run" / "report.html"
    target.unlink(missing_ok=True)
    assert run("report", str(work / "run"), "--best", "--sample", "3", "-q").exit_code == 0
    assert target.exists()
    one_line_error(run("report", str(work / "run")), 2, "already exists", "--force")
    assert run("report", str(work / "run"), "--force", "-q").exit_code == 0
    target.unlink()


def test_report_without_metrics_says_so(work: Path, tmp_path: Path):
    model = tmp_path / "copy.nnf"
    model.write_bytes((work / "run" / "last.nnf").read_bytes())
    result = run("report", str(model), "--data", str(work / "tiny.npz"), "-q")
    assert result.exit_code == 0, result.stderr
    html = (tmp_path / "copy.report.html").read_text()
    assert "2 epochs" in html  # no metrics.jsonl beside it: the model's saved history


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("nowhere",), ("does not exist",)),
        (("{work}/run", "--sample", "99"), ("--sample 99", "30 samples")),
        (("{work}/run", "-o", "{work}/run"), ("is a directory",)),
        (("{work}",), ("holds no model file",)),
    ],
)
def test_report_errors(work: Path, args: tuple[str, ...], needles: tuple[str, ...]):
    result = run("report", *(a.format(work=work) for a in args))
    one_line_error(result, 2, *needles)


def test_show_writes_each_picture(work: Path, tmp_path: Path):
    for args, name in (
        (("filters", str(work / "run")), "filters.png"),
        (
            ("maps", str(work / "run" / "last.nnf"), str(work / "digits.npy"), "--index", "2"),
            "maps.png",
        ),
        (("curves", str(work / "run")), "curves.png"),
    ):
        result = run("show", *args)
        assert result.exit_code == 0, result.stderr
        assert f"written to {name}" in result.stdout
        assert_not_blank(decode_png((tmp_path / name).read_bytes()), name)
    result = run("show", "filters", str(work / "run"))
    one_line_error(result, 2, "filters.png already exists")
    assert run("show", "curves", str(work / "run"), "-o", "c.svg").exit_code == 0
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")


def test_show_maps_of_an_image_file(work: Path, tmp_path: Path):
    from matplotlib.image import imsave

    ink = np.zeros((8, 8))
    ink[3:5, :] = 1.0
    imsave(tmp_path / "ink.png", 1 - ink, cmap="gray")  # dark ink on white
    result = run("show", "maps", str(work / "run"), "ink.png", "--invert", "-o", "m.png")
    assert result.exit_code == 0, result.stderr
    assert_not_blank(decode_png((tmp_path / "m.png").read_bytes()))
    imsave(tmp_path / "big.png", np.zeros((10, 12)), cmap="gray")
    one_line_error(run("show", "maps", str(work / "run"), "big.png"), 2, "12x10", "8x8")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("filters", "{work}/mlp.nnf"), ("no convolution",)),
        (("maps", "{work}/mlp.nnf", "{work}/digits.npy"), ("no convolution or pooling",)),
        (("maps", "{work}/run", "{work}/digits.npy", "--index", "9"), ("--index 9", "4 samples")),
        (("maps", "{work}/run", "{work}/tiny.toml"), (".npy file or an image",)),
        (("maps", "{work}/run", "none.npy"), ("does not exist",)),
        (("curves", "{work}/mlp.nnf"), ("no per-epoch metrics",)),
        (("filters", "{work}/run", "-o", "f.txt"), ("cannot draw .txt",)),
        (("filters", "nowhere"), ("does not exist",)),
    ],
)
def test_show_errors(work: Path, args: tuple[str, ...], needles: tuple[str, ...]):
    one_line_error(run("show", *(a.format(work=work) for a in args)), 2, *needles)


def test_without_matplotlib_the_commands_name_the_extra(work: Path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "matplotlib" else real(n, *a)
    )
    hint = "pip install 'nnf-framework[plot]'"
    one_line_error(run("report", str(work / "run")), 2, hint)
    one_line_error(run("show", "filters", str(work / "run")), 2, hint)
