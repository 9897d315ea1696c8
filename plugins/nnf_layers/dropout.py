"""Inverted dropout: while training, zero each value with probability ``rate`` and scale the
survivors by 1 / (1 - rate), so that inference needs no rescaling (it is the identity)."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.errors import ConfigError
from nnf.layer import Layer, legacy_seeded_rng

from ._common import as_float, as_gradient


def _rate(instance: Any, attribute: Any, value: Any) -> None:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not ok or not 0 <= value < 1:
        raise ConfigError(f"Dropout: rate must be a number in [0, 1), got {value!r}")


@attrs.define(eq=False)
class Dropout(Layer):
    """Dropout of ``rate`` (0 <= rate < 1); any input shape.

    Masks are drawn from ``self.rng`` (set by the model for reproducible training; without one,
    a Generator seeded from ``np.random`` is created on first use).
    """

    key = "nnf.Dropout.v1"
    samples_independent = True
    keeps = ("mask",)  # and input

    rate: float = attrs.field(
        default=0.5,
        validator=_rate,
        metadata={"doc": "fraction dropped while training, 0 <= rate < 1; inference ignores it"},
    )

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        x = as_float(x, self.dtype)
        self.input = x
        if not training or self.rate == 0:
            self.mask = None
            return x
        if self.rng is None:
            self.rng = legacy_seeded_rng()
        keep = self.rng.random(x.shape, dtype=x.dtype) >= self.rate
        self.mask = keep
        out = x * keep  # float * bool keeps x's dtype
        out *= 1.0 / (1.0 - self.rate)
        return out

    def _backward(self, output_gradient: Any) -> np.ndarray:
        g = as_gradient(self, output_gradient, self.input.shape, self.input.dtype)
        if self.mask is None:
            return g
        dx = g * self.mask
        dx *= 1.0 / (1.0 - self.rate)
        return dx
