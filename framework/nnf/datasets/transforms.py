"""Turn raw dataset arrays into what a network takes: one-hot targets, scaled image batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..errors import DataError, ShapeError

__all__ = ["one_hot", "subset_classes", "to_categorical", "to_images"]


def _int_labels(labels: ArrayLike, what: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.dtype == np.bool_ or not (
        np.issubdtype(y.dtype, np.integer)
        or (np.issubdtype(y.dtype, np.floating) and np.array_equal(y, np.round(y)))
    ):
        raise DataError(
            f"{what}: labels must be whole numbers, got dtype {y.dtype}; pass class ids"
        )
    return y.astype(np.int64)


def _encode(y: np.ndarray, num_classes: int, dtype: DTypeLike, what: str) -> np.ndarray:
    """(N,) int64 labels -> (N, num_classes) rows with a single 1."""
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(
            f"{what}: labels span {int(y.min())}..{int(y.max())}, outside 0..{num_classes - 1}; "
            "raise num_classes or fix the labels"
        )
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def one_hot(labels: ArrayLike, num_classes: int, dtype: DTypeLike = "float32") -> np.ndarray:
    """Integer labels (N,) -> one-hot matrix (N, num_classes)."""
    y = _int_labels(labels, "one_hot")
    if y.ndim != 1:
        raise ShapeError(f"one_hot: labels must have shape (N,), got {y.shape}; flatten them")
    if int(num_classes) < 1:
        raise DataError(f"one_hot: num_classes must be >= 1, got {num_classes}")
    return _encode(y, int(num_classes), dtype, "one_hot")


def to_categorical(
    y: ArrayLike, num_classes: int | None = None, dtype: DTypeLike = "float32"
) -> np.ndarray:
    """Keras' ``to_categorical``: labels of shape S -> one-hot of shape S + (num_classes,).

    As in Keras, a trailing axis of length 1 is dropped first ((N, 1) -> (N, K)) and
    ``num_classes`` defaults to ``max(y) + 1``.
    """
    labels = _int_labels(y, "to_categorical")
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.ravel()
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    return _encode(flat, int(num_classes), dtype, "to_categorical").reshape(
        (*shape, int(num_classes))
    )


def to_images(x: ArrayLike, dtype: DTypeLike = "float32") -> np.ndarray:
    """Image batch for a convolutional network: (N, H, W) -> (N, 1, H, W), (N, C, H, W) kept.

    Unsigned integer pixels are scaled to [0, 1] by the dtype's maximum (255 for uint8);
    float pixels are assumed already scaled and only cast.
    """
    a = np.asarray(x)
    if a.ndim == 3:
        a = a[:, None, :, :]
    elif a.ndim != 4:
        raise ShapeError(
            f"to_images: expected (N, H, W) or (N, C, H, W) images, got shape {a.shape}; "
            "reshape flat rows first, e.g. x.reshape(-1, 28, 28)"
        )
    if np.issubdtype(a.dtype, np.unsignedinteger):
        return a.astype(dtype) / np.asarray(np.iinfo(a.dtype).max, dtype=dtype)
    if np.issubdtype(a.dtype, np.floating) or a.dtype == np.bool_:
        return a.astype(dtype)
    raise DataError(
        f"to_images: cannot scale pixels of dtype {a.dtype}; "
        "pass uint8 (0..255) or floats in [0, 1]"
    )


def subset_classes(
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[int],
    limit: int | None = None,
    *,
    shuffle: bool = True,
    rng: np.random.Generator | int | None = None,
    relabel: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` samples of each class in ``classes``, optionally shuffled together.

    This is the tutorial's selection (``np.where(y == c)[0][:limit]`` for each class, then a
    permutation). With ``relabel`` the labels become 0..k-1 in the order of ``classes``, so
    ``classes=(3, 8)`` gives a binary problem. Returns ``(x[idx], y[idx])`` copies.
    """
    labels = np.asarray(y)
    wanted = [int(c) for c in classes]
    if not wanted or len(set(wanted)) != len(wanted):
        raise DataError(f"subset_classes: classes must be distinct and non-empty, got {classes}")
    if limit is not None and int(limit) < 1:
        raise DataError(f"subset_classes: limit must be >= 1 or None, got {limit}")
    if len(labels) != len(x):
        raise DataError(
            f"subset_classes: x has {len(x)} samples but y has {len(labels)} labels; "
            "pass matching arrays"
        )
    picks = []
    for c in wanted:
        found = np.flatnonzero(labels == c)[:limit]
        if found.size == 0:
            raise DataError(f"subset_classes: no sample has label {c}; choose present classes")
        picks.append(found)
    index = np.concatenate(picks)
    new_y = (
        np.repeat(np.arange(len(wanted)), [len(p) for p in picks]).astype(labels.dtype)
        if relabel
        else labels[index]
    )
    if shuffle:
        order = np.random.default_rng(rng).permutation(len(index))
        index, new_y = index[order], new_y[order]
    return np.asarray(x)[index], new_y
