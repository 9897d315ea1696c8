"""Build framework/nnf/datasets/data/mnist_small.npz, the MNIST subset nnf ships.

Usage:
    python scripts/make_bundled_mnist.py            # (re)write the .npz
    python scripts/make_bundled_mnist.py --check    # compare the shipped .npz with a rebuild
    python scripts/make_bundled_mnist.py --source DIR

Source: the project's shared data folder, ``<repo>/../shared/data/mnist/`` by default (only this
script refers to it; the package reads nothing but its own .npz at run time):

    mnist_5k.csv.gz            1,106,785 bytes, SHA-256
        846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d
    t10k-images-idx3-ubyte.gz  1,648,877 bytes, SHA-256
        167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b
    t10k-labels-idx1-ubyte.gz      4,542 bytes, SHA-256
        fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c

``mnist_5k.csv.gz``: 5,000 MNIST training digits, 500 a class, sorted by class; each row is 784
pixel values (0..255, row-major 28x28) then the label. The two IDX files are the official MNIST
test set (LeCun, Cortes, Burges). Their gzip wrappers differ from the copies on the public
mirrors (another gzip time stamp), but the decompressed IDX bytes are the published ones:
t10k-images 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7,
t10k-labels ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2.

Output (arrays in a zip with fixed time stamps, deflate level 9):
    x_train (5000, 28, 28) uint8, y_train (5000,) uint8: all 5,000 CSV digits, interleaved by
        class (0, 1, ..., 9, 0, 1, ...) so that any prefix or suffix is balanced; sample k is
        CSV row (k % 10) * 500 + k // 10.
    x_test (1000, 28, 28) uint8, y_test (1000,) uint8: the first 100 of each class in the
        official test order, kept in that order.
The file must stay under 2 MB (checked here).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "mnist"
OUTPUT = REPO / "framework" / "nnf" / "datasets" / "data" / "mnist_small.npz"
MAX_BYTES = 2_000_000
PER_CLASS_TEST = 100

SOURCE_SHA256 = {
    "mnist_5k.csv.gz": "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
    "t10k-images-idx3-ubyte.gz": "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
    "t10k-labels-idx1-ubyte.gz": "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
}


def read_idx_gz(path: Path) -> np.ndarray:
    """Minimal uint8 IDX reader, so the script does not depend on the package it feeds."""
    data = gzip.decompress(path.read_bytes())
    if data[:3] != b"\0\0\x08":
        raise SystemExit(f"{path}: not a uint8 IDX file")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def verify_sources(source: Path) -> None:
    for name, expected in SOURCE_SHA256.items():
        path = source / name
        if not path.is_file():
            raise SystemExit(
                f"{path}: missing; pass --source DIR holding {', '.join(SOURCE_SHA256)}"
            )
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != expected:
            raise SystemExit(f"{path}: SHA-256 {got} differs from the recorded {expected}")


def train_split(source: Path) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(source / "mnist_5k.csv.gz", "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if rows.shape != (5000, 785) or rows.min() < 0 or rows.max() > 255:
        raise SystemExit(f"mnist_5k.csv.gz: unexpected content, shape {rows.shape}")
    labels = rows[:, -1]
    per_class = np.bincount(labels, minlength=10)
    if labels.max() > 9 or not np.all(per_class == 500):
        raise SystemExit(f"mnist_5k.csv.gz: expected 500 digits a class, got {per_class}")
    by_class = np.stack([np.flatnonzero(labels == c) for c in range(10)])  # (10, 500)
    order = by_class.T.ravel()  # round-robin over classes
    images = rows[order, :784].astype(np.uint8).reshape(-1, 28, 28)
    return images, labels[order].astype(np.uint8)


def test_split(source: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx_gz(source / "t10k-images-idx3-ubyte.gz")
    labels = read_idx_gz(source / "t10k-labels-idx1-ubyte.gz")
    picks = [np.flatnonzero(labels == c)[:PER_CLASS_TEST] for c in range(10)]
    index = np.sort(np.concatenate(picks))  # keep the official order
    return images[index].copy(), labels[index].copy()


def build_arrays(source: Path = DEFAULT_SOURCE) -> dict[str, np.ndarray]:
    verify_sources(source)
    x_train, y_train = train_split(source)
    x_test, y_test = test_split(source)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz (np.load-able zip) whose bytes depend only on the arrays and zlib."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for key, array in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue(), compresslevel=9)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)

    arrays = build_arrays(args.source)
    if args.check:
        with np.load(args.output, allow_pickle=False) as shipped:
            same = set(shipped.files) == set(arrays) and all(
                shipped[k].dtype == v.dtype and np.array_equal(shipped[k], v)
                for k, v in arrays.items()
            )
        print(f"{args.output}: {'matches' if same else 'DIFFERS FROM'} a rebuild")
        return 0 if same else 1

    data = npz_bytes(arrays)
    if len(data) >= MAX_BYTES:
        raise SystemExit(f"{len(data):,} bytes: over the {MAX_BYTES:,}-byte budget")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()})")
    for key, array in arrays.items():
        print(f"  {key}: {array.shape} {array.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
