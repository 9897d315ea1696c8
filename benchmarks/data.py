"""Data for the benchmark jobs: MNIST from /work/shared, Fashion-MNIST from the Debian package.

Every loader returns NumPy arrays; images are float32 in [0, 1] shaped ``(N, 1, 28, 28)``.
The IDX reader is local so that the suite needs nothing beyond NumPy to read its data.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

MNIST_DIR = Path(os.environ.get("NNF_BENCH_MNIST", "/work/shared/data/mnist"))
FASHION_DIR = Path(os.environ.get("NNF_BENCH_FASHION", "/usr/share/datasets/fashion-mnist"))

# IDX type codes -> NumPy dtypes (big-endian on disk).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into an array of its stored shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file")
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim, count=int(np.prod(shape)))
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def _images(raw: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], without a float64 temporary."""
    out = raw.reshape(len(raw), 1, 28, 28).astype(np.float32)
    out *= np.float32(1 / 255)
    return out


def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000-image MNIST sample (500 per digit): images (N, 1, 28, 28), labels (N,)."""
    with gzip.open(MNIST_DIR / "mnist_5k.csv.gz", "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    # 785 columns: 784 pixels, then the label.
    return _images(table[:, :784]), table[:, 784].astype(np.int64)


def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 10,000 test images (N, 1, 28, 28) and labels (N,)."""
    x = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    y = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    return _images(x), y.astype(np.int64)


def tutorial_zeros_ones(limit: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's data: ``limit`` zeros and ``limit`` ones, shuffled.

    Returns images (2*limit, 1, 28, 28) float32 and one-hot columns (2*limit, 2, 1) float32,
    as the tutorial's ``preprocess_data`` makes them.
    """
    x, y = mnist_5k()
    zeros = np.where(y == 0)[0][:limit]
    ones = np.where(y == 1)[0][:limit]
    idx = np.random.default_rng(seed).permutation(np.hstack((zeros, ones)))
    x, y = x[idx], y[idx]
    onehot = np.zeros((len(y), 2, 1), dtype=np.float32)
    onehot[np.arange(len(y)), y, 0] = 1
    return x, onehot


def tiled(x: np.ndarray, n: int) -> np.ndarray:
    """``n`` images made by repeating ``x`` (for dataset-size scaling runs)."""
    reps = -(-n // len(x))
    return np.concatenate([x] * reps)[:n] if reps > 1 else x[:n].copy()


def fashion_available() -> bool:
    return (FASHION_DIR / "train-images-idx3-ubyte.gz").exists()


def fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``train`` (60,000) or ``t10k`` (10,000): images and labels."""
    if not fashion_available():
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {FASHION_DIR}: apt-get install -y dataset-fashion-mnist"
        )
    x = read_idx(FASHION_DIR / f"{split}-images-idx3-ubyte.gz")
    y = read_idx(FASHION_DIR / f"{split}-labels-idx1-ubyte.gz")
    return _images(x), y.astype(np.int64)


def cifar_shaped(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` CIFAR-sized images (N, 3, 32, 32) float32 in [0, 1] and labels (N,) of 10 classes.

    Synthetic: CIFAR-10 is not on this machine, and a training step costs the same whatever
    the pixels hold. Each class brightens one colour channel in one band of rows, so the loss
    falls as on real data.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    x = rng.random((n, 3, 32, 32), dtype=np.float32) * np.float32(0.5)
    for c in range(10):
        x[y == c, c % 3, 3 * c : 3 * c + 3] += np.float32(0.5)
    return x, y.astype(np.int64)


def cifar_sized(n: int = 4096, seed: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Random CIFAR-sized data: ``n`` float32 images (3, size, size) in [0, 1) and labels 0-9.

    Throughput does not depend on the pixels; random data keeps the job free of downloads.
    """
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3, size, size), dtype=np.float32)
    return x, rng.integers(0, 10, n)
