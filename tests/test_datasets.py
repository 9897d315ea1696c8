"""nnf.datasets: IDX files, the bundled subset, Dataset checks, helpers, .npz and lookup order."""

from __future__ import annotations

import gzip
import io
import re
import struct
import subprocess
import sys
from pathlib import Path

import nnf.datasets as D
import numpy as np
import pytest
from nnf.datasets import Dataset, read_idx, write_idx
from nnf.datasets.remote import REMOTES, Remote
from nnf.errors import DataError, ShapeError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "framework" / "nnf" / "datasets"
BUNDLED = PACKAGE / "data" / "mnist_small.npz"
SHARED_CANDIDATES = [ROOT.parent / "shared" / "data" / "mnist", Path("/work/shared/data/mnist")]


def shared_mnist() -> Path:
    for folder in SHARED_CANDIDATES:
        if (folder / "mnist_5k.csv.gz").is_file():
            return folder
    pytest.skip("needs ../shared/data/mnist beside the checkout (the MNIST source files)")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    monkeypatch.delenv("NNF_DATA_DIR", raising=False)
    monkeypatch.setenv("NNF_CACHE_DIR", str(tmp_path / "cache"))


# ---------------------------------------------------------------- IDX


DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip_each_dtype(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:  # include the extremes: byte order mistakes show there
        a = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
        a.flat[0], a.flat[1] = info.min, info.max
    else:
        a = rng.standard_normal((3, 4, 5)).astype(dtype)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") is compress
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == (3, 4, 5)
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable


def test_idx_header_layout_is_big_endian(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.array([[1, 2, 3]], dtype="<i4"))
    data = path.read_bytes()
    assert data[:4] == bytes([0, 0, 0x0C, 2])
    assert struct.unpack(">2I", data[4:12]) == (1, 3)
    assert data[12:] == struct.pack(">3i", 1, 2, 3)


def test_gzip_detected_by_magic_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_named_plain = tmp_path / "plain.gz"
    write_idx(gz_named_plain, a, compress=False)
    plain_named_gz = tmp_path / "zipped.idx"
    write_idx(plain_named_gz, a, compress=True)
    np.testing.assert_array_equal(read_idx(gz_named_plain), a)
    np.testing.assert_array_equal(read_idx(plain_named_gz), a)


def test_idx_from_file_objects_seekable_or_not(tmp_path):
    a = np.arange(6, dtype=np.int16).reshape(2, 3) - 3
    buf = io.BytesIO()
    write_idx(buf, a, compress=True)
    np.testing.assert_array_equal(read_idx(io.BytesIO(buf.getvalue())), a)

    class Pipe(io.RawIOBase):  # a stream that cannot seek, like a socket
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self._data.readinto(b)

    np.testing.assert_array_equal(read_idx(Pipe(buf.getvalue())), a)


def test_idx_gzip_is_deterministic(tmp_path):
    a = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "1.gz", a)
    write_idx(tmp_path / "2.gz", a)
    assert (tmp_path / "1.gz").read_bytes() == (tmp_path / "2.gz").read_bytes()


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


MALFORMED = {
    "empty": (b"", "too short"),
    "bad magic": (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an IDX file"),
    "unknown dtype": (_header(0x0A, (1,)) + b"\x00", "unknown IDX dtype code 0x0A"),
    "zero ndim": (bytes([0, 0, 8, 0]), "0 dimensions"),
    "truncated header": (bytes([0, 0, 8, 3]) + b"\x00\x00\x00\x02", "truncated IDX header"),
    "truncated payload": (_header(0x08, (2, 3)) + bytes(5), "truncated"),
    "oversized payload": (_header(0x08, (2, 3)) + bytes(7), "oversized"),
    "truncated float payload": (_header(0x0D, (2,)) + bytes(7), "truncated"),
    "absurd dims": (_header(0x0E, (60000, 60000, 60000)), "claims dims"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("compress", [False, True])
def test_malformed_idx_raises_data_error_naming_file(tmp_path, case, compress):
    data, expected = MALFORMED[case]
    path = tmp_path / f"bad-{case.replace(' ', '_')}.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message and "\n" not in message
    assert "re-download" in message or "replace" in message


def test_corrupt_and_truncated_gzip(tmp_path):
    good = io.BytesIO()
    write_idx(good, np.arange(5000, dtype=np.int32), compress=True)
    data = good.getvalue()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.gz"):
        read_idx(cut)
    flipped = bytearray(data)
    flipped[-6] ^= 0xFF  # inside the CRC32 / length trailer
    bad = tmp_path / "crc.gz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(bad)


def test_read_idx_missing_path_and_folder(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "nope.idx")
    with pytest.raises(DataError, match="folder"):
        read_idx(tmp_path)


def test_write_idx_refuses_unsupported_dtype(tmp_path):
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "x.idx", np.arange(3, dtype=np.int64))


# ---------------------------------------------------------------- bundled subset


def test_bundled_file_small_and_shapes():
    assert BUNDLED.stat().st_size < 2_000_000
    ds = D.load()
    assert ds.name == "mnist-small"
    assert ds.x_train.shape == (5000, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.y_train.shape == (5000,) and ds.y_train.dtype == np.uint8
    assert ds.x_test.shape == (1000, 28, 28) and ds.x_test.dtype == np.uint8
    assert ds.y_test.shape == (1000,) and ds.y_test.dtype == np.uint8
    assert np.all(np.bincount(ds.y_train, minlength=10) == 500)
    assert np.all(np.bincount(ds.y_test, minlength=10) == 100)
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    np.testing.assert_array_equal(ds.y_train[:20], np.tile(np.arange(10), 2))  # interleaved
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0


def test_mnist_small_has_keras_load_data_form():
    (x_train, y_train), (x_test, y_test) = D.mnist_small()
    assert x_train.shape == (5000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == y_train.dtype == np.uint8
    assert y_test.ndim == 1 and np.issubdtype(y_test.dtype, np.integer)


def test_package_never_refers_to_shared_folder():
    for source in PACKAGE.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        for needle in ("shared/", "/work/", '"shared"', "'shared'"):
            assert needle not in text, (source, needle)


def test_bundled_pixels_equal_source_rows():
    source = shared_mnist()
    ds = D.load_bundled()
    wanted = {0, 1, 499, 500, 2345, 4999}  # CSV rows
    rows = {}
    with gzip.open(source / "mnist_5k.csv.gz", "rt") as f:
        for i, line in enumerate(f):
            if i in wanted:
                rows[i] = np.array(line.split(","), dtype=np.int64)
    assert set(rows) == wanted
    for row, values in rows.items():
        k = (row % 500) * 10 + row // 500  # the script's round-robin order
        np.testing.assert_array_equal(ds.x_train[k].ravel(), values[:784])
        assert ds.y_train[k] == values[784]
    images = read_idx(source / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(source / "t10k-labels-idx1-ubyte.gz")
    index = np.sort(np.concatenate([np.flatnonzero(labels == c)[:100] for c in range(10)]))
    np.testing.assert_array_equal(ds.x_test, images[index])
    np.testing.assert_array_equal(ds.y_test, labels[index])


def test_build_script_reproduces_shipped_arrays():
    shared_mnist()
    script = ROOT / "scripts" / "make_bundled_mnist.py"
    args = [sys.executable, str(script), "--check", "--source", str(shared_mnist())]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches" in result.stdout


def test_tutorial_preprocess_data_runs_unchanged():
    """The tutorial's own preprocess_data, with keras swapped for nnf.datasets."""

    class np_utils:  # the tutorial calls np_utils.to_categorical
        to_categorical = staticmethod(D.to_categorical)

    def preprocess_data(x, y, limit):
        zero_index = np.where(y == 0)[0][:limit]
        one_index = np.where(y == 1)[0][:limit]
        all_indices = np.hstack((zero_index, one_index))
        all_indices = np.random.permutation(all_indices)
        x, y = x[all_indices], y[all_indices]
        x = x.reshape(len(x), 1, 28, 28)
        x = x.astype("float32") / 255
        y = np_utils.to_categorical(y)
        y = y.reshape(len(y), 2, 1)
        return x, y

    (x_train, y_train), (x_test, y_test) = D.mnist_small()
    x_train, y_train = preprocess_data(x_train, y_train, 100)
    x_test, y_test = preprocess_data(x_test, y_test, 100)
    assert x_train.shape == (200, 1, 28, 28) and x_train.dtype == np.float32
    assert y_train.shape == (200, 2, 1) and x_test.shape == (200, 1, 28, 28)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert np.all(y_test.sum(axis=1) == 1)

    # and the same in two lines with nnf's own helpers
    binary = D.load().subset([0, 1], limit=100, rng=0)
    x, y = D.to_images(binary.x_train), D.one_hot(binary.y_train, 2)[..., None]
    assert x.shape == (200, 1, 28, 28) and y.shape == (200, 2, 1)
    np.testing.assert_allclose(np.sort(x.ravel()), np.sort(x_train.ravel()))


# ---------------------------------------------------------------- helpers


def test_to_categorical_matches_keras_semantics():
    y = np.array([0, 2, 1, 2], dtype=np.uint8)
    out = D.to_categorical(y)
    assert out.shape == (4, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(1), y)
    assert D.to_categorical(y, 5).shape == (4, 5)
    assert D.to_categorical(y[:, None]).shape == (4, 3)  # trailing 1 is dropped
    assert D.to_categorical(np.zeros((2, 3), int), 4).shape == (2, 3, 4)
    assert D.to_categorical([1.0, 0.0]).tolist() == [[0, 1], [1, 0]]
    with pytest.raises(DataError, match="outside"):
        D.to_categorical([0, 3], num_classes=3)


def test_one_hot():
    out = D.one_hot([1, 0, 2], 3, dtype="float64")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.eye(3)[[1, 0, 2]])
    with pytest.raises(DataError, match="outside"):
        D.one_hot([-1, 0], 2)
    with pytest.raises(ShapeError):
        D.one_hot(np.zeros((2, 2), int), 2)
    with pytest.raises(DataError, match="whole numbers"):
        D.one_hot([0.5], 2)


def test_to_images_shapes_and_scaling():
    x = np.full((2, 5, 7), 255, dtype=np.uint8)
    out = D.to_images(x)
    assert out.shape == (2, 1, 5, 7) and out.dtype == np.float32 and out.max() == 1.0
    rgb = np.zeros((2, 3, 4, 4), dtype=np.uint16)
    rgb[0, 0, 0, 0] = 65535
    out = D.to_images(rgb, dtype="float64")
    assert out.shape == (2, 3, 4, 4) and out.dtype == np.float64 and out.max() == 1.0
    assert D.to_images(np.full((1, 2, 2), 0.5)).max() == np.float32(0.5)
    with pytest.raises(ShapeError, match="reshape"):
        D.to_images(np.zeros((2, 784), np.uint8))
    with pytest.raises(DataError, match="int16"):
        D.to_images(np.zeros((1, 2, 2), np.int16))


def test_subset_classes_takes_first_limit_of_each_and_relabels():
    y = np.array([3, 8, 3, 1, 8, 3, 8], dtype=np.uint8)
    x = np.arange(7)[:, None] * np.ones((1, 2))
    xs, ys = D.subset_classes(x, y, (8, 3), limit=2, shuffle=False)
    np.testing.assert_array_equal(xs[:, 0], [1, 4, 0, 2])
    np.testing.assert_array_equal(ys, [0, 0, 1, 1])
    assert ys.dtype == np.uint8
    xs2, ys2 = D.subset_classes(x, y, (8, 3), shuffle=True, rng=1, relabel=False)
    assert sorted(xs2[:, 0].tolist()) == [0, 1, 2, 4, 5, 6]
    assert set(ys2.tolist()) == {3, 8}
    np.testing.assert_array_equal(y[xs2[:, 0].astype(int)], ys2)  # pairs stay together
    again = D.subset_classes(x, y, (8, 3), shuffle=True, rng=1, relabel=False)
    np.testing.assert_array_equal(again[0], xs2)
    with pytest.raises(DataError, match="no sample has label 5"):
        D.subset_classes(x, y, (5,))
    with pytest.raises(DataError, match="distinct"):
        D.subset_classes(x, y, (3, 3))


def test_dataset_subset_keeps_class_names():
    ds = D.load_bundled().subset([3, 8], limit=10, rng=0)
    assert ds.class_names == ("3", "8") and ds.num_classes == 2
    assert len(ds.x_train) == 20 and len(ds.x_test) == 20
    assert "mnist-small" in repr(ds) and "(20, 28, 28)" in repr(ds)


# ---------------------------------------------------------------- Dataset checks


def _xy(n=4, label_dtype=np.uint8):
    return np.zeros((n, 2, 2), np.uint8), np.arange(n, dtype=label_dtype) % 2


def test_dataset_defaults_and_optional_test_split():
    x, y = _xy()
    ds = Dataset("toy", x, y)
    assert ds.class_names == ("0", "1") and not ds.has_test
    assert ds.to_tuples()[1] == (None, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_train": np.zeros(3, np.uint8)}, "4 samples but y_train has 3"),
        ({"y_train": np.zeros((4, 2, 2), np.float32)}, "integer class labels"),
        ({"y_train": np.zeros((4, 2), np.uint8)}, "shape \\(N,\\)"),
        ({"x_train": np.zeros(4, np.uint8)}, "at least 2 dims"),
        ({"x_train": np.array([None] * 4 * 4).reshape(4, 4)}, "numeric"),
        ({"x_test": np.zeros((2, 2, 2))}, "together"),
        ({"x_test": np.zeros((2, 3, 3)), "y_test": np.zeros(2, int)}, "same sample shape"),
        ({"class_names": ["a"]}, "outside 0..0"),
        ({"x_train": [[1, 2]] * 4}, "NumPy arrays"),
    ],
)
def test_dataset_rejects_bad_arrays(kwargs, message):
    x, y = _xy()
    fields = {"name": "toy", "x_train": x, "y_train": y, **kwargs}
    with pytest.raises(DataError, match=message) as info:
        Dataset(**fields)
    assert "toy" in str(info.value)


# ---------------------------------------------------------------- .npz files


def test_load_npz_with_and_without_test_split(tmp_path):
    x, y = _xy()
    full = tmp_path / "full.npz"
    np.savez(full, x_train=x, y_train=y, x_test=x[:2], y_test=y[:2], class_names=["a", "b"])
    ds = D.load(full)
    assert ds.name == "full" and ds.class_names == ("a", "b") and len(ds.x_test) == 2
    train_only = tmp_path / "train.npz"
    np.savez_compressed(train_only, x_train=x, y_train=y)
    ds = D.load(str(train_only))
    assert ds.x_test is None and ds.y_test is None and len(ds.x_train) == 4


def test_keras_style_mnist_npz_is_accepted(tmp_path):
    (x_train, y_train), (x_test, y_test) = D.mnist_small()
    path = tmp_path / "mnist.npz"  # the layout of keras' ~/.keras/datasets/mnist.npz
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    ds = D.load(path)
    np.testing.assert_array_equal(ds.x_test, x_test)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_train": np.zeros((4, 2, 2))}, "missing y_train"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4, int)}, "missing x_train, y_train"),
        ({"x_train": np.zeros((4, 2)), "y_train": np.zeros((4, 1, 1))}, "integer class labels"),
        ({"x_train": np.zeros((4, 2)), "y_train": np.zeros(3, int)}, "4 samples"),
        ({"x_train": np.zeros(4), "y_train": np.zeros(4, int)}, "at least 2 dims"),
        ({"x_train": np.array(["a"] * 8).reshape(4, 2), "y_train": np.zeros(4, int)}, "numeric"),
        (
            {"x_train": np.zeros((4, 2)), "y_train": np.zeros(4, int), "class_names": [[1]]},
            "class_names",
        ),
    ],
)
def test_malformed_npz(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        D.load(path)


def test_pickled_npz_is_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    objects = np.empty(4, dtype=object)
    objects[:] = [np.zeros(2)] * 4
    np.savez(path, x_train=objects, y_train=np.zeros(4, int))
    with pytest.raises(DataError, match="pickle"):
        D.load(path)


def test_not_an_npz(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file at all")
    with pytest.raises(DataError, match=r"garbage\.npz: not an \.npz file"):
        D.load(garbage)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataError, match="single array"):
        D.load(single)


def test_unknown_source():
    with pytest.raises(DataError, match=r"unknown dataset 'cifar-11'.*mnist-small"):
        D.load("cifar-11")


# ---------------------------------------------------------------- folders and lookup order


def make_idx_set(folder: Path, fill: int, *, gz: bool = True, n_train=6, n_test=4) -> None:
    """Four tiny IDX files whose pixels all equal ``fill`` (to tell folders apart)."""
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{ext}", np.full((n_train, 3, 3), fill, np.uint8))
    write_idx(folder / f"train-labels-idx1-ubyte{ext}", np.arange(n_train, dtype=np.uint8) % 3)
    write_idx(folder / f"t10k-images-idx3-ubyte{ext}", np.full((n_test, 3, 3), fill, np.uint8))
    write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", np.arange(n_test, dtype=np.uint8) % 3)


def offline_remote(name="mnist") -> Remote:
    spec = REMOTES["mnist"]
    return Remote(name=name, mirrors=(), files=spec.files, class_names=spec.class_names)


@pytest.mark.parametrize("gz", [True, False])
def test_load_folder_of_idx_files(tmp_path, gz):
    make_idx_set(tmp_path / "digits", 7, gz=gz)
    ds = D.load(tmp_path / "digits")
    assert ds.name == "digits" and ds.x_train.shape == (6, 3, 3) and ds.x_test.shape == (4, 3, 3)
    assert ds.class_names == ("0", "1", "2")


def test_folder_missing_files_is_named(tmp_path):
    make_idx_set(tmp_path / "d", 1)
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        D.load(tmp_path / "d")


def test_folder_with_mismatched_counts(tmp_path):
    make_idx_set(tmp_path / "d", 1)
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="6 samples but y_train has 5"):
        D.load(tmp_path / "d")


def test_lookup_order_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    remote = offline_remote()
    make_idx_set(tmp_path / "arg", 1)
    make_idx_set(tmp_path / "env" / "mnist", 2)  # in a subfolder named after the dataset
    make_idx_set(tmp_path / "cache" / "mnist", 3, gz=False)
    monkeypatch.setenv("NNF_DATA_DIR", str(tmp_path / "env"))

    def pixel(**kwargs):
        ds = D.load("mnist", download=False, remote=remote, **kwargs)
        assert ds.name == "mnist" and ds.class_names == tuple("0123456789")
        return int(ds.x_train[0, 0, 0])

    assert pixel(data_dir=tmp_path / "arg") == 1
    assert pixel() == 2
    monkeypatch.delenv("NNF_DATA_DIR")
    assert pixel() == 3
    # an empty data_dir falls through to the next place
    (tmp_path / "empty").mkdir()
    assert pixel(data_dir=tmp_path / "empty") == 3


def test_not_found_lists_places_and_fix(tmp_path, monkeypatch):
    partial = tmp_path / "partial"
    make_idx_set(partial, 1)
    (partial / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:
        D.load("mnist", data_dir=partial, download=False, remote=offline_remote())
    message = str(info.value)
    assert "has 3 of 4 files" in message and "(cache)" in message
    assert "NNF_DATA_DIR" in message and "download=True" in message
    monkeypatch.setenv("NNF_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"NNF_DATA_DIR .*nowhere is not a folder"):
        D.load("mnist", download=False, remote=offline_remote())


def test_dotted_file_names_accepted(tmp_path):
    folder = tmp_path / "lecun"
    make_idx_set(folder, 4, gz=False)
    for path in folder.iterdir():
        path.rename(folder / path.name.replace("-idx", ".idx"))
    assert int(D.load(folder).x_train[0, 0, 0]) == 4


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_from_debian_package(tmp_path):
    ds = D.load("fashion-mnist", download=False)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert np.all(np.bincount(ds.y_test) == 1000)
    # data_dir still wins over the system folder
    make_idx_set(tmp_path / "mine" / "fashion-mnist", 9)
    assert int(D.load("fashion-mnist", data_dir=tmp_path / "mine").x_train[0, 0, 0]) == 9


def test_error_messages_are_one_line(tmp_path):
    messages = []
    for call in (
        lambda: D.load("cifar-11"),
        lambda: read_idx(tmp_path / "missing"),
        lambda: D.load("mnist", download=False, remote=offline_remote()),
    ):
        with pytest.raises(DataError) as info:
            call()
        messages.append(str(info.value))
    assert all("\n" not in m and re.search(r"; \w", m) for m in messages)


def test_import_is_light():
    code = (
        "import sys, nnf.datasets; "
        "heavy = [m for m in ('scipy', 'urllib.request', 'http.client') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
