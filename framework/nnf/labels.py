"""Targets as a loss takes them: one rule for ``fit``, ``evaluate`` and the CLI.

Class labels may be given as integers ``(N,)``, integral floats (what ``np.loadtxt`` reads),
a column ``(N, 1)``, one-hot rows ``(N, K)`` or strings. Strings are mapped to class indices
in sorted order (or in the order of the model's ``class_names``); the names are kept in the
model file's metadata (``nnf.class_names``) and used by ``predict_classes``, ``nnf predict``
and ``nnf evaluate``. Cross-entropy losses take class indices; other losses get one-hot rows.

Anything else shaped like the model's output is a regression target (floats with ``mse``):
no accuracy is reported for it. A single output is a binary classifier when the loss is
``binary_crossentropy`` or the targets are the integers 0 and 1, a regression otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from .errors import DataError, ShapeError

if TYPE_CHECKING:
    from .model import Sequential

__all__ = [
    "CLASSIFICATION",
    "CLASS_NAMES_KEY",
    "REGRESSION",
    "Targets",
    "encode_targets",
    "get_class_names",
    "set_class_names",
]

CLASSIFICATION, REGRESSION = "classification", "regression"
CLASS_NAMES_KEY = "nnf.class_names"  # model metadata: a JSON list of strings
INDEX_LOSSES = ("categorical_crossentropy", "softmax_crossentropy")  # take class indices


@attrs.frozen(eq=False)
class Targets:
    """Encoded targets and what they mean.

    ``y``: what the loss takes (class indices ``(N,)``, one-hot rows or float targets shaped
    like the outputs). ``task``: "classification" or "regression". ``labels``: the class index
    of each sample ``(N,)`` for classification (None for regression). ``class_names``: names
    of the classes when known.
    """

    y: np.ndarray
    task: str
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None


def get_class_names(model: Sequential) -> tuple[str, ...] | None:
    """The class names saved with ``model`` (None when it has none)."""
    raw = getattr(model, "metadata", {}).get(CLASS_NAMES_KEY)
    if not raw:
        return None
    try:
        names = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    return tuple(names)


def set_class_names(model: Sequential, names: Sequence[Any] | None) -> None:
    """Keep ``names`` (strings) in the model's metadata, saved with it; None removes them."""
    if names is None:
        model.metadata.pop(CLASS_NAMES_KEY, None)
        return
    model.metadata[CLASS_NAMES_KEY] = json.dumps([str(n) for n in names])


def _is_text(y: np.ndarray) -> bool:
    if y.dtype.kind in "US":
        return True
    return y.dtype.kind == "O" and y.size > 0 and all(isinstance(v, str) for v in y.ravel())


def _names_to_indices(
    y: np.ndarray, names: Sequence[str] | None, what: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    values = np.asarray(y).astype(str)
    if names is None:
        names = tuple(str(n) for n in np.unique(values))
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(np.unique(values).tolist()) - set(index))
    if unknown:
        raise DataError(
            f"{what} holds class names the model does not know: {', '.join(unknown[:5])}; "
            f"its classes are {', '.join(names)}"
        )
    return np.array([index[v] for v in values.ravel()], dtype=np.int64).reshape(
        values.shape
    ), tuple(names)


def _integral(y: np.ndarray) -> bool:
    if y.dtype.kind in "iub":
        return True
    return y.dtype.kind == "f" and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))


def _is_one_hot(y: np.ndarray) -> bool:
    return bool(np.all((y == 0) | (y == 1))) and bool(np.all(y.sum(axis=-1) == 1))


def encode_targets(
    y: Any,
    model: Sequential,
    loss: Any,
    class_names: Sequence[str] | None = None,
    what: str = "y",
) -> Targets:
    """``y`` encoded for ``loss`` and the model's (built) output, with its task (module docs).

    ``class_names`` name the classes in index order (default: the model's, else the sorted
    strings of ``y`` for text labels).
    """
    from .losses import get_loss

    loss_name = get_loss(loss).name
    out_shape = tuple(model.output_shape or ())
    k = math.prod(out_shape)
    dtype = model.dtype
    y = np.asarray(y)
    names = tuple(class_names) if class_names is not None else get_class_names(model)
    if _is_text(y):
        y, names = _names_to_indices(y, names, what)
    elif y.dtype.kind not in "iubf":
        raise DataError(f"{what} holds {y.dtype} values; give numbers or class names")
    if y.ndim == 0:
        raise ShapeError(f"{what} is a single value; give one target per sample")
    if k > 1 and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]  # a column of labels
    if k > 1 and y.ndim == 1:
        return _class_indices(y, out_shape, loss_name, names, dtype, what)
    if k == 1 and y.ndim == 1:
        y = y.reshape(len(y), *out_shape)
    if tuple(y.shape[1:]) != out_shape:
        raise ShapeError(
            f"{what} is shaped {y.shape} but the model outputs {out_shape} per sample; give "
            f"class labels (N,), one-hot rows (N, {k}) or targets shaped (N, "
            f"{', '.join(map(str, out_shape))})"
        )
    flat = y.reshape(len(y), k)
    if k == 1:
        if names is not None and len(names) > 2:
            raise ShapeError(
                f"{what} has {len(names)} classes but the model has a single output; end the "
                f"model with {len(names)} outputs (e.g. a Dense with output_size = "
                f"{len(names)}) and a Softmax"
            )
        zero_one = bool(np.all((flat == 0) | (flat == 1)))
        if loss_name == "binary_crossentropy" or (y.dtype.kind in "iub" and zero_one):
            if not zero_one:
                raise ShapeError(
                    f"{what}: a single-output classifier takes labels 0 and 1, got values "
                    f"{flat.min()}..{flat.max()}; end the model with one output per class"
                )
            labels = flat[:, 0].astype(np.int64)
            return Targets(y.astype(dtype), CLASSIFICATION, labels, names)
        return Targets(y.astype(dtype), REGRESSION)
    if loss_name in INDEX_LOSSES or loss_name == "binary_crossentropy" or _is_one_hot(flat):
        return Targets(y.astype(dtype), CLASSIFICATION, flat.argmax(axis=1), names)
    return Targets(y.astype(dtype), REGRESSION)


def _class_indices(
    y: np.ndarray,
    out_shape: tuple[int, ...],
    loss_name: str,
    names: tuple[str, ...] | None,
    dtype: np.dtype,
    what: str,
) -> Targets:
    k = math.prod(out_shape)
    if not _integral(y):
        raise ShapeError(
            f"{what} is shaped {y.shape} with fractional values, but the model outputs {k} "
            f"values per sample: class labels must be whole numbers 0..{k - 1} (or give "
            f"targets shaped (N, {', '.join(map(str, out_shape))}))"
        )
    labels = y.astype(np.int64)
    top = int(np.max(labels)) if labels.size else -1
    if labels.size and np.min(labels) < 0:
        raise ShapeError(f"{what} holds negative class labels; classes are numbered 0..{k - 1}")
    if top >= k:
        raise ShapeError(
            f"{what} has {top + 1} classes (labels 0..{top}) but the model outputs {k} values; "
            f"end the model with {top + 1} outputs (e.g. the last Dense's output_size = "
            f"{top + 1})"
        )
    if names is not None and len(names) > k:
        raise ShapeError(
            f"{what} has {len(names)} classes but the model outputs {k} values; end the model "
            f"with {len(names)} outputs"
        )
    if loss_name in INDEX_LOSSES and out_shape == (k,):
        return Targets(labels, CLASSIFICATION, labels, names)
    encoded = np.zeros((len(labels), k), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return Targets(encoded.reshape(len(labels), *out_shape), CLASSIFICATION, labels, names)
