"""The installed ``nnf`` executable in a subprocess: the whole workflow, Ctrl-C and startup."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SPEC = """
name = "e2e"
input_shape = [1, 8, 8]

[[layers]]
type = "Convolutional"
kernel_size = 3
depth = 3
bias = "channel"

[[layers]]
type = "ReLU"

[[layers]]
type = "MaxPool2D"

[[layers]]
type = "Flatten"

[[layers]]
type = "Dense"
output_size = 3

[[layers]]
type = "Softmax"

[training]
batch_size = 8
seed = 0
"""


def nnf_executable() -> str:
    found = Path(sys.executable).parent / "nnf"
    if found.exists():
        return str(found)
    on_path = shutil.which("nnf")
    if on_path is None:
        pytest.skip("the nnf console script is not installed (pip install -e .)")
    return on_path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, size=n).astype(np.uint8)
        x = rng.integers(0, 60, size=(n, 8, 8)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, 2 * c : 2 * c + 3] = 230
        return x, y

    (x_train, y_train), (x_test, y_test) = images(120), images(30)
    np.savez(tmp_path / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    np.save(tmp_path / "samples.npy", x_test[:4])
    (tmp_path / "e2e.toml").write_text(SPEC)
    return tmp_path


def env(tmp: Path) -> dict[str, str]:
    out = dict(os.environ)
    out["NNF_CACHE_DIR"] = str(tmp / "cache")
    out.pop("NNF_DATA_DIR", None)
    return out


def nnf(folder: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [nnf_executable(), *args],
        cwd=folder,
        env=env(folder),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_build_train_evaluate_predict_inspect(folder: Path) -> None:
    built = nnf(folder, "build", "e2e.toml", "-o", "e2e.nnf", "--seed", "0")
    assert "Total params" in built.stdout
    assert (folder / "e2e.nnf").is_file()

    trained = nnf(
        folder,
        "train",
        "e2e.nnf",
        "--data",
        "data.npz",
        "-o",
        "run",
        "--epochs",
        "6",
        "--val-split",
        "0.2",
        "--lr",
        "0.01",
    )
    assert "test accuracy" in trained.stdout
    assert "model written to run/last.nnf" in trained.stdout
    assert trained.stderr.count("\nepoch ") + trained.stderr.startswith("epoch ") >= 6
    for name in ("last.nnf", "best.nnf", "config.json", "metrics.jsonl"):
        assert (folder / "run" / name).is_file(), name
    rows = (folder / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == list(range(1, 7))
    assert json.loads((folder / "run" / "config.json").read_text())["training"]["seed"] == 0

    scores = json.loads(nnf(folder, "evaluate", "run/last.nnf", "--json").stdout)
    assert scores["samples"] == 30
    assert scores["accuracy"] >= 0.8
    assert np.array(scores["confusion_matrix"]).sum() == 30

    predicted = nnf(folder, "predict", "run/best.nnf", "samples.npy")
    lines = predicted.stdout.strip().splitlines()
    assert len(lines) == 4
    assert all(line.startswith(f"{i}: ") for i, line in enumerate(lines))

    inspected = json.loads(nnf(folder, "inspect", "run/last.nnf", "--json").stdout)
    assert inspected["model"]["name"] == "e2e"
    assert inspected["training"]["epoch"] == 6
    assert [p["key"] for p in inspected["required_plugins"]] == sorted(
        [
            "nnf.Convolutional.v1",
            "nnf.Dense.v1",
            "nnf.Flatten.v1",
            "nnf.MaxPool2D.v1",
            "nnf.ReLU.v1",
            "nnf.Softmax.v1",
        ]
    )


def test_errors_from_the_executable(folder: Path) -> None:
    (folder / "bad.toml").write_text(SPEC.replace('"MaxPool2D"', '"MaxPool"'))
    proc = nnf(folder, "build", "bad.toml", code=2)
    assert proc.stderr.count("\n") == 1
    assert "did you mean" in proc.stderr
    (folder / "broken.nnf").write_bytes(b"\x93NUMPY garbage")
    proc = nnf(folder, "evaluate", "broken.nnf", "--data", "data.npz", code=1)
    assert proc.stderr.startswith("nnf: error: ")
    assert "Traceback" not in proc.stderr


def _processes_running_in(folder: Path) -> list[str]:
    """Processes (other than this one) whose command line names ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(folder) in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


# A shell that starts jobs in the background (nohup, `cmd &` in a script) leaves SIGINT
# ignored, and an ignored signal stays ignored across exec: give the command the default.
DEFAULT_SIGINT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]


# batch 64 is split over forked worker processes, which must go when the command does
@pytest.mark.parametrize("batch", [8, 64])
def test_sigint_saves_the_last_model_and_exits_130(folder: Path, batch: int) -> None:
    big = np.load(folder / "data.npz")
    np.savez(
        folder / "big.npz",
        x_train=np.repeat(big["x_train"], 40, axis=0),
        y_train=np.repeat(big["y_train"], 40),
    )
    proc = subprocess.Popen(
        [
            *DEFAULT_SIGINT,
            nnf_executable(),
            "train",
            "e2e.toml",
            "--data",
            str(folder / "big.npz"),  # the folder in the command line: see its workers below
            "-o",
            "run",
            "--epochs",
            "500",
            "--set",
            f"batch_size={batch}",
        ],
        cwd=folder,
        # Two threads even on one CPU (taskset -c 0): batch 64 must fork its worker.
        env={**env(folder), "NNF_NUM_THREADS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = folder / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not metrics.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert metrics.exists(), "no epoch finished within 60 s"
    if batch == 64 and sys.platform.startswith("linux"):
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert children, "a batch of 64 trains with a worker process"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err
    assert "--resume" in err
    assert "Traceback" not in err
    if sys.platform.startswith("linux"):
        time.sleep(0.5)
        assert not _processes_running_in(folder)
    # The message names the epoch last.nnf holds; the metrics never run ahead of it.
    done = json.loads(nnf(folder, "inspect", "run/last.nnf", "--json").stdout)["training"]["epoch"]
    assert f"after epoch {done}" in err
    assert 1 <= len(metrics.read_text().splitlines()) <= done
    resumed = nnf(folder, "train", "run/last.nnf", "--resume", "--epochs", "1", "-o", "more", "-q")
    assert "test accuracy" not in resumed.stdout  # big.npz has no test split
    last = json.loads((folder / "more" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["epoch"] == done + 1


@pytest.mark.parametrize("args", [["--help"], ["layers"]])
def test_startup_imports_stay_light(args: list[str]) -> None:
    """``nnf --help`` imports no NumPy; neither it nor ``nnf layers`` imports SciPy."""
    code = (
        "import sys\n"
        "from nnf.cli import cli\n"
        f"cli.main({args!r}, standalone_mode=False)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'scipy', 'msgpack'})\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    heavy = proc.stdout.strip().splitlines()[-1]
    if args == ["--help"]:
        assert heavy == "HEAVY []"
    else:
        assert "scipy" not in heavy and "msgpack" not in heavy


def test_inspect_imports_no_plugin(folder: Path) -> None:
    nnf(folder, "build", "e2e.toml", "-o", "m.nnf", "-q")
    code = (
        "import sys\n"
        "from nnf.cli import cli\n"
        "cli.main(['inspect', 'm.nnf'], standalone_mode=False)\n"
        "print('PLUGINS', sorted(m for m in sys.modules if m.startswith('nnf_layers')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "nnf.Convolutional.v1" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "PLUGINS []"
