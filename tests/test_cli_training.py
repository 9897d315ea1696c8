"""``nnf train`` and the library agree; run folders, reproducing and resuming runs, own data,
regression, and one regression test for each CLI defect of issue 16."""

from __future__ import annotations

import json
from pathlib import Path

import nnf
import numpy as np
import pytest
from click.testing import CliRunner, Result
from nnf.cli import cli
from toy_images import make_images

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
name = "tiny"
input_shape = [1, 8, 8]
layers = [
  { type = "Convolutional", kernel_size = 3, depth = 2, bias = "channel" },
  { type = "ReLU" },
  { type = "Flatten" },
  { type = "Dense", output_size = 3 },
  { type = "Softmax" },
]

[training]
epochs = 4
batch_size = 8
learning_rate = 0.01
validation_split = 0.25
seed = 3
early_stopping = { monitor = "val_loss", patience = 2, min_delta = 0.0001 }
lr_schedule = { type = "step", step_size = 2, factor = 0.5 }
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNF_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    x, y = make_images(96, rng)
    xt, yt = make_images(30, rng)
    np.savez(tmp_path / "tiny.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    (tmp_path / "tiny.toml").write_text(SPEC)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def error_line(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


def params(model: nnf.Sequential) -> list[np.ndarray]:
    return [p for _, p, _ in model.named_parameters()]


# ------------------------------------------------------------------ fit == nnf train
def test_python_fit_with_callbacks_equals_nnf_train_bit_for_bit(work: Path) -> None:
    from nnf.callbacks import EarlyStopping, LearningRateScheduler, ModelCheckpoint
    from nnf.layers import Convolutional, Dense, Flatten, ReLU, Softmax

    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "cli", "-q")
    assert result.exit_code == 0, result.stderr

    data = np.load("tiny.npz")
    model = nnf.Sequential(
        [
            Convolutional(kernel_size=3, depth=2, bias="channel"),
            ReLU(),
            Flatten(),
            Dense(output_size=3),
            Softmax(),
        ],
        input_shape=(1, 8, 8),
        name="tiny",
    )
    model.fit(
        data["x_train"],  # uint8 (N, 8, 8): scaled and given its channel axis, as the CLI does
        data["y_train"],
        epochs=4,
        batch_size=8,
        learning_rate=0.01,
        validation_split=0.25,
        seed=3,
        verbose=0,
        callbacks=[
            ModelCheckpoint(last="py/last.nnf", best="py/best.nnf"),
            LearningRateScheduler("step", step_size=2, factor=0.5),
            EarlyStopping(monitor="val_loss", patience=2, min_delta=0.0001),
        ],
    )
    cli_model = nnf.load("cli/last.nnf")
    assert cli_model.training_state["epoch"] == model.training_state["epoch"]
    for a, b in zip(params(cli_model), params(model), strict=True):
        assert a.tobytes() == b.tobytes()
    for a, b in zip(params(nnf.load("cli/best.nnf")), params(nnf.load("py/best.nnf"))):
        assert a.tobytes() == b.tobytes()
    rates = [r["learning_rate"] for r in cli_model.training_state["history"]]
    assert rates == [0.01, 0.01, 0.005, 0.005][: len(rates)]


# ------------------------------------------------------------------ run folders
def test_config_json_trains_the_same_run_again(work: Path) -> None:
    assert run("train", "tiny.toml", "--data", "tiny.npz", "-o", "a", "-q").exit_code == 0
    result = run("train", "a/config.json", "-o", "b", "-q")  # was: unknown key 'nnf_version'
    assert result.exit_code == 0, result.stderr
    for p, q in zip(params(nnf.load("a/last.nnf")), params(nnf.load("b/last.nnf")), strict=True):
        assert p.tobytes() == q.tobytes()


def test_resume_a_run_folder_in_place(work: Path) -> None:
    args = ("--data", "tiny.npz", "-q", "--set", "early_stopping={patience=9}")
    assert run("train", "tiny.toml", "-o", "run", "--epochs", "2", *args).exit_code == 0
    result = run("train", "--resume", "run", "--epochs", "2", *args)
    assert result.exit_code == 0, result.stderr
    assert not Path("runs").exists()  # was: a new folder runs/<model name>
    rows = [json.loads(r) for r in Path("run/metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert nnf.load("run/last.nnf").training_state["epoch"] == 4
    line = error_line(run("train", "tiny.toml", "--resume"), 2)
    assert "spec" in line


def test_init_writes_commented_specs_that_build(work: Path) -> None:
    from nnf.spec import build_model

    for template in ("mlp", "lenet5", "regression"):
        result = run("init", f"{template}.toml", "--template", template)
        assert result.exit_code == 0, result.stderr
        text = Path(f"{template}.toml").read_text()
        assert text.count("# ") >= 3
        assert build_model(f"{template}.toml").num_params > 0
    line = error_line(run("init", "mlp.toml"), 2)
    assert "--force" in line
    result = run("train", "mlp.toml", "--epochs", "1", "-o", "m", "-q")
    assert result.exit_code == 0, result.stderr
    # Its early stopping watches val_loss: without validation data nothing is written.
    line = error_line(run("train", "mlp.toml", "-o", "m2", "--val-split", "0"), 2)
    assert "val_loss" in line and "--val-split" in line
    assert not Path("m2").exists()


# ------------------------------------------------------------------ regression
def test_regression_from_the_command_line(work: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=120)
    rows = "".join(f"{a:.4f},{np.sin(a):.4f}\n" for a in x)
    Path("sine.csv").write_text("x,target\n" + rows)
    Path("reg.toml").write_text(
        'input_shape = [1]\nlayers = [{ type = "Dense", output_size = 16 }, { type = "Tanh" },'
        ' { type = "Dense", output_size = 1 }]\n[training]\nepochs = 30\nlearning_rate = 0.02\n'
        "validation_split = 0.2\nseed = 0\n"
    )
    result = run("train", "reg.toml", "--data", "sine.csv", "-o", "reg", "--json")
    assert result.exit_code == 0, result.stderr  # was: y_train must be integer class labels
    out = json.loads(result.stdout)
    last = out["epochs"][-1]
    assert not any("acc" in key for key in last)
    assert {"mae", "val_mae", "val_rmse", "val_r2"} <= set(last)
    config = json.loads(Path("reg/config.json").read_text())
    assert config["training"]["loss"] == "mse"
    scores = json.loads(run("evaluate", "reg/last.nnf", "--split", "train", "--json").stdout)
    assert scores["task"] == "regression" and "accuracy" not in scores
    assert scores["r2"] > 0.8
    text = run("evaluate", "reg/last.nnf", "--split", "train").stdout
    assert "rmse" in text and "accuracy" not in text


# ------------------------------------------------------------------ own data
def write_pngs(root: Path, count: int, size: tuple[int, int] = (8, 8)) -> None:
    image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(1)
    x, y = make_images(count, rng)
    names = ["down", "middle", "up"]
    for i, (pixels, label) in enumerate(zip(x, y)):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        image.fromarray(pixels).resize(size[::-1]).save(folder / f"{i}.png")


def test_train_evaluate_predict_an_image_folder(work: Path) -> None:
    write_pngs(work / "photos" / "train", 60, size=(10, 12))
    write_pngs(work / "photos" / "test", 15, size=(10, 12))
    result = run("train", "tiny.toml", "--data", "photos", "-o", "p", "-q")
    line = error_line(result, 2)
    assert "(1, 8, 8)" in line  # not silently reshaped: --resize is the fix
    result = run("train", "tiny.toml", "--data", "photos", "--resize", "-o", "p", "-q", "--json")
    assert result.exit_code == 0, result.stderr
    assert nnf.load("p/last.nnf").class_names == ("down", "middle", "up")
    result = run("evaluate", "p/last.nnf", "--resize")
    assert result.exit_code == 0, result.stderr
    assert "middle" in result.stdout and "confusion matrix" in result.stdout
    result = run("predict", "p/last.nnf", "photos/test/up", "--resize")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines and all(line.startswith("photos/test/up/") for line in lines)
    assert all(any(n in line for n in ("down", "middle", "up")) for line in lines)


def test_predict_one_png_and_refuse_other_files(work: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    assert run("train", "tiny.toml", "--data", "tiny.npz", "-o", "t", "-q").exit_code == 0
    image.fromarray(np.full((8, 8), 200, np.uint8)).save("one.png")
    result = run("predict", "t/last.nnf", "one.png", "--json")
    assert result.exit_code == 0, result.stderr  # was: a message about pickles
    (prediction,) = json.loads(result.stdout)["predictions"]
    assert prediction["input"] == "one.png" and prediction["name"] in ("0", "1", "2")
    Path("notes.txt").write_text("hello")
    line = error_line(run("predict", "t/last.nnf", "notes.txt"), 1)
    assert "not an image, .npy or .npz" in line and "pickle" not in line


def test_channels_last_arrays_are_transposed_or_refused(work: Path) -> None:
    assert run("train", "tiny.toml", "--data", "tiny.npz", "-o", "t", "-q").exit_code == 0
    x = np.load("tiny.npz")["x_test"]
    np.save("chw.npy", x[:, None])
    np.save("hwc.npy", x[:, :, :, None])
    a = json.loads(run("predict", "t/last.nnf", "chw.npy", "--json").stdout)
    b = json.loads(run("predict", "t/last.nnf", "hwc.npy", "--json").stdout)
    assert a["predictions"] == b["predictions"]
    np.save("rgb.npy", np.repeat(x[:, :, :, None], 3, axis=3))
    line = error_line(run("predict", "t/last.nnf", "rgb.npy"), 2)
    assert "channels-last" in line and "3 channels" in line


def test_csv_with_class_names_from_the_command_line(work: Path) -> None:
    rng = np.random.default_rng(0)
    rows = ["length,kind,width"]
    for _ in range(90):
        kind = rng.integers(0, 3)
        rows.append(f"{kind + rng.normal(0, 0.1):.3f},{'abc'[kind]}x,{rng.normal():.3f}")
    Path("t.csv").write_text("\n".join(rows) + "\n")
    Path("mlp.toml").write_text(
        'input_shape = [2]\nlayers = [{ type = "Dense", output_size = 3 }, { type = "Softmax" }]'
    )
    args = ("--data", "t.csv", "--label-column", "kind", "--epochs", "2", "-q")
    result = run("train", "mlp.toml", *args, "-o", "c")
    assert result.exit_code == 0, result.stderr
    assert nnf.load("c/last.nnf").class_names == ("ax", "bx", "cx")
    scores = json.loads(
        run("evaluate", "c/last.nnf", "--split", "train", "--label-column", "kind", "--json").stdout
    )
    assert [c["name"] for c in scores["per_class"]] == ["ax", "bx", "cx"]


def test_readme_predict_example_works(work: Path) -> None:
    """README: ``nnf predict runs/lenet5/last.nnf examples/own_data/digits/`` (a file that
    exists in the checkout; the README's former digits.npy existed nowhere)."""
    readme = (ROOT / "README.md").read_text()
    assert "nnf predict runs/lenet5/last.nnf examples/own_data/digits/" in readme
    result = run("build", str(ROOT / "examples/specs/lenet5.toml"), "-o", "l.nnf", "--seed", "0")
    assert result.exit_code == 0, result.stderr
    result = run("predict", "l.nnf", str(ROOT / "examples/own_data/digits"))
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 10


# ------------------------------------------------------------------ CLI defects
def test_force_with_bad_data_keeps_the_earlier_runs_files(work: Path) -> None:
    assert run("train", "tiny.toml", "--data", "tiny.npz", "-o", "r", "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in Path("r").iterdir()}
    assert "best.nnf" in before
    result = run("train", "tiny.toml", "--data", "missing.npz", "-o", "r", "--force", "-q")
    error_line(result, 1)
    assert {p.name: p.read_bytes() for p in Path("r").iterdir()} == before


@pytest.mark.parametrize("force", [(), ("--force",)])
def test_output_under_a_plain_file_says_not_a_folder(work: Path, force: tuple[str, ...]) -> None:
    Path("afile").write_text("x")
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "afile/out.nnf", *force)
    line = error_line(result, 2)
    assert "afile is a file, not a folder" in line and "File exists" not in line


def test_zero_epochs_report_only_files_written(work: Path) -> None:
    args = ("train", "tiny.toml", "--data", "tiny.npz", "--epochs", "0", "--val-split", "0.2")
    result = run(*args, "-o", "z")
    assert result.exit_code == 0, result.stderr
    assert "best" not in result.stdout and not Path("z/best.nnf").exists()
    result = run(*args, "-o", "z2", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["best"] is None and out["metrics"] is None
    assert out["model"] == "z2/last.nnf" and Path(out["model"]).exists()
    assert not Path("z2/metrics.jsonl").exists()


def test_epoch_line_is_printed_after_its_checkpoint(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nnf.callbacks.progress import ProgressBar

    seen: list[tuple[int, int]] = []
    real = ProgressBar.on_epoch_end

    def checked(self, epoch, logs, model):  # what last.nnf holds when the line is printed
        seen.append((epoch + 1, nnf.load("e/last.nnf").training_state["epoch"]))
        return real(self, epoch, logs, model)

    monkeypatch.setattr(ProgressBar, "on_epoch_end", checked)
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "e", "--epochs", "2")
    assert result.exit_code == 0, result.stderr
    assert seen == [(1, 1), (2, 2)]
