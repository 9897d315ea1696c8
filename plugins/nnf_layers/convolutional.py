"""2-D convolutional layer (cross-correlation, like the tutorial's ``signal.correlate2d``).

    y[n, d] = b[d] + sum_c correlate2d(x[n, c], K[d, c])          (stride 1, valid)
    dK[d, c] = sum_n correlate2d(x[n, c], g[n, d])    db = sum_n g[n, d]
    dx[n, c] = sum_d convolve2d(g[n, d], K[d, c], "full")

computed for the whole batch at once with im2col (see ``_im2col``).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.errors import ConfigError, ShapeError
from nnf.layer import INITS, Layer, Shape, init_array

from . import _im2col
from ._common import (
    as_gradient,
    fmt_shape,
    input_error,
    one_of,
    optional_shape,
    positive_int,
)


@attrs.define(eq=False)
class Convolutional(Layer):
    """Convolution of ``depth`` square ``kernel_size`` kernels over (C, H, W) samples.

    ``Convolutional((1, 28, 28), 3, 5)`` (tutorial form, built at once) or
    ``Convolutional(kernel_size=3, depth=5)`` (input shape inferred by the model).

    Shapes: (N, C, H, W) -> (N, depth, H', W'); one sample (C, H, W) -> (depth, H', W').
    ``padding="valid"``: H' = (H - k) // stride + 1. ``padding="same"``: H' = ceil(H / stride),
    zero padding split evenly, the odd one out going to the bottom/right (even kernels).

    Params: ``kernels`` (depth, C, k, k); ``biases`` (depth, H', W') for ``bias="position"`` (the
    tutorial's one bias per output value) or (depth,) for ``bias="channel"``.
    """

    key = "nnf.Convolutional.v1"

    input_shape: Shape | None = attrs.field(default=None, converter=optional_shape)
    kernel_size: int | None = attrs.field(default=None, validator=positive_int(optional=True))
    depth: int | None = attrs.field(default=None, validator=positive_int(optional=True))
    stride: int = attrs.field(default=1, validator=positive_int())
    padding: str = attrs.field(default="valid", validator=one_of(("valid", "same")))
    bias: str = attrs.field(default="position", validator=one_of(("position", "channel")))
    init: str = attrs.field(default="glorot", validator=one_of(INITS))

    def __attrs_post_init__(self) -> None:
        if self.kernel_size is None or self.depth is None:
            raise ConfigError(
                "Convolutional needs kernel_size and depth: write Convolutional(input_shape, "
                "kernel_size, depth) or Convolutional(kernel_size=3, depth=5)"
            )
        super().__attrs_post_init__()

    def declared_input_shape(self) -> Shape | None:
        return self.input_shape

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        if len(input_shape) != 3:
            raise ShapeError(
                f"{self.label} takes samples shaped (channels, height, width), got "
                f"{fmt_shape(input_shape)}"
            )
        if self.input_shape is not None and input_shape != self.input_shape:
            raise ShapeError(
                f"{self.label} was declared with input_shape={fmt_shape(self.input_shape)} but "
                f"receives samples shaped {fmt_shape(input_shape)}"
            )
        c, h, w = input_shape
        k, d, s = int(self.kernel_size or 0), int(self.depth or 0), self.stride
        out_h, top, bottom = _im2col.output_size(h, k, s, self.padding)
        out_w, left, right = _im2col.output_size(w, k, s, self.padding)
        if out_h <= 0 or out_w <= 0:
            raise ShapeError(
                f"{self.label}: a {k}x{k} kernel does not fit in {h}x{w} inputs; use a smaller "
                "kernel_size or padding='same'"
            )
        self._geometry = _im2col.Geometry(
            c, h + top + bottom, w + left + right, k, s, out_h, out_w, (top, bottom, left, right)
        )
        kernels = init_array(rng, (d, c, k, k), self.init, c * k * k, d * k * k, dtype)
        bias_shape = (d, out_h, out_w) if self.bias == "position" else (d,)
        if self.init == "normal":
            biases = init_array(rng, bias_shape, "normal", c * k * k, d * k * k, dtype)
        else:
            biases = np.zeros(bias_shape, dtype=dtype)
        self.params = {"kernels": kernels, "biases": biases}
        return (d, out_h, out_w)

    @property
    def kernels(self) -> np.ndarray:
        """The kernels (depth, channels, k, k); edit them in place."""
        self.require_built()
        return self.params["kernels"]

    @property
    def biases(self) -> np.ndarray:
        """The biases, (depth, H', W') or (depth,); edit them in place."""
        self.require_built()
        return self.params["biases"]

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A work array kept between calls: large fresh arrays cost page faults every batch.

        New buffers are zero-filled; the flat layout relies on that (see ``_gradient_matrix``).
        """
        buf = getattr(self, name, None)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.zeros(shape, dtype=dtype)
            setattr(self, name, buf)
        return buf

    # ------------------------------------------------------------------ forward
    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.require_built()
        x = np.asarray(x, dtype=self.dtype)
        in_shape = self.in_shape or ()
        single = x.shape == in_shape
        if not single and x.shape[1:] != in_shape:
            shape = fmt_shape(in_shape)
            raise input_error(
                self, f"samples shaped {shape} (a batch (N, {shape[1:]} or one sample)", x.shape
            )
        geo = self._geometry
        batch = x[None] if single else x
        n = batch.shape[0]
        kernels = self.params["kernels"]
        d = kernels.shape[0]
        cols_shape = (kernels[0].size, n * geo.length)
        cols = geo.im2col(geo.pad(batch), out=self._buffer("_cols", cols_shape, x.dtype))
        out = self._buffer("_out", (d, cols.shape[1]), x.dtype)
        np.matmul(kernels.reshape(d, -1), cols, out=out)  # (D, N*L)
        y = geo.positions(out).copy()  # (N, D, H', W'), never a view of the reused buffer
        biases = self.params["biases"]
        y += biases if self.bias == "position" else biases[:, None, None]
        self.input, self._single = x, single
        return y[0] if single else y

    # ----------------------------------------------------------------- backward
    def _gradient_matrix(self, output_gradient: Any) -> tuple[np.ndarray, np.ndarray]:
        """dL/dy as given (N, D, H', W') and as (D, N*L), laid out like the im2col columns.

        Positions between output rows (flat layout) stay zero: the buffer starts zeroed and
        only output positions are ever written.
        """
        out_shape = self.out_shape or ()
        shape = out_shape if self._single else (self.input.shape[0], *out_shape)
        g = as_gradient(self, output_gradient, shape, self.dtype)
        g = g[None] if self._single else g
        geo = self._geometry
        matrix = self._buffer("_grad_matrix", (out_shape[0], g.shape[0] * geo.length), g.dtype)
        geo.positions(matrix)[...] = g
        return g, matrix

    def _parameter_gradients(self, g: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, ...]:
        kernels = self.params["kernels"]
        # cols @ g.T then transposed: BLAS runs this orientation about twice as fast.
        d_kernels = _im2col.gram(self._cols, matrix).T.reshape(kernels.shape)
        d_biases = g.sum(axis=0) if self.bias == "position" else matrix.sum(axis=1)
        return d_kernels, d_biases

    def _input_gradient(self, matrix: np.ndarray) -> np.ndarray:
        kernels = self.params["kernels"]
        d = kernels.shape[0]
        d_cols = self._buffer("_grad_cols", self._cols.shape, matrix.dtype)
        np.matmul(kernels.reshape(d, -1).T, matrix, out=d_cols)
        geo = self._geometry
        dx = geo.crop(geo.col2im(d_cols, matrix.shape[1] // geo.length))
        return dx[0] if self._single else dx

    def _backward(self, output_gradient: Any) -> np.ndarray | None:
        g, matrix = self._gradient_matrix(output_gradient)
        d_kernels, d_biases = self._parameter_gradients(g, matrix)
        self.grads["kernels"] += d_kernels
        self.grads["biases"] += d_biases
        return self._input_gradient(matrix) if self.needs_input_gradient else None

    def _backward_sgd(self, output_gradient: Any, learning_rate: float) -> np.ndarray | None:
        g, matrix = self._gradient_matrix(output_gradient)
        d_kernels, d_biases = self._parameter_gradients(g, matrix)
        # with the kernels before the step
        input_gradient = self._input_gradient(matrix) if self.needs_input_gradient else None
        self.zero_grad()  # the contract: an SGD step leaves self.grads zero
        d_kernels *= learning_rate
        self.params["kernels"] -= d_kernels
        d_biases *= learning_rate
        self.params["biases"] -= d_biases
        return input_gradient
