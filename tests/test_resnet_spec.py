"""The ResNet-style example spec end to end through the installed ``nnf`` executable: train a
few steps, reload in a new process with identical predictions, resume bit for bit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nnf
import numpy as np
import pytest

SPEC = Path(__file__).resolve().parents[1] / "examples" / "specs" / "resnet_cifar.toml"


def nnf_executable() -> str:
    found = Path(sys.executable).parent / "nnf"
    if found.exists():
        return str(found)
    on_path = shutil.which("nnf")
    if on_path is None:
        pytest.skip("the nnf console script is not installed (pip install -e .)")
    return on_path


def run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [nnf_executable(), *args], cwd=folder, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A CIFAR-shaped dataset: 48 training and 16 test images (N, 3, 32, 32), 10 classes."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=64)
    x = rng.integers(0, 100, size=(64, 3, 32, 32)).astype(np.uint8)
    for i, c in enumerate(y):  # class c brightens one colour channel in one band of rows
        x[i, c % 3, 3 * c : 3 * c + 3] += 150
    np.savez(tmp_path / "cifar.npz", x_train=x[:48], y_train=y[:48], x_test=x[48:], y_test=y[48:])
    return tmp_path


def arrays(model: nnf.Sequential) -> dict[str, np.ndarray]:
    out = {f"{layer.name}.{k}": v for layer in model.layers for k, v in layer.params.items()}
    out.update({f"{layer.name}.{k}": v for layer in model.layers for k, v in layer.state.items()})
    for slot, table in model.optimizer.slots.items():
        out.update({f"{slot}:{k}": v for k, v in table.items()})
    return out


@pytest.mark.slow  # four `nnf` processes on 3x32x32 images: about 15 s
def test_resnet_spec_trains_reloads_and_resumes_bit_for_bit(folder: Path) -> None:
    common = ("--data", "cifar.npz", "--batch-size", "16", "--val-split", "0", "-q")
    run(folder, "train", str(SPEC), *common, "--epochs", "2", "-o", "full")
    run(folder, "train", str(SPEC), *common, "--epochs", "1", "-o", "half")
    run(folder, "train", "half/last.nnf", "--resume", "--epochs", "1", "-o", "rest", "-q")

    full, rest = nnf.load(folder / "full" / "last.nnf"), nnf.load(folder / "rest" / "last.nnf")
    assert full.training_state["epoch"] == rest.training_state["epoch"] == 2
    assert type(full.optimizer).__name__ == "AdamW" and full.optimizer.clipnorm == 5.0
    a, b = arrays(full), arrays(rest)
    assert a.keys() == b.keys()
    assert any("stage2.projection/kernels" in k for k in a)  # the 1x1 projection is trained
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    # Training moved the running statistics away from their start (zeros and ones).
    assert np.abs(full.layers[1].state["running_mean"]).max() > 0

    # inspect names the inner layers by key (not their whole configs).
    described = run(folder, "inspect", "full/last.nnf").stdout
    assert "layers=[convolutional_0:nnf.Convolutional.v1, batchnorm_1:nnf.BatchNorm.v1" in described

    # A new process loads the file and predicts exactly what this one does.
    x = np.load(folder / "cifar.npz")["x_test"].astype(np.float32) / 255
    np.save(folder / "x.npy", x)
    script = (
        "import sys, numpy as np, nnf\n"
        "m = nnf.load(sys.argv[1])\n"
        "np.save(sys.argv[2], m.predict(np.load(sys.argv[3])))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, "full/last.nnf", "p.npy", "x.npy"], cwd=folder, check=True
    )
    assert np.load(folder / "p.npy").tobytes() == full.predict(x).tobytes()
