"""Inputs as a model takes them: one rule for ``fit``, ``predict``, ``evaluate`` and the CLI.

nnf's image layers take channels first: one sample is ``(C, H, W)``. ``prepare_inputs``
accepts, for a model whose sample shape is ``S``:

* a batch ``(N, *S)``, used as it is;
* one sample ``S`` (no batch axis): it becomes a batch of one ``(1, *S)``;
* grayscale images without their channel axis ``(N, H, W)`` for ``S = (1, H, W)``;
* channels-last images ``(N, H, W, C)`` for ``S = (C, H, W)``: transposed, never reshaped;
* flat rows ``(N, H*W)`` for a single-channel ``S = (1, H, W)``, and any samples with as many
  values as a flat ``S = (D,)`` (flattened row by row);

and refuses anything else with a ``ShapeError`` that shows the difference. uint8 values are
pixels and are scaled to [0, 1]; other numbers are only cast to the model's dtype (wider
integers may be counts or ids: nnf never guesses their scale). Text, objects and complex
numbers are a ``DataError``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError, ShapeError

if TYPE_CHECKING:
    from .model import Sequential

__all__ = ["prepare_inputs", "to_model_layout"]


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _batch_layout(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """``x`` (a batch) in the layout ``(N, *shape)``, or None when no rule applies."""
    sample = tuple(x.shape[1:])
    if sample == shape:
        return x
    if len(shape) == 3 and shape[0] == 1 and sample == shape[1:]:
        return x[:, None]  # grayscale without its channel axis
    if len(shape) == 3 and sample == (shape[1], shape[2], shape[0]):
        return x.transpose(0, 3, 1, 2)  # channels last -> channels first
    if math.prod(sample) == math.prod(shape):
        if len(shape) == 1:
            return x.reshape(len(x), *shape)  # flattened row by row, as Flatten does
        if len(sample) == 1 and len(shape) == 3 and shape[0] == 1:
            return x.reshape(len(x), *shape)  # flat single-channel images: one order only
    return None


def to_model_layout(x: np.ndarray, shape: tuple[int, ...], what: str = "x") -> np.ndarray:
    """``x`` as a batch ``(N, *shape)`` by the rules of this module (no scaling, no cast)."""
    if x.ndim == 0:
        raise ShapeError(f"{what} is a single number; give an array of samples {_fmt(shape)}")
    if x.shape == shape:
        return x[None]  # exactly one sample
    found = _batch_layout(x, shape)
    if found is not None:
        return found
    single = _batch_layout(x[None], shape) if x.ndim <= len(shape) or len(shape) == 1 else None
    if single is not None:
        return single
    raise ShapeError(_mismatch(x.shape, shape, what))


def _mismatch(got: tuple[int, ...], shape: tuple[int, ...], what: str) -> str:
    sample = got[1:]
    msg = (
        f"the model takes samples shaped {_fmt(shape)}"
        + (" (channels first: C, H, W)" if len(shape) == 3 else "")
        + f" but {what} is shaped {_fmt(got)}, i.e. {got[0]} samples shaped {_fmt(sample)}"
    )
    if len(shape) == 3 and len(sample) == 3 and sample[:2] == shape[1:]:
        return (
            f"{msg}: that looks like channels-last images with {sample[2]} channels where the "
            f"model takes {shape[0]}; convert the images (e.g. to "
            f"{'grayscale' if shape[0] == 1 else 'RGB'}) or change input_shape"
        )
    if math.prod(sample) == math.prod(shape):
        return (
            f"{msg}: as many values per sample, but nnf will not guess their order; arrange "
            f"them yourself, e.g. x.reshape(N, H, W, C).transpose(0, 3, 1, 2) for channels-last "
            f"pixels, or x.reshape(N, {', '.join(map(str, shape))}) if they are already in "
            "channels-first order"
        )
    return (
        f"{msg} ({math.prod(sample)} values per sample, the model takes {math.prod(shape)}); "
        "give data that fits or change the model's input_shape"
    )


def prepare_inputs(x: Any, model: Sequential, what: str = "x") -> np.ndarray:
    """``x`` as a batch ``(N, *model.input_shape)`` in the model's dtype (see module docs).

    A model whose input shape is still unknown takes ``x``'s sample shape as it is.
    """
    a = np.asarray(x)
    if a.dtype.kind not in "iubf":
        raise DataError(
            f"{what} holds {a.dtype} values, not numbers; give integer (uint8 pixels) or float data"
        )
    shape = model._infer_input_shape()
    if shape is not None:
        a = to_model_layout(a, tuple(shape), what)
    elif a.ndim < 1:
        raise ShapeError(f"{what} is a single number; give an array of samples")
    dtype = model.dtype
    if a.dtype == np.uint8:  # pixels
        return (a.astype(dtype) / np.asarray(255, dtype=dtype)).astype(dtype, copy=False)
    return a.astype(dtype, copy=False)
