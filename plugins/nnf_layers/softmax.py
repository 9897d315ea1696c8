"""Softmax over the class axis: y = exp(x - max x) / sum exp(x - max x).

Backward (the Jacobian diag(y) - y y^T applied to g, without forming it):
    dx = y * (g - sum(g * y))
which for one tutorial column equals the tutorial's ``np.dot((np.identity(n) - y.T) * y, g)``.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.layer import Layer

from ._common import as_float, as_gradient


@attrs.define(eq=False)
class Softmax(Layer):
    """Softmax over the last axis: (N, K) -> (N, K), one row (K,) -> (K,).

    Tutorial columns are normalised over their class axis: (K, 1) -> (K, 1) and
    (N, K, 1) -> (N, K, 1). Columns are recognised by a trailing axis of length 1: the sample
    shape the layer was built for when it was built (a model-built (N, 1) batch of 1-class
    rows stays rows), the array's own shape otherwise.
    """

    key = "nnf.Softmax.v1"
    default_loss = "categorical_crossentropy"
    samples_independent = True
    keeps = ()  # output
    fuses_with_cross_entropy = True  # fit skips its backward: dL/dx = (p - y) / N (nnf.losses)

    @property
    def axis(self) -> int:
        """The class axis of the built layer's batches: -2 for tutorial columns, else -1."""
        self.require_built()
        columns = len(self.in_shape or ()) >= 2 and (self.in_shape or ())[-1] == 1
        return -2 if columns else -1

    def _class_axis(self, x: np.ndarray) -> int:
        if self.in_shape is not None:
            return self.axis
        return -2 if x.ndim in (2, 3) and x.shape[-1] == 1 else -1

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        x = as_float(x, self.dtype)
        axis = self._class_axis(x)
        y = x - x.max(axis=axis, keepdims=True)  # exp of at most 0: no overflow
        np.exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)
        self.output = y
        return y

    def _backward(self, output_gradient: Any) -> np.ndarray:
        y = self.output
        g = as_gradient(self, output_gradient, y.shape, y.dtype)
        dx = g - (g * y).sum(axis=self._class_axis(y), keepdims=True)
        dx *= y
        return dx
