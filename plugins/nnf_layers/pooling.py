"""2-D max pooling: each output is the largest value of its pool_size x pool_size window.

y[n, c, a, b] = max over i, j < p of x[n, c, a*s + i, b*s + j]
dx = dL/dy routed to the window's argmax (the first one, row-major, on ties)

Both directions run over blocks of ``BLOCK`` samples on up to ``NNF_NUM_THREADS`` threads
(``nnf.threads``), each block writing its own slice of the result.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf import threads
from nnf.errors import ShapeError
from nnf.layer import Layer, Shape

from ._common import as_float, as_gradient, fmt_shape, input_error, positive_int

BLOCK = 64  # samples per thread block: smaller ones gained nothing at batch 64 (thread handoff)


@attrs.define(eq=False)
class MaxPool2D(Layer):
    """Max pooling over windows of ``pool_size`` with step ``stride`` (default: pool_size).

    Shapes: (N, C, H, W) -> (N, C, H', W'), one sample (C, H, W) -> (C, H', W'), with
    H' = (H - pool_size) // stride + 1 (rows and columns that fit no window are dropped).
    """

    key = "nnf.MaxPool2D.v1"
    samples_independent = True
    takes_maxima = True  # a ReLU before it may run after it, on 1/4 of the values (nnf.plan)

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

    def _output_shape(self, input_shape: Shape) -> Shape:
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
        return (c, (h - p) // s + 1, (w - p) // s + 1)

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        return self._output_shape(input_shape)

    def _window(self, a: np.ndarray, i: int, j: int, out_h: int, out_w: int) -> np.ndarray:
        """The strided view of ``a`` (N, C, H, W) holding element (i, j) of every window."""
        s = self.step
        return a[:, :, i : i + s * (out_h - 1) + 1 : s, j : j + s * (out_w - 1) + 1 : s]

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        x = as_float(x, self.dtype)
        if self.in_shape is not None:
            single = x.shape == self.in_shape
            if not single and x.shape[1:] != self.in_shape:
                shape = fmt_shape(self.in_shape)
                accepted = f"samples shaped {shape} (a batch (N, {shape[1:]} or one sample)"
                raise input_error(self, accepted, x.shape)
        elif x.ndim in (3, 4):
            single = x.ndim == 3
        else:
            raise input_error(self, "a batch (N, C, H, W) or one sample (C, H, W)", x.shape)
        batch = x[None] if single else x
        # The argmax is only needed by backward: outside training it is left for backward to
        # work out if it is ever called (the max alone is a quarter of the work at 2x2).
        out, argmax = self._pool(batch, with_argmax=training)
        self.input, self._argmax, self._single = x, argmax, single
        self._out_shape = out.shape[1:] if single else out.shape
        return out[0] if single else out

    def _pool(self, batch: np.ndarray, with_argmax: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The window maxima of ``batch`` (N, C, H, W) and, if asked, each window's argmax."""
        c, out_h, out_w = self._output_shape(batch.shape[1:])
        p = self.pool_size
        out = np.empty((batch.shape[0], c, out_h, out_w), dtype=batch.dtype)
        dtype = np.uint8 if p * p <= 256 else np.intp
        argmax = np.zeros(out.shape, dtype=dtype) if with_argmax else None

        def run(group: int, a: int, b: int) -> None:
            x, y = batch[a:b], out[a:b]
            np.copyto(y, self._window(x, 0, 0, out_h, out_w))
            if argmax is None:
                for i in range(p):
                    for j in range(p):
                        if i or j:
                            np.maximum(y, self._window(x, i, j, out_h, out_w), out=y)
                return
            # argmax: index of the first maximum; offsets come in increasing order and replace
            # the running maximum only when strictly larger, so ties keep the first.
            arg = argmax[a:b]
            larger = np.empty(y.shape, dtype=bool)
            for i in range(p):
                for j in range(p):
                    if i == j == 0:
                        continue
                    view = self._window(x, i, j, out_h, out_w)
                    np.greater(view, y, out=larger)
                    np.maximum(y, view, out=y)
                    # argmax = k where larger (k exceeds every earlier index), cheaper than copyto
                    np.maximum(arg, larger * dtype(i * p + j), out=arg)

        threads.map_groups(run, batch.shape[0], BLOCK)
        return out, argmax

    def _backward(self, output_gradient: Any) -> np.ndarray:
        if self._argmax is None:
            self._argmax = self._pool(self.input[None] if self._single else self.input, True)[1]
        g = as_gradient(self, output_gradient, self._out_shape, self.input.dtype)
        g = g[None] if self._single else g
        shape = (1, *self.input.shape) if self._single else self.input.shape
        p, s = self.pool_size, self.step
        out_h, out_w = g.shape[2:]
        covered = s == p and shape[2] == p * out_h and shape[3] == p * out_w
        dx = np.empty(shape, g.dtype) if covered else np.zeros(shape, g.dtype)
        argmax = self._argmax

        def run(group: int, a: int, b: int) -> None:
            gb, dxb = g[a:b], dx[a:b]
            hit = np.empty(gb.shape, dtype=bool)
            for i in range(p):
                for j in range(p):
                    np.equal(argmax[a:b], i * p + j, out=hit)
                    target = self._window(dxb, i, j, out_h, out_w)
                    if s >= p:  # windows do not overlap: every element is written once
                        np.multiply(gb, hit, out=target)
                    else:
                        target += gb * hit

        threads.map_groups(run, g.shape[0], BLOCK)
        return dx[0] if self._single else dx
