"""The MNIST subset shipped inside nnf: 5,000 train and 1,000 test digits, no download.

Built by ``scripts/make_bundled_mnist.py`` (which records its provenance). Train digits are
interleaved by class (0, 1, ..., 9, 0, ...); test digits are the first 100 of each class of
the official test set, in the official order.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from .dataset import Dataset
from .files import load_npz

__all__ = ["BUNDLED_NAME", "load_bundled", "mnist_small"]

BUNDLED_NAME = "mnist-small"
_FILE = "mnist_small.npz"


def load_bundled() -> Dataset:
    """The bundled "mnist-small" Dataset: x (N, 28, 28) uint8, y (N,) uint8, 10 classes."""
    with resources.files(__package__).joinpath("data").joinpath(_FILE).open("rb") as f:
        return load_npz(f, name=BUNDLED_NAME)


def mnist_small() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))`` like ``keras.datasets.mnist.load_data()``.

    Shapes: (5000, 28, 28) uint8, (5000,) uint8, (1000, 28, 28) uint8, (1000,) uint8, so code
    written for Keras' MNIST (such as the tutorial's ``preprocess_data``) runs unchanged.
    """
    ds = load_bundled()
    assert ds.x_test is not None and ds.y_test is not None
    return (ds.x_train, ds.y_train), (ds.x_test, ds.y_test)
