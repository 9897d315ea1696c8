"""The example plugin (examples/plugin) as a user meets it: pip-installed, discovered, used in a
TOML spec, trained with ``nnf train``, reloaded elsewhere, then uninstalled."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import install_target

pytestmark = pytest.mark.slow  # a dozen subprocesses: about 20 s

EXAMPLE = Path(__file__).parents[1] / "examples" / "plugin"
NNF = [sys.executable, "-c", "from nnf.cli import main; main()"]

SPEC = """
name = "plugged"
input_shape = [1, 8, 8]

[[layers]]
type = "Convolutional"
kernel_size = 3
depth = 4

[[layers]]
type = "example.BatchNorm.v1"
momentum = 0.8

[[layers]]
type = "Swish"            # short name of example.Swish.v1

[[layers]]
type = "Flatten"

[[layers]]
type = "Dense"
output_size = 3

[[layers]]
type = "Softmax"

[training]
loss = "categorical_crossentropy"
optimizer = "adam"
learning_rate = 0.01
batch_size = 16
seed = 0
"""


def run(args: list[str], *paths: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``args`` with exactly ``paths`` on PYTHONPATH: the plugin is "installed" if its
    folder is among them."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))}
    for name in ("NNF_DISABLE_PLUGIN_AUTOLOAD", "NNF_BLOCK_PLUGINS"):
        env.pop(name, None)
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def python(code: str, *paths: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-c", code], *paths)


@pytest.fixture(scope="module")
def example_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of examples/plugin, so that building it leaves no files in the repository."""
    copy = tmp_path_factory.mktemp("example-src") / "plugin"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(EXAMPLE, copy, ignore=ignore)
    return copy


@pytest.fixture(scope="module")
def example_site(example_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed (no network, no build backend) into a folder of its own."""
    target = tmp_path_factory.mktemp("example-site")
    install_target([example_copy], target)
    return target


@pytest.fixture(scope="module")
def trained(example_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``nnf train`` of a TOML spec using both plugin layers; returns the run folder."""
    work = tmp_path_factory.mktemp("plugged")
    rng = np.random.default_rng(0)
    x = rng.random((96, 8, 8)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2)) > x[:, 4:].mean(axis=(1, 2))).astype(np.int64)
    y[x[:, :, :4].mean(axis=(1, 2)) > 0.55] = 2
    np.savez(work / "data.npz", x_train=x, y_train=y)
    (work / "plugged.toml").write_text(SPEC)
    args = ["train", str(work / "plugged.toml"), "--data", str(work / "data.npz")]
    args += ["--epochs", "2", "-o", str(work / "run"), "--quiet"]
    out = run(NNF + args, example_site)
    assert out.returncode == 0, out.stderr
    assert (work / "run" / "last.nnf").exists()
    return work


def test_nnf_layers_discovers_the_installed_plugin(example_site):
    out = run([*NNF, "layers", "--check"], example_site)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.strip()}
    for key in ("example.BatchNorm.v1", "example.Swish.v1"):
        assert rows[key][1:] == ["nnf-example-plugin", "0.1.0", "ok"]


def test_reloaded_in_a_new_process_with_identical_predictions(trained, example_site):
    model_file, data = trained / "run" / "last.nnf", trained / "data.npz"
    again, preds = trained / "again.nnf", trained / "preds.npy"
    first = python(
        "import nnf, numpy as np\n"
        f"m = nnf.load({str(model_file)!r})\n"
        "bn = m.layers[1]\n"
        "assert type(bn).key == 'example.BatchNorm.v1', type(bn).key\n"
        "assert not np.allclose(bn.state['running_mean'], 0), 'running statistics not saved'\n"
        f"x = np.load({str(data)!r})['x_train'][:, None]\n"
        "y = np.load(" + repr(str(data)) + ")['y_train']\n"
        "m.fit(x, y, epochs=1, verbose=0)  # keep training through the Python API\n"
        f"m.save({str(again)!r})\n"
        f"np.save({str(preds)!r}, m.predict(x))\n",
        example_site,
    )
    assert first.returncode == 0, first.stderr
    second = python(
        "import nnf, numpy as np\n"
        f"x = np.load({str(data)!r})['x_train'][:, None]\n"
        f"same = np.array_equal(nnf.load({str(again)!r}).predict(x), np.load({str(preds)!r}))\n"
        "print('identical' if same else 'different')\n",
        example_site,
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "identical"


def test_after_uninstalling_loading_names_the_distribution_and_inspect_still_works(trained):
    model_file = trained / "run" / "last.nnf"
    out = run([*NNF, "summary", str(model_file)])
    assert out.returncode != 0
    assert "nnf-example-plugin" in out.stderr and "pip install" in out.stderr
    out = python(
        "import nnf\n"
        "try:\n"
        f"    nnf.load({str(model_file)!r})\n"
        "except nnf.errors.ModelFormatError as exc:\n"
        "    print(exc)\n"
        f"info = nnf.inspect({str(model_file)!r})\n"
        "print('inspect ok', len(info['layers']) if isinstance(info, dict) else info)\n"
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'nnf-example-plugin>=0.1.0'" in out.stdout
    assert "inspect ok" in out.stdout
    out = run([*NNF, "inspect", str(model_file)])
    assert out.returncode == 0, out.stderr
    assert "example.BatchNorm.v1" in out.stdout and "nnf-example-plugin" in out.stdout


def test_a_broken_plugin_is_shown_broken_while_the_rest_works(trained, example_site, plugin_site):
    out = run([*NNF, "layers", "--check"], example_site, plugin_site)
    assert out.returncode == 1  # --check fails when a plugin is broken
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "broken" in lines["broken.Boom.v1"]
    assert "this plugin is broken on purpose" in out.stdout + out.stderr
    assert lines["example.Swish.v1"].split()[1:] == ["nnf-example-plugin", "0.1.0", "ok"]
    out = run([*NNF, "summary", str(trained / "run" / "last.nnf")], example_site, plugin_site)
    assert out.returncode == 0, out.stderr
    assert "example.BatchNorm.v1" in out.stdout


def test_onnx_export_uses_the_plugins_own_converters(trained, example_site):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    out = python(
        "import nnf, numpy as np, onnxruntime as ort\n"
        "from nnf.export import to_onnx\n"
        f"m = nnf.load({str(trained / 'run' / 'last.nnf')!r})\n"
        "s = ort.InferenceSession(to_onnx(m).SerializeToString(), "
        "providers=['CPUExecutionProvider'])\n"
        "x = np.random.default_rng(1).random((7, 1, 8, 8)).astype(np.float32)\n"
        "print(float(np.max(np.abs(s.run(None, {'input': x})[0] - m.predict(x)))))\n",
        example_site,
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 1e-5


def test_the_plugins_own_test_suite_passes(example_copy, example_site):
    out = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        example_site,
        cwd=example_copy,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert " passed" in out.stdout
