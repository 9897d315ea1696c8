"""Fitting a dataset to a model: which loss, how inputs are shaped and how labels are encoded.

The rules (also in ``nnf train --help``):

* Inputs: uint8 pixels are scaled to [0, 1] (divided by 255); other integers, booleans and
  floats are used as they are; text, objects and complex numbers are refused. Samples
  whose shape differs from the model's input shape are reshaped when they hold the same
  number of values, so MNIST's 28x28 images fit both ``input_shape = [1, 28, 28]`` (a CNN) and
  ``input_shape = [784]`` (an MLP, flattened row by row). Anything else is a ``ShapeError``.
* Labels: class indices stay indices for the cross-entropy losses; for other losses they are
  one-hot encoded to the model's output size (a single output takes 0/1 labels as they are).
* Default loss: ``categorical_crossentropy`` after a Softmax, ``binary_crossentropy`` after a
  Sigmoid, ``softmax_crossentropy`` on raw scores (several outputs), ``mse`` on one output.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ShapeError

if TYPE_CHECKING:
    from ..datasets import Dataset
    from ..model import Sequential

CLASS_LOSSES = ("categorical_crossentropy", "softmax_crossentropy")


def load_dataset(
    source: str, data_dir: str | None = None, download: bool = True, progress: bool = True
) -> Dataset:
    """The dataset named by ``--data`` (see ``nnf.datasets.load``)."""
    from .. import datasets

    return datasets.load(source, data_dir=data_dir, download=download, progress=progress)


def _last_key(model: Sequential) -> str:
    return type(model.layers[-1]).key if model.layers else ""


def default_loss(model: Sequential) -> str:
    """The loss that suits the model's last layer (see the module docstring)."""
    last = _last_key(model)
    if last.startswith("nnf.Softmax."):
        return "categorical_crossentropy"
    if last.startswith("nnf.Sigmoid."):
        return "binary_crossentropy"
    return "softmax_crossentropy" if _num_outputs(model) > 1 else "mse"


def loss_name(loss: Any) -> str:
    """The registered name of a loss object or name."""
    return str(getattr(loss, "name", loss))


def _num_outputs(model: Sequential) -> int:
    return math.prod(model.output_shape or (1,))


def fit_inputs(x: np.ndarray, model: Sequential, what: str = "the data") -> np.ndarray:
    """``x`` (N, ...) scaled and reshaped to ``(N, *model.input_shape)`` in the model's dtype;
    ``DataUsageError`` (exit 2) for data that is not numbers."""
    if x.dtype.kind not in "iubf":
        from .errors import DataUsageError

        raise DataUsageError(
            f"{what} holds {x.dtype} values, not numbers; give integer (uint8 pixels) or float data"
        )
    shape = tuple(model.input_shape or ())
    sample = tuple(x.shape[1:])
    if sample != shape:
        if math.prod(sample) != math.prod(shape):
            raise ShapeError(
                f"the model takes samples shaped {shape} ({math.prod(shape)} values) but {what} "
                f"has samples shaped {sample} ({math.prod(sample)} values); change input_shape "
                "in the spec or use data that fits"
            )
        x = x.reshape((len(x), *shape))
    if x.dtype == np.uint8:  # pixels; wider integers may be counts or ids: never guess a scale
        return (x.astype(model.dtype) / np.asarray(255, dtype=model.dtype)).astype(model.dtype)
    return x.astype(model.dtype, copy=False)


def fit_labels(
    y: np.ndarray, model: Sequential, loss: str, num_classes: int, what: str = "the data"
) -> np.ndarray:
    """Integer class labels ``(N,)`` encoded as ``loss`` and the model's output need."""
    out_shape = tuple(model.output_shape or ())
    k = math.prod(out_shape)
    y = np.asarray(y)
    if k == 1:
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ShapeError(
                f"the model has a single output but {what} has {num_classes} classes; "
                f"end the model with {num_classes} outputs (e.g. a Dense with "
                f"output_size = {num_classes})"
            )
        return y.astype(model.dtype).reshape((len(y), *out_shape))
    if num_classes > k:
        raise ShapeError(
            f"{what} has {num_classes} classes but the model outputs {k} values; end the model "
            f"with {num_classes} outputs (e.g. set the last Dense's output_size = {num_classes})"
        )
    if loss in CLASS_LOSSES and out_shape == (k,):
        return y.astype(np.int64)
    encoded = np.zeros((len(y), k), dtype=model.dtype)
    encoded[np.arange(len(y)), y.astype(np.intp)] = 1
    return encoded.reshape((len(y), *out_shape))


def class_scores(pred: np.ndarray, model: Sequential) -> np.ndarray:
    """Per-class scores ``(N, K)`` from model outputs: probabilities where the model ends in
    Softmax or Sigmoid, else softmax of the raw outputs; one output becomes ``[1 - p, p]``."""
    p = pred.reshape(len(pred), -1).astype(np.float64)
    last = _last_key(model)
    if p.shape[1] == 1:
        if not last.startswith("nnf.Sigmoid."):
            p = np.clip(p, 0.0, 1.0)
        return np.concatenate([1 - p, p], axis=1)
    if last.startswith(("nnf.Softmax.", "nnf.Sigmoid.")):
        return p
    z = p - p.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``m[i, j]`` counts samples of true class i predicted as class j."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y_true.astype(np.intp), y_pred.astype(np.intp)), 1)
    return m
