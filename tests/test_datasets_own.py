"""Your own data: image folders (PNGs made with Pillow here), CSV files, .npy pairs."""

from __future__ import annotations

from pathlib import Path

import nnf
import numpy as np
import pytest
from nnf.datasets import load, load_csv, load_image_folder, read_images
from nnf.errors import DataError

Image = pytest.importorskip("PIL.Image", reason="Pillow is in the test extra")


def write_images(root: Path, classes: dict[str, int], size=(6, 5), mode="L", seed=0) -> None:
    rng = np.random.default_rng(seed)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shape = (size[0], size[1]) if mode == "L" else (size[0], size[1], 3)
            pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
            Image.fromarray(pixels, mode=mode).save(root / name / f"{i}.png")


def test_image_folder_gives_channels_first_uint8_and_class_names(tmp_path: Path) -> None:
    write_images(tmp_path / "pets", {"dog": 3, "cat": 2})
    ds = load_image_folder(tmp_path / "pets")
    assert ds.x_train.shape == (5, 1, 6, 5) and ds.x_train.dtype == np.uint8
    assert ds.class_names == ("cat", "dog")  # sorted folder names
    assert list(ds.y_train) == [0, 0, 1, 1, 1]
    pixels = np.asarray(Image.open(tmp_path / "pets" / "cat" / "0.png"))
    np.testing.assert_array_equal(ds.x_train[0, 0], pixels)  # decoded exactly
    assert not ds.has_test


def test_image_folder_with_splits_rgb_and_resizing(tmp_path: Path) -> None:
    write_images(tmp_path / "set" / "train", {"a": 2, "b": 2}, mode="RGB")
    write_images(tmp_path / "set" / "test", {"a": 1, "b": 1}, mode="RGB", seed=1)
    ds = load(tmp_path / "set")  # the same entry point as --data
    assert ds.x_train.shape == (4, 3, 6, 5) and ds.x_test.shape == (2, 3, 6, 5)
    rgb = np.asarray(Image.open(tmp_path / "set" / "train" / "b" / "1.png"))
    np.testing.assert_array_equal(ds.x_train[3], rgb.transpose(2, 0, 1))
    gray = load_image_folder(tmp_path / "set", channels=1, size=(4, 4))
    assert gray.x_train.shape == (4, 1, 4, 4) and gray.x_test.shape == (2, 1, 4, 4)


def test_images_of_different_sizes_need_a_size(tmp_path: Path) -> None:
    write_images(tmp_path / "mixed", {"a": 1})
    write_images(tmp_path / "mixed", {"b": 1}, size=(7, 7))
    with pytest.raises(DataError, match="resize"):
        load_image_folder(tmp_path / "mixed")
    assert load_image_folder(tmp_path / "mixed", size=(6, 5)).x_train.shape == (2, 1, 6, 5)


def test_not_an_image_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad\.png"):
        read_images([tmp_path / "bad.png"])


def test_fit_on_an_image_folder(tmp_path: Path) -> None:
    write_images(tmp_path / "pets", {"cat": 6, "dog": 6})
    ds = load_image_folder(tmp_path / "pets")
    layers = [nnf.layers.Flatten(), nnf.layers.Dense(output_size=2), nnf.layers.Softmax()]
    model = nnf.Sequential(layers, input_shape=(1, 6, 5))
    model.fit(ds.x_train, ds.y_train, epochs=1, verbose=0, seed=0, class_names=ds.class_names)
    assert model.class_names == ("cat", "dog")


# ----------------------------------------------------------------------------- CSV
def test_csv_with_header_named_label_and_class_names(tmp_path: Path) -> None:
    path = tmp_path / "iris.csv"
    path.write_text("a,species,b\n1.0,setosa,2\n3,virginica,4.5\n5,setosa,6\n")
    ds = load_csv(path, label="species")
    np.testing.assert_array_equal(ds.x_train, [[1, 2], [3, 4.5], [5, 6]])
    assert ds.x_train.dtype == np.float32
    assert ds.class_names == ("setosa", "virginica") and list(ds.y_train) == [0, 1, 0]
    assert load(path, label="species").class_names == ("setosa", "virginica")


def test_csv_without_header_takes_the_last_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("0.5,1.5,2\n1,2,0\n")
    ds = load_csv(path)
    assert ds.x_train.shape == (2, 2) and list(ds.y_train) == [2, 0]
    assert ds.y_train.dtype == np.float64  # class ids or targets: the model decides
    path.write_text("x,y\n0.5,1.25\n1,-2.5\n")
    ds = load_csv(path)
    assert ds.y_train.dtype == np.float64 and list(ds.y_train) == [1.25, -2.5]
    assert ds.class_names == ()


@pytest.mark.parametrize(
    ("text", "label", "needle"),
    [
        ("a,b\n1,x\n2,y\n", "c", "no column named 'c'"),
        ("1,2\n3\n", None, "line 2"),
        ("a,b\nfoo,1\n", None, "'foo' is not a number"),
        ("", None, "no rows"),
    ],
)
def test_bad_csv_files_say_where(tmp_path: Path, text: str, label: str | None, needle: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=needle):
        load_csv(path, label=label)


# ------------------------------------------------------------------------------ .npy
def test_npy_pair_and_folder(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array(["b", "a", "b", "a"]))
    ds = load(f"{tmp_path / 'x.npy'},{tmp_path / 'y.npy'}")
    assert ds.class_names == ("a", "b") and list(ds.y_train) == [1, 0, 1, 0]
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.save(folder / "x_train.npy", x)
    np.save(folder / "y_train.npy", np.array([0.5, 1.5, 2.5, 3.5]))
    ds = load(folder)
    assert ds.y_train.dtype == np.float64 and not ds.has_test


def test_jpeg_and_bmp_decode_too(tmp_path: Path) -> None:
    pixels = np.tile(np.arange(0, 240, 40, dtype=np.uint8), (5, 1))  # smooth: JPEG keeps it
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(pixels).save(tmp_path / "a" / "x.bmp")
    Image.fromarray(np.stack([pixels] * 3, axis=2)).save(tmp_path / "b" / "y.jpg", quality=95)
    ds = load_image_folder(tmp_path)
    assert ds.x_train.shape == (2, 3, 5, 6)  # one RGB image: both become RGB
    np.testing.assert_array_equal(ds.x_train[0, 1], pixels)  # BMP is lossless
    assert np.abs(ds.x_train[1].astype(int) - pixels).max() <= 8
