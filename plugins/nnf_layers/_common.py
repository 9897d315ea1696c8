"""Small helpers shared by the built-in layers: option validators and shape/dtype checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from nnf.errors import ConfigError, ShapeError
from nnf.layer import Layer, Shape, as_shape

Validator = Callable[[Any, Any, Any], None]


def positive_int(optional: bool = False) -> Validator:
    """attrs validator: a positive int (or None when ``optional``)."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ConfigError(
                f"{type(instance).__name__}: {attribute.name} must be a positive integer, "
                f"got {value!r}"
            )

    check.minimum = 1  # type: ignore[attr-defined]  # listed by nnf.layer_options
    return check


def one_of(options: Sequence[str]) -> Validator:
    """attrs validator: one of a fixed set of strings."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value not in options:
            raise ConfigError(
                f"{type(instance).__name__}: {attribute.name} must be one of "
                f"{', '.join(map(repr, options))}, got {value!r}"
            )

    check.options = tuple(options)  # type: ignore[attr-defined]  # listed by nnf.layer_options
    return check


def optional_shape(value: Any) -> Shape | None:
    """attrs converter: None, or a shape normalised to a tuple of positive ints."""
    return None if value is None else as_shape(value)


def fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def input_error(layer: Layer, accepted: str, got: Sequence[int]) -> ShapeError:
    """A ShapeError naming the layer, what it accepts and the shape it received."""
    return ShapeError(f"{layer.label} expects {accepted}, got an array shaped {fmt_shape(got)}")


def as_gradient(layer: Layer, gradient: Any, shape: Shape, dtype: np.dtype) -> np.ndarray:
    """``gradient`` checked against the last output's ``shape`` and cast to ``dtype``.

    The cast matters: a float64 loss gradient must not turn a float32 network into float64.
    """
    g = np.asarray(gradient, dtype=dtype)
    if g.shape != shape:
        raise ShapeError(
            f"{layer.label}.backward got a gradient shaped {fmt_shape(g.shape)}, but its last "
            f"output was shaped {fmt_shape(shape)}: pass dL/doutput of the last forward call"
        )
    return g


def as_float(x: Any, dtype: np.dtype) -> np.ndarray:
    """``x`` as an array, keeping a floating dtype and casting anything else to ``dtype``."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(dtype)
