"""Element-wise activations: Tanh, Sigmoid, ReLU and LeakyReLU (any input shape).

Backward is the tutorial's ``output_gradient * f'(input)``, with f' written through the saved
output where that is cheaper (tanh' = 1 - y^2, sigmoid' = y (1 - y)).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.errors import ConfigError
from nnf.layer import Layer

from ._common import as_float, as_gradient
from .kernels.elementwise import relu


class _Elementwise(Layer):
    """Shared plumbing: keep the input and output, check and cast the incoming gradient."""

    samples_independent = True
    keeps = ()  # input and output

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.input = x = as_float(x, self.dtype)
        self.output = y = self._apply(x)
        return y

    def _backward(self, output_gradient: Any) -> np.ndarray:
        y = self.output  # shaped and typed like the input
        return self._gradient(as_gradient(self, output_gradient, y.shape, y.dtype))

    def _apply(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _gradient(self, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@attrs.define(eq=False)
class Tanh(_Elementwise):
    """y = tanh(x); dx = g (1 - y^2)."""

    key = "nnf.Tanh.v1"

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def _gradient(self, g: np.ndarray) -> np.ndarray:
        d = np.square(self.output)
        np.subtract(1, d, out=d)
        d *= g
        return d


@attrs.define(eq=False)
class Sigmoid(_Elementwise):
    """y = 1 / (1 + exp(-x)); dx = g y (1 - y).

    Computed as 0.5 tanh(x / 2) + 0.5: the same function, but it cannot overflow for large
    |x| (no warnings) and runs faster than the exp form; its absolute error is a couple of
    ulps of 1, so outputs near 0 come in steps of ~1e-16 (float64), as outputs near 1 always do.
    """

    key = "nnf.Sigmoid.v1"
    default_loss = "binary_crossentropy"  # for a single output (see Layer.default_loss)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        y = x * 0.5
        np.tanh(y, out=y)
        y *= 0.5
        y += 0.5
        return y

    def _gradient(self, g: np.ndarray) -> np.ndarray:
        y = self.output
        d = np.subtract(1, y)
        d *= y
        d *= g
        return d


@attrs.define(eq=False)
class ReLU(_Elementwise):
    """y = max(x, 0); dx = g where x > 0, else 0."""

    key = "nnf.ReLU.v1"
    commutes_with_max = True  # runs after a MaxPool2D that follows it (nnf.parallel.plan)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return relu(x)

    def _gradient(self, g: np.ndarray) -> np.ndarray:
        # the mask written straight as 0.0/1.0 in g's dtype, then scaled in place: one
        # temporary fewer than g * (x > 0), same values (NaN in g stays NaN where x > 0)
        dx = np.empty_like(g)
        np.greater(self.input, 0, out=dx)
        dx *= g
        return dx


def _non_negative_number(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or value < 0:
        raise ConfigError(
            f"{type(instance).__name__}: {attribute.name} must be a number >= 0, got {value!r}"
        )


@attrs.define(eq=False)
class LeakyReLU(_Elementwise):
    """y = x where x > 0, else alpha x; dx = g where x > 0, else alpha g."""

    key = "nnf.LeakyReLU.v1"

    alpha: float = attrs.field(
        default=0.01,
        validator=_non_negative_number,
        metadata={"doc": "slope for x <= 0, a number >= 0"},
    )

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, x * float(self.alpha))

    def _gradient(self, g: np.ndarray) -> np.ndarray:
        return np.where(self.input > 0, g, g * float(self.alpha))
