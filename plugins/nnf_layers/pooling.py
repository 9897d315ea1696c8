"""2-D max pooling: each output is the largest value of its pool_size x pool_size window.

    y[n, c, a, b] = max over i, j < p of x[n, c, a*s + i, b*s + j]
    dx = dL/dy routed to the window's argmax (the first one, row-major, on ties)

The batched kernels are ``kernels.pooling``; ``kernels.reference.max_pool`` is the same
formula as a loop over windows, for reading.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.errors import ShapeError
from nnf.layer import Layer, Shape

from ._common import as_float, as_gradient, fmt_shape, input_error, positive_int
from .kernels import pooling as kernels


@attrs.define(eq=False)
class MaxPool2D(Layer):
    """Max pooling over windows of ``pool_size`` with step ``stride`` (default: pool_size).

    Shapes: (N, C, H, W) -> (N, C, H', W'), one sample (C, H, W) -> (C, H', W'), with
    H' = (H - pool_size) // stride + 1 (rows and columns that fit no window are dropped).
    """

    key = "nnf.MaxPool2D.v1"
    samples_independent = True
    takes_maxima = True  # a ReLU before it may run after it, on 1/4 of the values (nnf.parallel)
    keeps = ("argmax",)  # and input

    pool_size: int = attrs.field(
        default=2, validator=positive_int(), metadata={"doc": "p: windows are p x p"}
    )
    stride: int | None = attrs.field(
        default=None,
        validator=positive_int(optional=True),
        metadata={"doc": "s, step between windows; null: s = pool_size"},
    )

    @property
    def step(self) -> int:
        return self.stride if self.stride is not None else self.pool_size

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        if len(input_shape) != 3:
            raise ShapeError(
                f"{self.label} takes samples shaped (channels, height, width), got "
                f"{fmt_shape(input_shape)}"
            )
        c, h, w = input_shape
        p, s = self.pool_size, self.step
        if h < p or w < p:
            raise ShapeError(
                f"{self.label}: a {p}x{p} pool does not fit in {h}x{w} inputs; use a smaller "
                "pool_size"
            )
        return (c, kernels.output_size(h, p, s), kernels.output_size(w, p, s))

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.input = x = as_float(x, self.dtype)
        batch = x[None] if self._single(x) else x
        if self.in_shape is None:  # unbuilt: check that the windows fit
            self._build(batch.shape[1:], np.random.default_rng(0), x.dtype)
        # The argmax is only needed by backward: outside training it is left for backward to
        # work out if it is ever called (the max alone is a quarter of the work at 2x2).
        y, self.argmax = kernels.max_pool(batch, self.pool_size, self.step, training)
        return y[0] if batch is not x else y

    def _backward(self, output_gradient: Any) -> np.ndarray:
        x = self.input
        single = self._single(x)
        batch = x[None] if single else x
        argmax = self.argmax
        if argmax is None:  # forward ran in inference mode
            argmax = self.argmax = kernels.max_pool(batch, self.pool_size, self.step, True)[1]
        assert argmax is not None
        out_shape = argmax.shape[1:] if single else argmax.shape
        g = as_gradient(self, output_gradient, out_shape, x.dtype)
        dx = kernels.max_pool_gradient(
            g[None] if single else g, argmax, batch.shape, self.pool_size, self.step
        )
        return dx[0] if single else dx

    def _single(self, x: np.ndarray) -> bool:
        """Whether ``x`` is one sample (C, H, W) rather than a batch; checks its shape."""
        if self.in_shape is not None:
            if x.shape == self.in_shape:
                return True
            if x.shape[1:] == self.in_shape:
                return False
            shape = fmt_shape(self.in_shape)
            accepted = f"samples shaped {shape} (a batch (N, {shape[1:]} or one sample)"
            raise input_error(self, accepted, x.shape)
        if x.ndim not in (3, 4):
            raise input_error(self, "a batch (N, C, H, W) or one sample (C, H, W)", x.shape)
        return x.ndim == 3
