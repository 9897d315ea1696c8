"""The ``nnf`` command through click's CliRunner: every command, its outputs and its errors.

Training runs on a tiny synthetic dataset (3 classes of 8x8 images) so the file stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import nnf
import numpy as np
import pytest
from click.testing import CliRunner, Result
from nnf.cli import cli
from toy_images import make_images

TINY_SPEC = """
name = "tiny"
input_shape = [1, 8, 8]

[[layers]]
type = "Convolutional"
kernel_size = 3
depth = 2
bias = "channel"

[[layers]]
type = "ReLU"

[[layers]]
type = "Flatten"

[[layers]]
type = "Dense"
output_size = 3

[[layers]]
type = "Softmax"

[training]
epochs = 2
batch_size = 8
learning_rate = 0.01
seed = 1
"""

MLP_SPEC = """
input_shape = [64]
[[layers]]
type = "Dense"
output_size = 3
[[layers]]
type = "Softmax"
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a tiny spec and dataset; the cache points inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NNF_DATA_DIR", raising=False)
    rng = np.random.default_rng(0)
    x_train, y_train = make_images(96, rng)
    x_test, y_test = make_images(30, rng)
    np.savez(tmp_path / "tiny.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    (tmp_path / "tiny.toml").write_text(TINY_SPEC)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def assert_one_line_error(result: Result, code: int, *needles: str) -> str:
    """Exit ``code``; stderr ends with one ``nnf: error: ...`` line and has no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("nnf: ")]
    assert errors == lines[-1:], result.stderr
    assert errors[0].startswith("nnf: error: "), errors[0]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.fixture
def trained(work: Path) -> Path:
    """A model trained for 2 epochs with validation data, in work/run."""
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "run", "--val-split", "0.25")
    assert result.exit_code == 0, result.stderr
    return work / "run"


# ----------------------------------------------------------------------------- help
COMMANDS = ["init", "build", "train", "evaluate", "predict", "summary", "inspect", "layers"]


def test_group_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"  {command} " in result.stdout
    assert "Exit codes" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_has_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert f"nnf {command}" in result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert nnf.__version__ in result.stdout


def test_usage_error_is_one_line_with_exit_2(work: Path) -> None:
    result = run("train", "tiny.toml", "--epoch", "3")
    line = assert_one_line_error(result, 2, "--epoch")
    assert "nnf train --help" in line


def test_no_command_shows_help() -> None:
    result = run()
    assert "Commands:" in result.stdout + result.stderr


# ---------------------------------------------------------------------------- build
def test_build_writes_a_loadable_model(work: Path) -> None:
    result = run("build", "tiny.toml", "-o", "tiny.nnf", "--seed", "5")
    assert result.exit_code == 0, result.stderr
    assert "Total params" in result.stdout
    assert "wrote tiny.nnf" in result.stdout
    model = nnf.load(work / "tiny.nnf")
    assert model.seed == 5
    assert model.output_shape == (3,)


def test_build_default_output_and_json(work: Path) -> None:
    result = run("build", "tiny.toml", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "tiny.nnf"
    assert (work / "tiny.nnf").is_file()
    assert data["params"] == nnf.load(work / "tiny.nnf").num_params


def test_build_never_overwrites_without_force(work: Path) -> None:
    (work / "tiny.nnf").write_bytes(b"precious")
    result = run("build", "tiny.toml", "-o", "tiny.nnf")
    assert_one_line_error(result, 2, "already exists", "--force")
    assert (work / "tiny.nnf").read_bytes() == b"precious"
    assert run("build", "tiny.toml", "-o", "tiny.nnf", "--force", "-q").exit_code == 0
    assert nnf.load(work / "tiny.nnf").output_shape == (3,)


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        (None, ("spec file", "does not exist")),
        ("input_shape = [1, 8, 8\n", ("not valid TOML",)),
        (TINY_SPEC.replace('"Convolutional"', '"Convolution"'), ("layer 0", "did you mean")),
        (TINY_SPEC.replace("output_size", "units"), ("layer 3", "valid options", "output_size")),
        (TINY_SPEC.replace('type = "Flatten"', 'type = "ReLU"'), ("layer 3", "shapes so far")),
    ],
)
def test_build_spec_errors(work: Path, spec: str | None, needles: tuple[str, ...]) -> None:
    path = work / "bad.toml"
    if spec is not None:
        path.write_text(spec)
    (work / "bad.nnf").write_bytes(b"keep")
    result = run("build", str(path), "-o", "bad.nnf", "--force")
    assert_one_line_error(result, 2, *needles)
    assert (work / "bad.nnf").read_bytes() == b"keep"


def test_debug_shows_the_traceback(work: Path) -> None:
    result = run("--debug", "build", "missing.toml")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("nnf: error: ")


# ---------------------------------------------------------------------------- train
def test_train_writes_models_config_and_metrics(trained: Path) -> None:
    for name in ("last.nnf", "best.nnf", "config.json", "metrics.jsonl"):
        assert (trained / name).is_file(), name
    config = json.loads((trained / "config.json").read_text())
    assert config["training"]["seed"] == 1
    assert config["training"]["epochs"] == 2
    assert config["training"]["validation_split"] == 0.25
    assert config["training"]["loss"] == "categorical_crossentropy"
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    model = nnf.load(trained / "last.nnf")
    assert model.training_state["epoch"] == 2
    assert model.training_state["seed"] == 1


def test_train_reports_test_accuracy_and_paths(work: Path) -> None:
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "out", "--epochs", "3")
    assert result.exit_code == 0, result.stderr
    assert "test accuracy" in result.stdout
    assert f"model written to {Path('out') / 'last.nnf'}" in result.stdout
    # Progress goes to stderr, one plain line per epoch when not on a terminal.
    epoch_lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 3
    assert "epoch 3/3" in epoch_lines[-1]
    assert not (work / "out" / "best.nnf").exists()  # no validation data, no best model


def test_train_learns_the_tiny_task(work: Path) -> None:
    result = run(
        "train", "tiny.toml", "--data", "tiny.npz", "-o", "m.nnf", "--epochs", "8", "--json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["test"]["accuracy"] >= 0.9
    assert data["model"] == "m.nnf"
    assert Path(data["metrics"]).name == "m.metrics.jsonl"
    assert len(data["epochs"]) == 8


def test_train_quiet_prints_only_results(work: Path) -> None:
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "q", "-q")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "test accuracy" in result.stdout


def test_train_default_output_folder_never_reused(work: Path) -> None:
    for _ in range(2):
        assert run("train", "tiny.toml", "--data", "tiny.npz", "-q", "--epochs", "1").exit_code == 0
    assert (work / "runs" / "tiny" / "last.nnf").is_file()
    assert (work / "runs" / "tiny-2" / "last.nnf").is_file()


def test_train_refuses_to_overwrite_a_run(trained: Path) -> None:
    before = {p.name: p.read_bytes() for p in trained.iterdir()}
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "run")
    assert_one_line_error(result, 2, "already exists", "--force")
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == before
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "run", "--force", "-q")
    assert result.exit_code == 0
    assert not (trained / "best.nnf").exists()  # this run had no validation data
    assert nnf.load(trained / "last.nnf").training_state["history"][0]["epoch"] == 1


def test_flags_and_set_override_the_spec(work: Path) -> None:
    result = run(
        "train",
        "tiny.toml",
        "--data",
        "tiny.npz",
        "-o",
        "o",
        "-q",
        "--set",
        "epochs=1",
        "--set",
        "optimizer=sgd",
        "--set",
        "optimizer_options={momentum=0.9}",
        "--batch-size",
        "16",
        "--seed",
        "9",
    )
    assert result.exit_code == 0, result.stderr
    config = json.loads((work / "o" / "config.json").read_text())["training"]
    assert config["epochs"] == 1
    assert config["optimizer"] == "sgd"
    assert config["optimizer_options"] == {"momentum": 0.9}
    assert config["batch_size"] == 16
    assert config["seed"] == 9


def test_set_layer_option_changes_the_architecture(work: Path) -> None:
    result = run("build", "tiny.toml", "-q")
    assert result.exit_code == 0
    result = run(
        "train",
        "tiny.toml",
        "--data",
        "tiny.npz",
        "-o",
        "o",
        "-q",
        "--epochs",
        "1",
        "--set",
        "layers.0.depth=4",
    )
    assert result.exit_code == 0, result.stderr
    assert nnf.load(work / "o" / "last.nnf").layers[0].params["kernels"].shape[0] == 4


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--set", "epoch=3"), ("unknown key", "did you mean 'epochs'")),
        (("--set", "epochs"), ("key=value",)),
        (("--loss", "hinge"), ("unknown loss",)),
        (("--resume",), ("--resume", ".nnf")),
    ],
)
def test_train_setting_errors(work: Path, args: tuple[str, ...], needles: tuple[str, ...]) -> None:
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "o", *args)
    assert_one_line_error(result, 2, *needles)
    assert not (work / "o").exists()


def test_mlp_spec_takes_flattened_images(work: Path) -> None:
    (work / "mlp.toml").write_text(MLP_SPEC)
    result = run("train", "mlp.toml", "--data", "tiny.npz", "-o", "mlp", "-q", "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    assert "test accuracy" in result.stdout


def test_incompatible_data_shape(work: Path) -> None:
    np.savez(
        work / "wide.npz", x_train=np.zeros((10, 5, 5), np.uint8), y_train=np.zeros(10, np.uint8)
    )
    result = run("train", "tiny.toml", "--data", "wide.npz", "-o", "o")
    assert_one_line_error(result, 2, "(1, 8, 8)", "(5, 5)")
    assert not (work / "o" / "last.nnf").exists()


def test_more_classes_than_outputs(work: Path) -> None:
    x = np.zeros((12, 8, 8), np.uint8)
    np.savez(work / "many.npz", x_train=x, y_train=np.arange(12, dtype=np.uint8) % 6)
    result = run("train", "tiny.toml", "--data", "many.npz", "-o", "o")
    assert_one_line_error(result, 2, "6 classes", "outputs 3")


def test_missing_or_unknown_data(work: Path) -> None:
    result = run("train", "tiny.toml", "--data", "nowhere.npz", "-o", "o")
    assert_one_line_error(result, 1, "nowhere.npz")


def test_unavailable_dataset_without_download(work: Path) -> None:
    result = run("train", "tiny.toml", "--data", "mnist", "--no-download", "-o", "o")
    assert_one_line_error(result, 1, "mnist", "not found")


def test_failing_download_is_one_line(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mirror on 127.0.0.1 that answers 500: exit 1, nothing cached, no internet used."""
    import http.server
    import threading

    import attrs
    from nnf.datasets import remote

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(500, "broken mirror")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        local = attrs.evolve(
            remote.REMOTES["mnist"], mirrors=(f"http://127.0.0.1:{server.server_port}/",)
        )
        monkeypatch.setitem(remote.REMOTES, "mnist", local)
        result = run("train", "tiny.toml", "--data", "mnist", "-o", "o", "-q")
    finally:
        server.shutdown()
        server.server_close()
    assert_one_line_error(result, 1, "500")
    cached = list((work / "cache").rglob("*.gz")) if (work / "cache").exists() else []
    assert cached == []
    assert not (work / "o" / "last.nnf").exists()


def test_nan_loss_stops_and_keeps_the_last_good_model(work: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = make_images(40, rng)
    x = x.astype(np.float32) / 255
    x[-1, 0, 0] = np.nan  # reached in the second epoch's shuffled order or the first
    np.savez(work / "nan.npz", x_train=x, y_train=y)
    result = run(
        "train",
        "tiny.toml",
        "--data",
        "nan.npz",
        "-o",
        "o",
        "--set",
        "loss='mse'",
        "--set",
        "shuffle=false",
    )
    line = assert_one_line_error(result, 1, "training stopped", "nan", "last good model")
    assert str(Path("o") / "last.nnf") in line
    model = nnf.load(work / "o" / "last.nnf")
    assert all(np.isfinite(p).all() for layer in model.layers for p in layer.params.values())


def test_ctrl_c_saves_and_exits_130(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nnf.training

    real_step = nnf.training.train_step
    calls = {"n": 0}

    def interrupted_step(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 15:  # in the second epoch (12 batches per epoch)
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(nnf.training, "train_step", interrupted_step)
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "o", "--epochs", "5")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    assert "after epoch 1" in result.stderr
    assert "Traceback" not in result.stderr
    model = nnf.load(work / "o" / "last.nnf")
    assert model.training_state["epoch"] == 1
    assert len((work / "o" / "metrics.jsonl").read_text().splitlines()) == 1


def test_resume_continues_exactly(work: Path) -> None:
    assert (
        run(
            "train", "tiny.toml", "--data", "tiny.npz", "-o", "full", "-q", "--epochs", "4"
        ).exit_code
        == 0
    )
    assert (
        run(
            "train", "tiny.toml", "--data", "tiny.npz", "-o", "half", "-q", "--epochs", "2"
        ).exit_code
        == 0
    )
    result = run("train", "half/last.nnf", "--resume", "-o", "rest", "--epochs", "2", "-q")
    assert result.exit_code == 0, result.stderr
    full, rest = nnf.load(work / "full" / "last.nnf"), nnf.load(work / "rest" / "last.nnf")
    assert rest.training_state["epoch"] == 4
    for a, b in zip(full.layers, rest.layers, strict=True):
        for k in a.params:
            np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-5, atol=1e-6)
    rows = (work / "rest" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("optimizer", "options"),
    [("rmsprop", "{momentum = 0.9, clipnorm = 0.5}"), ("adamw", "{clipvalue = 0.01}")],
)
def test_spec_optimizers_and_clipping_resume_bit_for_bit(
    work: Path, monkeypatch: pytest.MonkeyPatch, optimizer: str, options: str
) -> None:
    monkeypatch.setenv("NNF_NUM_THREADS", "1")  # the same split on both sides: exact equality
    spec = TINY_SPEC + f'optimizer = "{optimizer}"\noptimizer_options = {options}\n'
    (work / "opt.toml").write_text(spec)
    for out, epochs in (("full", "3"), ("half", "1")):
        result = run("train", "opt.toml", "--data", "tiny.npz", "-o", out, "-q", "--epochs", epochs)
        assert result.exit_code == 0, result.stderr
    result = run("train", "half/last.nnf", "--resume", "-o", "rest", "--epochs", "2", "-q")
    assert result.exit_code == 0, result.stderr
    full, rest = nnf.load(work / "full" / "last.nnf"), nnf.load(work / "rest" / "last.nnf")
    assert type(rest.optimizer).__name__.lower() == optimizer
    assert rest.optimizer.get_config() == full.optimizer.get_config()
    assert (rest.optimizer.clipnorm or rest.optimizer.clipvalue) is not None
    for a, b in zip(full.layers, rest.layers, strict=True):
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])


def test_resume_of_a_finished_run_asks_for_epochs(trained: Path) -> None:
    result = run("train", "run/last.nnf", "--resume", "-o", "more")
    assert_one_line_error(result, 2, "already finished", "--epochs")


def test_fine_tune_a_model_file_restarts_the_count(trained: Path) -> None:
    result = run("train", "run/last.nnf", "-o", "tuned", "-q", "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    model = nnf.load(trained.parent / "tuned" / "last.nnf")
    assert model.training_state["epoch"] == 1
    # Settings not given again come from the saved run: its data and validation split.
    config = json.loads((trained.parent / "tuned" / "config.json").read_text())["training"]
    assert Path(config["data"]).name == "tiny.npz"
    assert config["validation_split"] == 0.25


def test_plot_without_matplotlib_says_how_to_install(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:  # as if matplotlib were absent
        return None if name == "matplotlib" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "o", "--plot", "c.png")
    assert_one_line_error(result, 2, "pip install 'nnf-framework[plot]'")
    assert not (work / "o").exists()


def test_plot_writes_an_image(work: Path) -> None:
    pytest.importorskip("matplotlib")
    result = run(
        "train",
        "tiny.toml",
        "--data",
        "tiny.npz",
        "-o",
        "o",
        "-q",
        "--plot",
        "c.png",
        "--val-split",
        "0.25",
    )
    assert result.exit_code == 0, result.stderr
    assert (work / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------- evaluate
def test_evaluate_text(trained: Path) -> None:
    result = run("evaluate", "run/last.nnf")  # the data comes from the saved run
    assert result.exit_code == 0, result.stderr
    assert "accuracy" in result.stdout
    assert "confusion matrix" in result.stdout
    assert "30 samples" in result.stdout


def test_evaluate_json(trained: Path) -> None:
    result = run("evaluate", "run/best.nnf", "--data", "tiny.npz", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    matrix = np.array(data["confusion_matrix"])
    assert matrix.shape == (3, 3)
    assert matrix.sum() == data["samples"] == 30
    assert data["accuracy"] == pytest.approx(np.trace(matrix) / 30)
    assert [c["samples"] for c in data["per_class"]] == matrix.sum(axis=1).tolist()
    assert data["loss"] > 0


def test_evaluate_train_split_and_missing_test(trained: Path) -> None:
    np.savez(
        trained.parent / "trainonly.npz",
        x_train=np.zeros((6, 8, 8), np.uint8),
        y_train=np.array([0, 1, 2, 0, 1, 2], np.uint8),
    )
    result = run("evaluate", "run/last.nnf", "--data", "trainonly.npz")
    assert_one_line_error(result, 2, "no test split", "--split train")
    result = run("evaluate", "run/last.nnf", "--data", "trainonly.npz", "--split", "train")
    assert result.exit_code == 0
    assert "6 samples" in result.stdout


def test_evaluate_errors(trained: Path) -> None:
    assert_one_line_error(run("evaluate", "nope.nnf"), 2, "model file", "does not exist")
    corrupt = trained / "corrupt.nnf"
    corrupt.write_bytes((trained / "last.nnf").read_bytes()[:-40] + b"\0" * 40)
    assert_one_line_error(run("evaluate", str(corrupt)), 1)
    np.savez(
        trained.parent / "wide.npz",
        x_train=np.zeros((4, 5, 5), np.uint8),
        y_train=np.zeros(4, np.uint8),
        x_test=np.zeros((4, 5, 5), np.uint8),
        y_test=np.zeros(4, np.uint8),
    )
    assert_one_line_error(run("evaluate", "run/last.nnf", "--data", "wide.npz"), 2, "(1, 8, 8)")


# -------------------------------------------------------------------------- predict
def test_predict_one_sample_and_a_batch(trained: Path) -> None:
    data = np.load(trained.parent / "tiny.npz")
    np.save(trained.parent / "one.npy", data["x_test"][0])
    result = run("predict", "run/last.nnf", "one.npy", "--top", "2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("0: ")
    assert lines[0].count("(") == 2
    np.savez(trained.parent / "batch.npz", x=data["x_test"][:5])
    result = run("predict", "run/last.nnf", "batch.npz", "--json")
    assert result.exit_code == 0, result.stderr
    predictions = json.loads(result.stdout)["predictions"]
    assert len(predictions) == 5
    for p in predictions:
        assert sum(p["probabilities"]) == pytest.approx(1, abs=1e-5)
        assert p["class"] == int(np.argmax(p["probabilities"]))
        assert p["name"] == str(p["class"])


def test_predict_errors(trained: Path) -> None:
    folder = trained.parent
    assert_one_line_error(run("predict", "run/last.nnf", "nope.npy"), 2, "does not exist")
    np.save(folder / "wrong.npy", np.zeros((3, 5, 5), np.uint8))
    assert_one_line_error(run("predict", "run/last.nnf", "wrong.npy"), 2, "(1, 8, 8)")
    np.savez(folder / "two.npz", a=np.zeros(64), b=np.zeros(64))
    assert_one_line_error(run("predict", "run/last.nnf", "two.npz"), 2, "a, b", "--key")
    assert run("predict", "run/last.nnf", "two.npz", "--key", "b", "-q").exit_code == 0
    (folder / "junk.npy").write_bytes(b"not an array")
    assert_one_line_error(run("predict", "run/last.nnf", "junk.npy"), 1, "junk.npy")


# ----------------------------------------------------------------- summary, inspect
def test_summary_of_spec_and_model(trained: Path) -> None:
    from_spec = run("summary", "tiny.toml")
    from_model = run("summary", "run/last.nnf")
    assert from_spec.exit_code == from_model.exit_code == 0
    assert "Total params" in from_spec.stdout
    assert from_spec.stdout.splitlines()[-2:] == from_model.stdout.splitlines()[-2:]
    data = json.loads(run("summary", "tiny.toml", "--json").stdout)
    assert data["output_shape"] == [3]
    assert data["layers"][0]["output_shape"] == [2, 6, 6]


def test_summary_errors(work: Path) -> None:
    (work / "bad.toml").write_text(TINY_SPEC.replace('"ReLU"', '"Relu"'))
    assert_one_line_error(run("summary", "bad.toml"), 2, "did you mean")
    (work / "junk.nnf").write_bytes(b"\x00" * 100)
    assert_one_line_error(run("summary", "junk.nnf"), 1)


def test_inspect(trained: Path) -> None:
    result = run("inspect", "run/last.nnf")
    assert result.exit_code == 0, result.stderr
    assert "nnf.Convolutional.v1" in result.stdout
    assert "optimizer: adam" in result.stdout
    data = json.loads(run("inspect", "run/last.nnf", "--json").stdout)
    assert data["model"]["name"] == "tiny"
    assert data["training"]["epoch"] == 2
    assert "nnf.run" in data["metadata"]


def test_inspect_errors(work: Path) -> None:
    assert_one_line_error(run("inspect", "nope.nnf"), 2, "does not exist")
    (work / "junk.nnf").write_bytes(b"PK\x03\x04 definitely not msgpack")
    assert_one_line_error(run("inspect", "junk.nnf"), 1)


# --------------------------------------------------------------------------- layers
def test_layers_lists_builtin_keys() -> None:
    result = run("layers")
    assert result.exit_code == 0
    for key in ("nnf.Dense.v1", "nnf.Convolutional.v1", "nnf.Softmax.v1"):
        assert key in result.stdout


def test_layers_check_json() -> None:
    result = run("layers", "--check", "--json")
    entries = json.loads(result.stdout)
    builtin = [e for e in entries if e["dist"] == "nnf-framework"]
    assert {e["status"] for e in builtin} == {"ok"}
    assert result.exit_code == (0 if all(e["status"] == "ok" for e in entries) else 1)


def test_layers_config_lists_every_option() -> None:
    result = run("layers", "--config")
    assert result.exit_code == 0
    block = result.stdout.split("\nnnf.MaxPool2D.v1\n", 1)[1].split("\n\n", 1)[0]
    assert "pool_size" in block and "int >= 1" in block and "2" in block
    assert "stride" in block and "null" in block and "s = pool_size" in block
    assert "nnf.Softmax.v1: no options" in result.stdout


def test_layers_config_json_matches_the_layers_fields() -> None:
    from nnf.layer_options import layer_options

    entries = json.loads(run("layers", "--config", "--json").stdout)
    for entry in entries:
        if entry["status"] != "ok":
            assert entry["options"] is None
            continue
        cls = nnf.get_layer(entry["key"])
        assert [o["name"] for o in entry["options"]] == list(cls.config_fields())
        assert entry["options"] == [o.as_dict() for o in layer_options(cls)]
    dense = next(e for e in entries if e["key"] == "nnf.Dense.v1")
    init = next(o for o in dense["options"] if o["name"] == "init")
    assert init["default"] == "glorot" and init["choices"] == ["glorot", "he", "normal"]


# ------------------------------------------------------------------------- progress
class FakeStream:
    def __init__(self, tty: bool) -> None:
        self.text, self.tty = "", tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty


def test_progress_on_a_terminal_draws_a_bar_then_the_epoch_line() -> None:
    from nnf.callbacks import ProgressBar

    stream = FakeStream(tty=True)
    progress = ProgressBar(stream=stream, min_interval=0)  # type: ignore[arg-type]
    progress.on_train_begin(None, {"first_epoch": 1, "last_epoch": 3})  # type: ignore[arg-type]
    progress.on_epoch_begin(0, None)  # type: ignore[arg-type]
    for batch in range(4):
        progress.on_batch_end(batch, 4, {"loss": 0.5, "accuracy": 0.75})
    assert "\r" in stream.text
    assert "epoch 1/3 [" in stream.text
    assert "4/4 ETA 0:00" in stream.text
    assert "loss 0.5000  acc 0.7500" in stream.text
    progress.on_epoch_end(0, {"epoch": 1, "loss": 0.4, "val_loss": 0.3, "seconds": 2.0}, None)  # type: ignore[arg-type]
    last = stream.text.split("\r")[-1]
    assert last.startswith("epoch 1/3  loss 0.4000  val_loss 0.3000  (2.0s)")
    assert last.endswith("\n")


def test_progress_in_a_log_is_one_plain_line_per_epoch() -> None:
    from nnf.callbacks import ProgressBar

    stream = FakeStream(tty=False)
    progress = ProgressBar(stream=stream)  # type: ignore[arg-type]
    progress.on_train_begin(None, {"first_epoch": 4, "last_epoch": 5})  # type: ignore[arg-type]
    progress.on_batch_end(0, 10, {"loss": 1.0})  # ignored when not a terminal
    logs = {"epoch": 4, "loss": 0.25, "accuracy": 0.5, "learning_rate": 0.001, "seconds": 1.25}
    progress.on_epoch_end(3, logs, None)  # type: ignore[arg-type]
    progress.on_epoch_end(4, {"epoch": 5, "loss": 0.125, "seconds": 1.0}, None)  # type: ignore[arg-type]
    assert stream.text == (
        "epoch 4/5  loss 0.2500  acc 0.5000  lr 0.001  (1.2s)\nepoch 5/5  loss 0.1250  (1.0s)\n"
    )


def test_layers_check_reports_a_broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from nnf.registry import REGISTRY, PluginEntry

    broken = PluginEntry(
        key="acme.Gated.v1",
        value="acme_layers.gated:Gated",
        dist="acme-layers",
        dist_version="0.3",
        status="broken",
        cause="importing acme_layers.gated raised ImportError: no module named 'torch'",
    )
    monkeypatch.setattr(REGISTRY, "check", lambda: [*REGISTRY.entries(), broken])
    result = run("layers", "--check")
    assert result.exit_code == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith("acme.Gated.v1"))
    assert "acme-layers" in row and "0.3" in row
    assert "broken: importing acme_layers.gated raised ImportError" in row


def test_layers_config_with_a_broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from nnf.registry import REGISTRY, PluginEntry

    broken = PluginEntry(
        key="acme.Gated.v1",
        value="acme_layers.gated:Gated",
        dist="acme-layers",
        dist_version="0.3",
        status="broken",
        cause="ImportError",
    )
    monkeypatch.setattr(REGISTRY, "check", lambda: [*REGISTRY.entries(), broken])
    result = run("layers", "--config")
    assert result.exit_code == 0  # listing options is not a check
    assert "acme.Gated.v1: options unknown (broken)" in result.stdout
    entries = json.loads(run("layers", "--config", "--json").stdout)
    assert next(e for e in entries if e["key"] == "acme.Gated.v1")["options"] is None


def test_run_files_layouts(tmp_path: Path) -> None:
    from nnf.cli.train_config import run_files

    beside = run_files("out/m.nnf", "x")
    assert (beside.last, beside.best) == (Path("out/m.nnf"), Path("out/m.best.nnf"))
    assert (beside.config, beside.metrics) == (
        Path("out/m.config.json"),
        Path("out/m.metrics.jsonl"),
    )
    assert run_files("out", "x").last == Path("out/last.nnf")
    (tmp_path / "evil_x_y").mkdir()
    assert (
        run_files(None, "../evil/x y", runs_dir=tmp_path).last
        == tmp_path / "evil_x_y-2" / "last.nnf"
    )


def test_lazy_export_command(trained: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("nnf.export") is None:
        pytest.skip("nnf.export is not part of this tree")
    assert "  export " in run("--help").stdout
    result = run("export", "run/last.nnf", "-o", "weights.npz")
    assert result.exit_code == 0, result.stderr
    with np.load(trained.parent / "weights.npz") as archive:
        assert any(name.endswith(".kernels") for name in archive.files)


# ------------------------------------------------------------------ review regressions
def test_set_training_prefix_counts_with_resume(trained: Path) -> None:
    # `training.epochs` is `epochs`: it asks for more epochs instead of "already finished".
    result = run("train", "run/last.nnf", "--resume", "-o", "more", "-q")
    assert_one_line_error(result, 2, "already finished")
    result = run(
        "train",
        "run/last.nnf",
        "--resume",
        "-o",
        "more",
        "-q",
        "--set",
        "training.epochs=1",
        "--set",
        "training.optimizer=sgd",
    )
    assert result.exit_code == 0, result.stderr
    model = nnf.load(trained.parent / "more" / "last.nnf")
    assert model.training_state["epoch"] == 3
    assert model.optimizer is not None and model.optimizer.name == "sgd"  # not the saved Adam


def _val_losses(path: Path) -> list[float]:
    return [r["val_loss"] for r in nnf.load(path).training_state["history"] if "val_loss" in r]


def test_resumed_best_is_never_worse_than_an_earlier_epoch(trained: Path) -> None:
    from nnf.callbacks import ModelCheckpoint
    from nnf.cli.checkpoints import earlier_best
    from nnf.cli.train_config import run_files

    model = nnf.load(trained / "last.nnf")
    history = [r["val_loss"] for r in model.training_state["history"]]
    files = run_files("more", model.name)
    best = earlier_best(model, "run/last.nnf", files)
    assert best == min(history)
    # The earlier best model comes along, so best.nnf exists and matches its loss.
    assert files.best.read_bytes() == (trained / "best.nnf").read_bytes()
    saver = ModelCheckpoint(best=files.best, best_so_far=best)
    saver.on_train_begin(model, {})
    saver.on_epoch_end(2, {"epoch": 3, "loss": 1.0, "val_loss": best + 1.0}, model)
    assert files.best.read_bytes() == (trained / "best.nnf").read_bytes()  # a worse epoch
    # End to end: best.nnf holds the lowest val_loss of the whole history.
    result = run("train", "run/last.nnf", "--resume", "-o", "more2", "-q", "--epochs", "2")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(r) for r in (trained.parent / "more2" / "metrics.jsonl").open()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert _val_losses(trained.parent / "more2" / "best.nnf")[-1] == min(
        r["val_loss"] for r in rows
    )


def test_resume_without_the_earlier_best_keeps_this_sessions_best(trained: Path) -> None:
    (trained / "best.nnf").unlink()
    result = run("train", "run/last.nnf", "--resume", "-o", "more", "-q", "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    assert len(_val_losses(trained.parent / "more" / "best.nnf")) == 3


def test_learning_rate_inside_optimizer_options_is_refused_before_writing(work: Path) -> None:
    result = run(
        "train",
        "tiny.toml",
        "--data",
        "tiny.npz",
        "-o",
        "o",
        "--set",
        "optimizer_options={learning_rate=0.01}",
    )
    assert_one_line_error(result, 2, "learning_rate", "--lr", "optimizer_options")
    assert not (work / "o").exists()


def test_fine_tune_with_another_optimizer_drops_the_saved_options(work: Path) -> None:
    args = ("--data", "tiny.npz", "-q", "--epochs", "1")
    result = run("train", "tiny.toml", "-o", "a", "--set", "optimizer_options={beta1=0.8}", *args)
    assert result.exit_code == 0, result.stderr
    for extra in (("--optimizer", "sgd"), ("--set", "optimizer=sgd")):
        result = run("train", "a/last.nnf", "-o", "b", "--force", *extra, *args)
        assert result.exit_code == 0, result.stderr
        config = json.loads((work / "b" / "config.json").read_text())["training"]
        assert config["optimizer"] == "sgd"
        assert config["optimizer_options"] == {}
    # The same optimizer keeps its saved options.
    result = run("train", "a/last.nnf", "-o", "c", "--optimizer", "adam", *args)
    assert result.exit_code == 0, result.stderr
    config = json.loads((work / "c" / "config.json").read_text())["training"]
    assert config["optimizer_options"] == {"beta1": 0.8}


@pytest.mark.parametrize("name", ["curves.txt", "curves"])
def test_bad_plot_suffix_fails_before_training(work: Path, name: str) -> None:
    pytest.importorskip("matplotlib")
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "o", "--plot", name)
    assert_one_line_error(result, 2, "--plot", ".png", ".svg")
    assert not (work / "o").exists()


def test_inputs_scale_only_uint8(work: Path) -> None:
    from nnf.cli.data import fit_inputs
    from nnf.spec import build_model

    model = build_model(work / "tiny.toml")
    pixels = np.full((2, 8, 8), 255, dtype=np.uint8)
    np.testing.assert_allclose(fit_inputs(pixels, model), 1.0)
    for dtype in (np.uint16, np.int64, np.int8, np.bool_, np.float64):
        values = np.ones((2, 8, 8), dtype=dtype)
        np.testing.assert_allclose(fit_inputs(values, model), 1.0, err_msg=str(dtype))


@pytest.mark.parametrize("values", [np.array(["a"] * 64), np.ones(64, dtype=np.complex64)])
def test_predict_refuses_data_that_is_not_numbers(trained: Path, values: np.ndarray) -> None:
    np.save(trained.parent / "bad.npy", values)
    result = run("predict", "run/last.nnf", "bad.npy")
    line = assert_one_line_error(result, 2, "'bad.npy'", str(values.dtype))
    assert "internal error" not in line


def test_negative_seed_is_a_usage_error_naming_seed(work: Path) -> None:
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "o", "--seed", "-1")
    assert_one_line_error(result, 2, "--seed")
    result = run("build", "tiny.toml", "--seed", "-1")
    assert_one_line_error(result, 2, "--seed")
    result = run("train", "tiny.toml", "--data", "tiny.npz", "-o", "o", "--set", "seed=-1")
    assert_one_line_error(result, 2, "seed must be a non-negative integer, got -1")
    assert not (work / "o").exists()


def test_internal_error_hint_is_a_command_that_works() -> None:
    from nnf.cli.errors import one_line

    text = one_line(RuntimeError("boom"))
    assert "nnf --debug COMMAND" in text and "NNF_DEBUG=1" in text
    assert "run with --debug" not in text


def test_write_idx_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nnf.datasets import read_idx, write_idx

    def torn(*args: object, **kwargs: object) -> None:  # a plain write can be left half done
        raise AssertionError("write_idx must write through nnf.io.durable.atomic_write")

    monkeypatch.setattr(Path, "write_bytes", torn)
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "a.idx", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), a)


def test_layer_name_with_a_dot_fails_before_any_file(work: Path) -> None:
    (work / "dot.toml").write_text(
        MLP_SPEC.replace("output_size = 3", 'output_size = 3\nname = "fc.1"')
    )
    result = run("train", "dot.toml", "--data", "tiny.npz", "-o", "o")
    assert_one_line_error(result, 2, "'fc.1'", "'.'")
    assert not (work / "o").exists()
    result = run("build", "dot.toml")
    assert_one_line_error(result, 2, "'fc.1'")
    assert not (work / "dot.nnf").exists()


def test_group_help_first_run_works_outside_the_checkout() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "source checkout" in result.stdout
    assert "nnf train SPEC.toml" in result.stdout


def test_json_helpers_agree() -> None:
    from nnf.cli.output import json_default, to_json

    assert json.loads(to_json({"p": Path("a/b"), "x": np.float32(0.5), "a": np.arange(2)})) == {
        "p": "a/b",
        "x": 0.5,
        "a": [0, 1],
    }
    assert json_default(np.int64(3)) == 3
