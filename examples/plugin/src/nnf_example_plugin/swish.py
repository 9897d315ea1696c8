"""Swish (SiLU for beta = 1): y = x sigmoid(beta x).

dy/dx = s + beta x s (1 - s),   s = sigmoid(beta x)
"""

from __future__ import annotations

from typing import Any

import attrs
import nnf
import numpy as np
from nnf.errors import ConfigError


def _finite_number(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ConfigError(f"Swish: {attribute.name} must be a finite number, got {value!r}")


@attrs.define(eq=False)
class Swish(nnf.Layer):
    """Element-wise ``x * sigmoid(beta * x)``; any input shape, no parameters."""

    key = "example.Swish.v1"
    # each sample on its own, no state: fit/predict may split batches over threads
    samples_independent = True
    keeps = ("sigmoid",)  # kept by forward for backward besides input (per thread)

    beta: float = attrs.field(default=1.0, validator=_finite_number)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)  # a float32 model stays float32
        # sigmoid(z) = 0.5 tanh(z / 2) + 0.5: never overflows, unlike 1 / (1 + exp(-z)).
        s = np.tanh(x * (0.5 * self.beta))
        s *= 0.5
        s += 0.5
        self.input, self.sigmoid = x, s
        return x * s

    def _backward(self, output_gradient: np.ndarray) -> np.ndarray:
        x, s = self.input, self.sigmoid
        slope = s + self.beta * x * s * (1 - s)
        return np.asarray(output_gradient, dtype=self.dtype) * slope
