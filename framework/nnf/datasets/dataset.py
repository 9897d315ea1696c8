"""The ``Dataset`` container: a train split, an optional test split and the class names."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from ..errors import DataError

__all__ = ["Dataset"]

Split = tuple[np.ndarray, np.ndarray]


def _default_class_names(self: Dataset) -> tuple[str, ...]:
    # Called before validation, so tolerate anything; __attrs_post_init__ reports problems.
    labels = [y for y in (self.y_train, self.y_test) if isinstance(y, np.ndarray) and y.size]
    if not all(np.issubdtype(y.dtype, np.integer) for y in labels) or not labels:
        return ()
    return tuple(str(i) for i in range(int(max(y.max() for y in labels)) + 1))


@attrs.frozen(eq=False, repr=False)
class Dataset:
    """Images or feature rows with class labels or regression targets, checked on creation.

    ``x_train``: (N, ...) numeric array; ``y_train``: (N,) integer labels in
    ``[0, num_classes)``, or float targets (N,) or (N, k) for regression (no class names).
    ``x_test``/``y_test`` have the same form or are both None.
    ``class_names`` defaults to ``("0", "1", ...)`` up to the largest label.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: tuple[str, ...] = attrs.field(
        default=attrs.Factory(_default_class_names, takes_self=True),
        converter=lambda names: tuple(str(n) for n in names),
    )

    def __attrs_post_init__(self) -> None:
        _check_split(self.name, "train", self.x_train, self.y_train, self.num_classes)
        if (self.x_test is None) != (self.y_test is None):
            raise DataError(
                f"{self.name}: x_test and y_test must be given together; pass both or neither"
            )
        if self.x_test is not None:
            _check_split(self.name, "test", self.x_test, self.y_test, self.num_classes)
            if self.x_test.shape[1:] != self.x_train.shape[1:]:
                raise DataError(
                    f"{self.name}: test samples have shape {self.x_test.shape[1:]}, train "
                    f"samples {self.x_train.shape[1:]}; make both splits the same sample shape"
                )

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(class_names)``."""
        return len(self.class_names)

    @property
    def has_test(self) -> bool:
        """Whether the test split is present."""
        return self.x_test is not None

    def to_tuples(self) -> tuple[Split, Split | tuple[None, None]]:
        """``((x_train, y_train), (x_test, y_test))``, as ``keras.datasets.*.load_data()``."""
        if self.x_test is None or self.y_test is None:
            return (self.x_train, self.y_train), (None, None)
        return (self.x_train, self.y_train), (self.x_test, self.y_test)

    def subset(
        self,
        classes: Sequence[int],
        limit: int | None = None,
        *,
        shuffle: bool = True,
        rng: np.random.Generator | int | None = None,
    ) -> Dataset:
        """Keep only ``classes`` (relabelled 0..k-1 in the given order), at most ``limit`` each.

        Both splits are reduced the same way; see ``subset_classes`` for the selection rule.
        """
        from .transforms import subset_classes

        rng = np.random.default_rng(rng)
        x_train, y_train = subset_classes(
            self.x_train, self.y_train, classes, limit, shuffle=shuffle, rng=rng
        )
        x_test = y_test = None
        if self.x_test is not None and self.y_test is not None:
            x_test, y_test = subset_classes(
                self.x_test, self.y_test, classes, limit, shuffle=shuffle, rng=rng
            )
        kept = "-".join(str(int(c)) for c in classes)
        return Dataset(
            name=f"{self.name}[{kept}]",
            x_train=x_train,
            y_train=y_train,
            x_test=x_test,
            y_test=y_test,
            class_names=[self.class_names[int(c)] for c in classes],
        )

    def __repr__(self) -> str:
        def describe(x: np.ndarray | None) -> str:
            return "None" if x is None else f"{x.shape} {x.dtype}"

        return (
            f"Dataset(name={self.name!r}, train={describe(self.x_train)}, "
            f"test={describe(self.x_test)}, num_classes={self.num_classes})"
        )


def _check_split(name: str, split: str, x: object, y: object, num_classes: int) -> None:
    """Raise ``DataError`` unless ``x`` is (N, ...) numeric and ``y`` is (N,) labels in range."""
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise DataError(
            f"{name}: x_{split} and y_{split} must be NumPy arrays, got "
            f"{type(x).__name__} and {type(y).__name__}; convert with np.asarray"
        )
    if x.ndim < 2 or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(
            f"{name}: x_{split} must be a numeric (N, ...) array with at least 2 dims, got "
            f"shape {x.shape} dtype {x.dtype}; store samples along the first axis"
        )
    if np.issubdtype(y.dtype, np.floating) and y.ndim in (1, 2):
        if len(x) != len(y):
            raise DataError(
                f"{name}: x_{split} has {len(x)} samples but y_{split} has {len(y)} targets; "
                "give one target per sample"
            )
        return  # regression targets (or class labels that nnf.labels reads as such)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{name}: y_{split} must be integer class labels of shape (N,) or float targets "
            f"(N,) / (N, k), got shape {y.shape} dtype {y.dtype}; store class indices "
            "(e.g. y.argmax(1).astype('uint8'))"
        )
    if len(x) != len(y):
        raise DataError(
            f"{name}: x_{split} has {len(x)} samples but y_{split} has {len(y)} labels; "
            "give one label per sample"
        )
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(
            f"{name}: y_{split} holds labels {int(y.min())}..{int(y.max())}, outside "
            f"0..{num_classes - 1} for {num_classes} classes; fix the labels or class_names"
        )
