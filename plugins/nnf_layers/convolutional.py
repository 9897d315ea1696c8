"""2-D convolutional layer (cross-correlation, like the tutorial's ``signal.correlate2d``).

    y[n, d] = b[d] + sum_c correlate2d(x[n, c], K[d, c])          (stride 1, valid)
    dK[d, c] = sum_n correlate2d(x[n, c], g[n, d])    db = sum_n g[n, d]
    dx[n, c] = sum_d convolve2d(g[n, d], K[d, c], "full")

computed with im2col (see ``_im2col``) in sub-batches (``SUB_BATCH`` samples forward,
``GRAD_SUB_BATCH`` for the input gradient), so each block's columns are used while still in
cache and work buffers do not grow with the batch. Layers with few input values per window
(C*k*k <= ``BATCH_MAJOR_MAX``, e.g. a network's first layer) use the batch-major column layout
(one small product per sample), the others the long layout (one product per sub-batch, and a
blocked product for the kernel gradient): each measured fastest at the LeNet-5 and tutorial
shapes (benchmarks/README.md, "Convolution kernels"). Outside training, a batch larger than
one sub-batch does not keep its columns; backward rebuilds them if it is called anyway.
The sub-batch loops run as contiguous groups of blocks on up to ``NNF_NUM_THREADS`` threads
(``_parallel``): each group has its own work buffers and writes its own slice of the output
or input gradient; kernel-gradient parts are summed in group order (reproducible).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.errors import ConfigError, ShapeError
from nnf.layer import INITS, Layer, Shape, init_array

from . import _im2col, _parallel
from ._common import (
    as_gradient,
    fmt_shape,
    input_error,
    one_of,
    optional_shape,
    positive_int,
)

SUB_BATCH = 32  # samples per forward im2col block: keeps it in cache, caps the work buffer
GRAD_SUB_BATCH = 32  # samples per input-gradient block
BATCH_MAJOR_MAX = 32  # C*k*k up to which the batch-major layout is used


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
        self._batch_major = c * k * k <= BATCH_MAJOR_MAX
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

        New buffers are zero-filled: the flat layout relies on that (see ``_gradient_matrix``),
        and so does the padded input (its border is never written).
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
        matrix = kernels.reshape(d, -1)
        biases = self.params["biases"]
        bias = biases if self.bias == "position" else biases[:, None, None]
        padded = self._buffer("_padded", geo.padded_shape(n), x.dtype) if geo.padded else None
        xp = geo.pad(batch, out=padded)
        y = np.empty((n, d, geo.out_h, geo.out_w), dtype=x.dtype)
        # Keep the columns for backward when training or when they are small (the tutorial
        # calls forward() then backward() per sample); otherwise (inference on a large batch)
        # only a sub-batch's worth lives at a time and backward rebuilds them if called.
        keep = training or n <= SUB_BATCH
        self._cols_ready = keep
        if keep and not self._batch_major:
            self._forward_long(xp, matrix, bias, y)
        else:
            step = min(n, SUB_BATCH)
            shape = (step, matrix.shape[1], geo.length)
            if keep:
                cols = self._buffer("_cols", (n, *shape[1:]), x.dtype)
            else:
                self._cols = None  # drop a training-sized buffer

            def run(group: int, start: int, stop: int) -> None:
                work = self._buffer(f"_out{group}", (step, d, geo.length), x.dtype)
                if not keep:
                    step_cols = self._buffer(f"_cols_step{group}", shape, x.dtype)
                for a in range(start, stop, step):
                    b = min(a + step, stop)
                    block = cols[a:b] if keep else step_cols[: b - a]
                    out = work[: b - a]
                    np.matmul(matrix, geo.im2col_batched(xp[a:b], block), out=out)
                    np.add(geo.positions_batched(out), bias, out=y[a:b])

            _parallel.map_groups(run, n, step)
        self.input, self._single = x, single
        return y[0] if single else y

    def _long_columns(self, xp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (C*k*k, N*L) column buffer and its (C, k, k, N, L) view (samples on axis 3)."""
        geo = self._geometry
        n = xp.shape[0]
        cols = self._buffer("_cols", (geo.channels * geo.k**2, n * geo.length), xp.dtype)
        return cols, cols.reshape(geo.channels, geo.k, geo.k, n, -1)

    def _forward_long(
        self, xp: np.ndarray, matrix: np.ndarray, bias: np.ndarray, y: np.ndarray
    ) -> None:
        """y = kernels @ im2col(xp) + bias, one (D, C*k*k) @ (C*k*k, B*L) product per sub-batch."""
        geo = self._geometry
        n, d, length = xp.shape[0], matrix.shape[0], geo.length
        cols, blocks = self._long_columns(xp)
        step = min(n, SUB_BATCH)

        def run(group: int, start: int, stop: int) -> None:
            work = self._buffer(f"_out{group}", (d * step * length,), xp.dtype)
            for a in range(start, stop, step):
                b = min(a + step, stop)
                windows = geo.window_view(xp[a:b]).reshape(b - a, *blocks.shape[:3], -1)
                np.copyto(blocks[:, :, :, a:b], np.moveaxis(windows, 0, 3))
                out = work[: d * (b - a) * length].reshape(d, (b - a) * length)
                np.matmul(matrix, cols[:, a * length : b * length], out=out)
                np.add(geo.positions(out), bias, out=y[a:b])

        _parallel.map_groups(run, n, step)

    def _columns(self) -> np.ndarray:
        """The im2col columns of the last input, rebuilt if forward did not keep them."""
        if not self._cols_ready:
            geo = self._geometry
            batch = self.input[None] if self._single else self.input
            xp = geo.pad(batch)
            if self._batch_major:
                shape = (xp.shape[0], geo.channels * geo.k**2, geo.length)
                geo.im2col_batched(xp, self._buffer("_cols", shape, xp.dtype))
            else:
                _, blocks = self._long_columns(xp)
                windows = geo.window_view(xp).reshape(xp.shape[0], *blocks.shape[:3], -1)
                np.copyto(blocks, np.moveaxis(windows, 0, 3))
            self._cols_ready = True
        return self._cols

    # ----------------------------------------------------------------- backward
    def _gradient_matrix(self, output_gradient: Any) -> tuple[np.ndarray, np.ndarray]:
        """dL/dy as given (N, D, H', W') and as (N, D, L) or (D, N*L), like the im2col columns.

        Positions between output rows (flat layout) stay zero: the buffer starts zeroed and
        only output positions are ever written.
        """
        out_shape = self.out_shape or ()
        shape = out_shape if self._single else (self.input.shape[0], *out_shape)
        g = as_gradient(self, output_gradient, shape, self.dtype)
        g = g[None] if self._single else g
        geo = self._geometry
        if self._batch_major:
            shape = (g.shape[0], out_shape[0], geo.length)
            matrix = self._buffer("_grad_matrix", shape, g.dtype)  # (N, D, L)
            geo.positions_batched(matrix)[...] = g
        else:
            shape = (out_shape[0], g.shape[0] * geo.length)
            matrix = self._buffer("_grad_matrix", shape, g.dtype)  # (D, N*L)
            geo.positions(matrix)[...] = g
        return g, matrix

    def _parameter_gradients(self, g: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, ...]:
        kernels = self.params["kernels"]
        cols, length = self._columns(), self._geometry.length

        def part(group: int, a: int, b: int) -> np.ndarray:
            if self._batch_major:  # one small (D, L) @ (L, C*k*k) product per sample, summed
                return np.matmul(matrix[a:b], cols[a:b].transpose(0, 2, 1)).sum(axis=0)
            # cols @ g.T (transposed below): BLAS runs this orientation about twice as fast.
            return _im2col.gram(
                cols[:, a * length : b * length], matrix[:, a * length : b * length]
            )

        # summed in group order, so the result does not depend on which thread finished first
        parts = _parallel.map_groups(part, g.shape[0], SUB_BATCH)
        total = parts[0]
        for other in parts[1:]:
            total += other
        if self._batch_major:
            d_kernels = total.reshape(kernels.shape)
            channel_sum = matrix.sum(axis=(0, 2))
        else:
            d_kernels = total.T.reshape(kernels.shape)
            channel_sum = matrix.sum(axis=1)
        d_biases = g.sum(axis=0) if self.bias == "position" else channel_sum
        return d_kernels, d_biases

    def _input_gradient(self, matrix: np.ndarray) -> np.ndarray:
        """dL/dx from the gradient matrix, GRAD_SUB_BATCH samples at a time (cache-sized).

        Always one (C*k*k, D) @ (D, L) product per sample, in either layout (a (D, N*L) matrix
        is read through an (N, D, L) view): the one long product is skinny, and OpenBLAS ran
        it 1-2x slower, 2x slower on two threads.
        """
        kernels = self.params["kernels"]
        d = kernels.shape[0]
        transposed = kernels.reshape(d, -1).T  # (C*k*k, D)
        geo = self._geometry
        length = geo.length
        if not self._batch_major:
            matrix = matrix.reshape(d, -1, length).transpose(1, 0, 2)
        n = matrix.shape[0]
        step = min(n, GRAD_SUB_BATCH)
        dxp = np.zeros(geo.padded_shape(n), dtype=matrix.dtype)
        shape = (step, transposed.shape[0], length)

        def run(group: int, start: int, stop: int) -> None:
            work = self._buffer(f"_grad_cols{group}", shape, matrix.dtype)
            for a in range(start, stop, step):
                b = min(a + step, stop)
                d_cols = work[: b - a]
                np.matmul(transposed, matrix[a:b], out=d_cols)
                geo.col2im_batched(d_cols, out=dxp[a:b])

        _parallel.map_groups(run, n, step)
        dx = geo.crop(dxp)
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
