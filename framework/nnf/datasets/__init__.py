"""Datasets for nnf: a bundled MNIST subset, the full MNIST/Fashion-MNIST, your own files
(image folders, CSV, .npy and .npz; see ``load`` and docs/data.md).

    import nnf.datasets as D
    ds = D.load()                                  # bundled "mnist-small", no download
    (x_train, y_train), (x_test, y_test) = D.mnist.load_data()  # keras.datasets.mnist form
    binary = ds.subset([0, 1], limit=100, rng=0)   # the tutorial's 0-vs-1 problem
    x = D.to_images(binary.x_train)                # (N, 1, 28, 28) float32 in [0, 1]
    y = D.one_hot(binary.y_train, 2)[..., None]    # (N, 2, 1)

Only NumPy and attrs are imported here; urllib only when a download starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import mnist, np_utils
from .bundled import BUNDLED_NAME, load_bundled, mnist_small
from .csvfile import load_csv
from .dataset import Dataset
from .files import load_idx_folder, load_npy_folder, load_npy_pair, load_npz
from .idx import read_idx, write_idx
from .images import load_image_folder, read_images
from .loader import load
from .remote import REMOTES, Remote, cache_dir
from .transforms import one_hot, subset_classes, to_categorical, to_images

__all__ = [
    "BUNDLED_NAME",
    "REMOTES",
    "Dataset",
    "Remote",
    "cache_dir",
    "download_file",
    "load",
    "load_bundled",
    "load_csv",
    "load_idx_folder",
    "load_image_folder",
    "load_npy_folder",
    "load_npy_pair",
    "load_npz",
    "mnist",
    "mnist_small",
    "np_utils",
    "one_hot",
    "read_idx",
    "read_images",
    "subset_classes",
    "to_categorical",
    "to_images",
    "write_idx",
]

if TYPE_CHECKING:
    from .download import download_file


def __getattr__(name: str) -> Any:
    if name == "download_file":  # lazily: it brings in urllib.request and http.client
        from .download import download_file

        return download_file
    raise AttributeError(f"module 'nnf.datasets' has no attribute {name!r}")
