"""Dense (fully connected) layer: ``y = W x + b``.

Backward, per sample (the tutorial's formulas): ``dW = g x^T``, ``db = g``, ``dx = W^T g``.
Batched, with one row per input vector: ``dW = G^T X``, ``db = sum G``, ``dX = G W``
(``kernels.dense``; the tutorial's per-sample form is ``kernels.reference.dense``).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.errors import ConfigError, ShapeError
from nnf.layer import INITS, Layer, Shape, init_array

from ._common import as_gradient, fmt_shape, input_error, one_of, positive_int
from .kernels import dense as kernels


@attrs.define(eq=False)
class Dense(Layer):
    """Fully connected layer with ``weights`` (output_size, input_size) and ``bias`` (output_size,).

    ``Dense(784, 100)`` (tutorial form, built at once) or ``Dense(output_size=100)`` (input size
    inferred by the model). ``init``: ``"glorot"``, ``"he"`` (ReLU nets) or ``"normal"`` (the
    tutorial's unscaled randn for weights and bias; otherwise the bias starts at zero).

    Shapes, n = input_size, m = output_size:
      rows     (N, n) -> (N, m)        one row     (n,)   -> (m,)
      columns  (N, n, 1) -> (N, m, 1)  one column  (n, 1) -> (m, 1)   (the tutorial's form)
    """

    key = "nnf.Dense.v1"
    samples_independent = True
    keeps = ()  # input only

    input_size: int | None = attrs.field(
        default=None,
        validator=positive_int(optional=True),
        metadata={"doc": "n, features per sample; null: taken from the previous layer"},
    )
    output_size: int | None = attrs.field(
        default=None,
        validator=positive_int(optional=True),
        metadata={"doc": "m, features out", "required": True},
    )
    init: str = attrs.field(
        default="glorot",
        validator=one_of(INITS),
        metadata={"doc": "how weights are drawn when built; no effect on inference"},
    )

    def __attrs_post_init__(self) -> None:
        if self.output_size is None:
            raise ConfigError(
                "Dense needs output_size: write Dense(input_size, output_size) or "
                "Dense(output_size=...)"
            )
        super().__attrs_post_init__()

    def declared_input_shape(self) -> Shape | None:
        return None if self.input_size is None else (self.input_size,)

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        column = len(input_shape) == 2 and input_shape[1] == 1
        if len(input_shape) != 1 and not column:
            raise ShapeError(
                f"{self.label} takes samples of n features, shaped (n,) or (n, 1), got "
                f"{fmt_shape(input_shape)}: put a Flatten() before it"
            )
        n, m = input_shape[0], int(self.output_size or 0)
        if self.input_size is not None and n != self.input_size:
            raise ShapeError(
                f"{self.label} was declared with input_size={self.input_size} but receives "
                f"samples shaped {fmt_shape(input_shape)}"
            )
        weights = init_array(rng, (m, n), self.init, n, m, dtype)
        if self.init == "normal":
            bias = init_array(rng, (m,), "normal", n, m, dtype)
        else:
            bias = np.zeros(m, dtype=dtype)
        self.params = {"weights": weights, "bias": bias}
        self._grads_dirty = False  # False right after zero_grad: backward writes dW, not adds
        return (m, 1) if column else (m,)

    @property
    def weights(self) -> np.ndarray:
        """The weight matrix (output_size, input_size); edit it in place."""
        self.require_built()
        return self.params["weights"]

    @property
    def bias(self) -> np.ndarray:
        """The bias vector (output_size,); edit it in place."""
        self.require_built()
        return self.params["bias"]

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.require_built()
        self.input = x = np.asarray(x, dtype=self.dtype)
        out_shape = self._output_shape(x)  # checks x
        weights, bias = self.params["weights"], self.params["bias"]
        y = kernels.affine(x.reshape(-1, weights.shape[1]), weights, bias, training)
        return y.reshape(out_shape)

    def _backward(self, output_gradient: Any) -> np.ndarray:
        x = self.input
        g = self._gradient_rows(output_gradient, x)
        input_gradient = g @ self.params["weights"]  # dX = G W
        self._backward_parameters_rows(g, x)
        return input_gradient.reshape(x.shape)

    def _backward_parameters(self, output_gradient: Any) -> None:
        x = self.input
        self._backward_parameters_rows(self._gradient_rows(output_gradient, x), x)

    def _backward_parameters_rows(self, g: np.ndarray, x: np.ndarray) -> None:
        x_rows = x.reshape(-1, self.params["weights"].shape[1])
        if self._grads_dirty:
            self.grads["weights"] += kernels.weight_product(g, x_rows)  # dW = G^T X
        else:  # zeroed since the last backward: write the product there, skip the sum
            kernels.weight_product(g, x_rows, out=self.grads["weights"])
        self.grads["bias"] += g.sum(axis=0)  # db = sum G
        self._grads_dirty = True

    def _backward_sgd(self, output_gradient: Any, learning_rate: float) -> np.ndarray:
        # Fused tutorial step: W += (-lr G)^T X, without touching self.grads.
        x = self.input
        g = self._gradient_rows(output_gradient, x)
        weights = self.params["weights"]
        input_gradient = g @ weights  # before the step, as the tutorial does
        if self._grads_dirty:  # the contract: an SGD step leaves self.grads zero
            self.zero_grad()
        g = g * -learning_rate  # small: (M, output_size)
        weights += kernels.weight_product(g, x.reshape(-1, weights.shape[1]))
        self.params["bias"] += g.sum(axis=0)
        return input_gradient.reshape(x.shape)

    def zero_grad(self) -> None:
        super().zero_grad()
        self._grads_dirty = False

    # ------------------------------------------------------------------ shapes
    def _output_shape(self, x: np.ndarray) -> tuple[int, ...]:
        """Rows (..., n) -> (..., m); columns (..., n, 1) -> (..., m, 1)."""
        m, n = self.params["weights"].shape
        rows = x.ndim in (1, 2) and x.shape[-1] == n
        columns = x.ndim in (2, 3) and x.shape[-2:] == (n, 1)
        if rows and columns:  # only when n == 1: follow how the layer was built
            rows = self.in_shape != (n, 1)
        elif not (rows or columns):
            raise input_error(
                self, f"rows (N, {n}) or ({n},), or columns ({n}, 1) or (N, {n}, 1)", x.shape
            )
        return (*x.shape[:-1], m) if rows else (*x.shape[:-2], m, 1)

    def _gradient_rows(self, output_gradient: Any, x: np.ndarray) -> np.ndarray:
        """dL/dy for the kept input ``x`` as (M, output_size): one row per input vector."""
        g = as_gradient(self, output_gradient, self._output_shape(x), self.dtype)
        return g.reshape(-1, self.params["weights"].shape[0])
