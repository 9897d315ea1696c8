"""Export without ONNX: the plain .npz of weights, the JSON architecture, errors and the command."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import nnf
import numpy as np
import pytest
from click.testing import CliRunner
from nnf.export import ExportError, export, to_onnx
from nnf.export.cli import export_command
from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax


def small_cnn(seed: int) -> nnf.Sequential:
    layers = [
        Convolutional(kernel_size=3, depth=2),
        ReLU(),
        MaxPool2D(),
        Flatten(),
        Dense(output_size=3),
        Softmax(),
    ]
    return nnf.Sequential(layers, input_shape=(1, 6, 6)).build(seed=seed)


def test_npz_holds_every_parameter_under_layer_name_dot_param(tmp_path):
    model = small_cnn(seed=0)
    path = tmp_path / "weights.npz"
    export(model, path, format="npz")
    with np.load(path, allow_pickle=False) as archive:
        saved = {k: archive[k] for k in archive.files}
    expected = {name: p for name, p, _ in model.named_parameters()}
    assert set(saved) == set(expected)
    assert "convolutional_0.kernels" in saved and "dense_4.bias" in saved
    for name, p in expected.items():
        assert saved[name].dtype == p.dtype and np.array_equal(saved[name], p)


def test_npz_weights_come_back_with_load_weights(tmp_path):
    source, target = small_cnn(seed=0), small_cnn(seed=1)
    x = np.random.default_rng(0).standard_normal((4, 1, 6, 6)).astype(np.float32)
    assert not np.array_equal(source.predict(x), target.predict(x))
    export(source, tmp_path / "w.npz", format="npz")
    report = nnf.load_weights(target, tmp_path / "w.npz")
    assert len(report.loaded) == 4
    assert np.array_equal(source.predict(x), target.predict(x))


def test_json_is_the_architecture_alone(tmp_path):
    model = small_cnn(seed=0)
    export(model, tmp_path / "arch.json", format="json")
    data = json.loads((tmp_path / "arch.json").read_text())
    assert data == json.loads(json.dumps(model.get_config()))
    assert [layer["key"] for layer in data["layers"]][:2] == ["nnf.Convolutional.v1", "nnf.ReLU.v1"]
    assert "kernels" not in json.dumps(data)


def test_an_unknown_format_is_an_export_error(tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export(small_cnn(0), tmp_path / "m.tflite", format="tflite")


def test_a_layer_without_converter_is_named(tmp_path):
    class Odd(nnf.Layer):
        key = "exporttest.Odd.v1"

        def forward(self, x, training=False):
            return x

    model = nnf.Sequential([Dense(output_size=2), Odd()], input_shape=(3,)).build(seed=0)
    with pytest.raises(ExportError) as info:
        to_onnx(model)
    message = str(info.value)
    assert "layer 1 odd_1 (Odd) (exporttest.Odd.v1" in message
    assert "'nnf.onnx'" in message
    assert isinstance(info.value, nnf.errors.NNFError)


def test_without_the_extra_the_error_says_what_to_install(tmp_path):
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "import nnf\nfrom nnf.layers import Dense\nfrom nnf.export import export\n"
        "m = nnf.Sequential([Dense(output_size=2)], input_shape=(3,)).build(seed=0)\n"
        "try:\n    export(m, 'never-written.onnx')\n"
        "except nnf.errors.NNFError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert "ExportError" in out.stdout
    assert "pip install 'nnf-framework[onnx]'" in out.stdout
    assert not (tmp_path / "never-written.onnx").exists()


def command() -> click.Group:
    """The export command in a group of its own (the CLI helper registers it in ``nnf``)."""
    group = click.Group()
    group.add_command(export_command)
    return group


def test_export_command_writes_npz_and_json(tmp_path):
    model_file = tmp_path / "m.nnf"
    small_cnn(seed=0).save(model_file)
    runner = CliRunner()
    out = runner.invoke(command(), ["export", str(model_file), "-o", str(tmp_path / "w.npz")])
    assert out.exit_code == 0, out.output
    assert "wrote" in out.output and (tmp_path / "w.npz").exists()
    args = ["export", str(model_file), "--format", "json", "-o", str(tmp_path / "a.txt")]
    out = runner.invoke(command(), args)
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "a.txt").read_text())["input_shape"] == [1, 6, 6]


def test_export_command_refuses_to_overwrite_and_to_guess(tmp_path):
    model_file = tmp_path / "m.nnf"
    small_cnn(seed=0).save(model_file)
    (tmp_path / "w.npz").write_bytes(b"keep")
    runner = CliRunner()
    out = runner.invoke(command(), ["export", str(model_file), "-o", str(tmp_path / "w.npz")])
    assert out.exit_code != 0 and "--force" in str(out.exception)
    assert (tmp_path / "w.npz").read_bytes() == b"keep"
    out = runner.invoke(command(), ["export", str(model_file), "-o", str(tmp_path / "w.bin")])
    assert out.exit_code == 2 and "--format" in out.output


def test_export_command_in_the_nnf_cli(tmp_path):
    """Through the ``nnf export`` command, in a separate process."""
    import click
    from nnf.cli.main import cli

    assert "export" in cli.list_commands(click.Context(cli))
    model_file = tmp_path / "m.nnf"
    small_cnn(seed=0).save(model_file)
    nnf_cli = [sys.executable, "-c", "from nnf.cli import main; main()"]
    out = subprocess.run(
        [*nnf_cli, "export", str(model_file), "-o", str(tmp_path / "w.npz")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    with np.load(tmp_path / "w.npz", allow_pickle=False) as archive:
        assert "dense_4.weights" in archive.files
