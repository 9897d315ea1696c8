"""Average pooling: each output is the mean of a window of its input channel.

AvgPool2D, pool size p, stride s, over each channel of (N, C, H, W):

    y[n, c, a, b] = 1/|W_ab| * sum over (i, j) in W_ab of x[n, c, a*s + i - top, b*s + j - left]

where W_ab holds the offsets 0 <= i, j < p whose position falls inside the input. With
``padding="valid"`` every window lies inside (|W_ab| = p*p, top = left = 0); with ``"same"``
the input is padded to give ceil(H / s) x ceil(W / s) outputs (the odd padding row or column
at the bottom/right, as TensorFlow, Keras and nnf's Convolutional do) and padded positions
are left out of the mean, not counted as zeros (Keras's and ONNX's ``count_include_pad=0``).

Backward: each output's gradient is shared equally among the inputs of its window,

    dx[n, c, a*s + i - top, b*s + j - left] += g[n, c, a, b] / |W_ab|

GlobalAveragePooling2D is the window covering the whole image: (N, C, H, W) -> (N, C),
y[n, c] = mean over h, w of x[n, c, h, w], and dx[n, c, h, w] = g[n, c] / (H*W).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.errors import ShapeError
from nnf.layer import Layer, Shape

from ._common import as_float, as_gradient, fmt_shape, input_error, one_of, positive_int


def same_padding(size: int, pool: int, stride: int) -> tuple[int, int, int]:
    """Outputs along one axis with ``"same"`` padding, and the padding before and after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + pool - size, 0)
    return out, total // 2, total - total // 2


def _image_shape(layer: Layer, input_shape: Shape) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ShapeError(
            f"{layer.label} takes samples shaped (channels, height, width), got "
            f"{fmt_shape(input_shape)}"
        )
    c, h, w = input_shape
    return c, h, w


@attrs.define(eq=False)
class AvgPool2D(Layer):
    """Average pooling over ``pool_size`` x ``pool_size`` windows with step ``stride``
    (default: pool_size).

    Shapes: (N, C, H, W) -> (N, C, H', W'). ``padding="valid"``: H' = (H - pool_size) //
    stride + 1 (rows and columns that fit no window are dropped). ``padding="same"``:
    H' = ceil(H / stride), padded positions left out of each mean.
    """

    key = "nnf.AvgPool2D.v1"
    samples_independent = True
    keeps = ()  # and input

    pool_size: int = attrs.field(
        default=2, validator=positive_int(), metadata={"doc": "p: windows are p x p"}
    )
    stride: int | None = attrs.field(
        default=None,
        validator=positive_int(optional=True),
        metadata={"doc": "s, step between windows; null: s = pool_size"},
    )
    padding: str = attrs.field(
        default="valid",
        validator=one_of(("valid", "same")),
        metadata={"doc": "same: ceil(H / s) outputs, padded positions left out of each mean"},
    )

    @property
    def step(self) -> int:
        return self.stride if self.stride is not None else self.pool_size

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """Zeros added (top, bottom, left, right) to the built layer's input."""
        assert self.in_shape is not None
        _, h, w = self.in_shape
        if self.padding == "valid":
            return 0, 0, 0, 0
        _, top, bottom = same_padding(h, self.pool_size, self.step)
        _, left, right = same_padding(w, self.pool_size, self.step)
        return top, bottom, left, right

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        c, h, w = _image_shape(self, input_shape)
        p, s = self.pool_size, self.step
        if self.padding == "same":
            return (c, same_padding(h, p, s)[0], same_padding(w, p, s)[0])
        if h < p or w < p:
            raise ShapeError(
                f"{self.label}: a {p}x{p} pool does not fit in {h}x{w} inputs; use a smaller "
                "pool_size or padding='same'"
            )
        return (c, (h - p) // s + 1, (w - p) // s + 1)

    def _windows(self, a: np.ndarray) -> list[np.ndarray]:
        """For each offset (i, j) of a window, the strided view of padded ``a`` (N, C, H, W)
        holding element (i, j) of every window: shaped like the output."""
        assert self.out_shape is not None
        _, out_h, out_w = self.out_shape
        p, s = self.pool_size, self.step
        return [
            a[:, :, i : i + s * (out_h - 1) + 1 : s, j : j + s * (out_w - 1) + 1 : s]
            for i in range(p)
            for j in range(p)
        ]

    def _counts(self) -> np.ndarray:
        """|W_ab|: how many real (not padded) inputs each window holds, (H', W')."""
        assert self.in_shape is not None
        _, h, w = self.in_shape
        top, bottom, left, right = self.pads
        inside = np.zeros((1, 1, h + top + bottom, w + left + right), dtype=np.float64)
        inside[:, :, top : top + h, left : left + w] = 1
        return np.sum(self._windows(inside), axis=0)[0, 0]

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.require_built()
        x = as_float(x, self.dtype)
        assert self.in_shape is not None
        if x.shape[1:] != self.in_shape:
            raise input_error(self, f"a batch (N, {fmt_shape(self.in_shape)[1:]}", x.shape)
        self.input = x
        top, bottom, left, right = self.pads
        if top + bottom + left + right:
            x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
        windows = self._windows(x)
        out = windows[0].copy()
        for view in windows[1:]:
            out += view
        out /= self._counts().astype(out.dtype)
        return out

    def _backward(self, output_gradient: Any) -> np.ndarray:
        assert self.out_shape is not None
        n, c, h, w = self.input.shape
        g = as_gradient(self, output_gradient, (n, *self.out_shape), self.input.dtype)
        share = g / self._counts().astype(g.dtype)
        top, bottom, left, right = self.pads
        dx = np.zeros((n, c, h + top + bottom, w + left + right), dtype=g.dtype)
        for view in self._windows(dx):
            view += share  # overlapping windows (stride < pool) add up
        return dx[:, :, top : top + h, left : left + w]


@attrs.define(eq=False)
class GlobalAveragePooling2D(Layer):
    """The mean of each channel over the whole image: (N, C, H, W) -> (N, C)."""

    key = "nnf.GlobalAveragePooling2D.v1"
    samples_independent = True
    keeps = ()  # and input

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        c, _, _ = _image_shape(self, input_shape)
        return (c,)

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.require_built()
        x = as_float(x, self.dtype)
        assert self.in_shape is not None
        if x.shape[1:] != self.in_shape:
            raise input_error(self, f"a batch (N, {fmt_shape(self.in_shape)[1:]}", x.shape)
        self.input = x
        return x.mean(axis=(2, 3))

    def _backward(self, output_gradient: Any) -> np.ndarray:
        n, c, h, w = self.input.shape
        g = as_gradient(self, output_gradient, (n, c), self.input.dtype)
        share = g / g.dtype.type(h * w)
        return np.broadcast_to(share[:, :, None, None], (n, c, h, w)).copy()
