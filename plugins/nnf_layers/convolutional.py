"""2-D convolutional layer (cross-correlation, like the tutorial's ``signal.correlate2d``).

    y[n, d] = b[d] + sum_c correlate2d(x[n, c], K[d, c])          (stride 1, valid)
    dK[d, c] = sum_n correlate2d(x[n, c], g[n, d])    db = sum_n g[n, d]
    dx[n, c] = sum_d convolve2d(g[n, d], K[d, c], "full")

computed with im2col (see ``_im2col``) in blocks of ``SUB_BATCH`` samples, so each block's
columns are used while still in cache and work buffers do not grow with the batch. Layers
with few input values per window (C*k*k <= ``BATCH_MAJOR_MAX``, e.g. a network's first layer)
use the batch-major column layout (one small product per sample), the others the long layout
(one product per block, and a blocked product for the kernel gradient; at stride 1 the
input gradient is one product on the input's grid, ``_input_gradient_grid``): each measured
fastest at the LeNet-5 and tutorial shapes (benchmarks/README.md, "Convolution kernels").
Forward keeps the padded input, not the columns: backward rebuilds each block's columns,
which costs less than reading a whole batch of them back from memory (a batch of one block,
as in the tutorial's per-sample loop, reuses them).
The block loops run as contiguous groups of blocks on the threads ``nnf.threads`` allows:
each group has its own work buffers and writes its own slice of the output or input
gradient; kernel-gradient parts are summed in group order (reproducible).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf import threads
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

SUB_BATCH = 16  # most samples per im2col block: work buffers stay small
# In training, a block's columns are written, then read by the product and rebuilt in
# backward: kept within a core's L2 cache they are not fetched back from L3/memory, where the
# other core's traffic competes. Batch-major layout only (LeNet-5's first layer: 5 samples a
# block); the long layout's products lost more than they gained in short blocks, and
# inference on two threads lost to the extra calls (benchmarks/README.md).
BLOCK_BYTES = 512 * 1024
BATCH_MAJOR_MAX = 32  # C*k*k up to which the batch-major layout is used
# Bytes of input-gradient products made at a time (``_input_gradient_grid``): at LeNet-5's
# conv2, 3 kernel offsets of a 16-sample block, which measured fastest (1 to 25 tried).
GRID_BYTES = 256 * 1024


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
    samples_independent = True

    input_shape: Shape | None = attrs.field(
        default=None,
        converter=optional_shape,
        metadata={"doc": "(C, H, W) of a sample; null: taken from the previous layer"},
    )
    kernel_size: int | None = attrs.field(
        default=None,
        validator=positive_int(optional=True),
        metadata={"doc": "k: kernels are k x k", "required": True},
    )
    depth: int | None = attrs.field(
        default=None,
        validator=positive_int(optional=True),
        metadata={"doc": "D, kernels (output channels)", "required": True},
    )
    stride: int = attrs.field(
        default=1, validator=positive_int(), metadata={"doc": "s, step between windows"}
    )
    padding: str = attrs.field(
        default="valid",
        validator=one_of(("valid", "same")),
        metadata={"doc": "valid: no padding; same: zero padding, H' = ceil(H / s)"},
    )
    bias: str = attrs.field(
        default="position",
        validator=one_of(("position", "channel")),
        metadata={"doc": "one bias per output value (the tutorial's) or per output channel"},
    )
    init: str = attrs.field(
        default="glorot",
        validator=one_of(INITS),
        metadata={"doc": "how kernels are drawn when built; no effect on inference"},
    )

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

        New buffers are zero-filled: the flat layout relies on that (see ``_gradient_block``),
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
        step = self._block_size(n, training)

        def run(group: int, start: int, stop: int) -> None:
            for a in range(start, stop, step):
                b = min(a + step, stop)
                cols = self._block_columns(group, xp, a, b)
                if self._batch_major:  # (B, C*k*k, L) -> (B, D, L), already sample-major
                    shape = (max(SUB_BATCH, step), d, geo.length)
                    out = self._buffer(f"_out{group}", shape, x.dtype)[: b - a]
                    np.matmul(matrix, cols, out=out)
                    np.add(geo.positions_batched(out), bias, out=y[a:b])
                else:  # (C*k*k, B*L) -> (D, B*L)
                    size = d * max(SUB_BATCH, step) * geo.length
                    work = self._buffer(f"_out{group}", (size,), x.dtype)
                    out = work[: d * cols.shape[1]].reshape(d, cols.shape[1])
                    np.matmul(matrix, cols, out=out)
                    np.add(geo.positions(out), bias, out=y[a:b])

        threads.map_groups(run, n, step)
        self.input, self._padded_input, self._single = x, xp, single
        # one block's columns are still in group 0's buffer: the tutorial's per-sample
        # forward-then-backward reuses them
        self._cols_valid = n <= step
        return y[0] if single else y

    def _block_size(self, n: int, training: bool = True) -> int:
        """Samples per im2col block for a batch of ``n`` (at least 1: an empty batch runs no
        block)."""
        if not (training and self._batch_major):  # see BLOCK_BYTES
            return max(1, min(n, SUB_BATCH))
        geo = self._geometry
        per_sample = geo.channels * geo.k**2 * geo.length * self.dtype.itemsize
        largest = max(1, min(n, SUB_BATCH, BLOCK_BYTES // per_sample))
        return -(-n // -(-n // largest)) if n else 1  # even blocks: 16 -> 4 x 4, not 5+5+5+1

    def _block_columns(self, group: int, xp: np.ndarray, a: int, b: int) -> np.ndarray:
        """im2col of samples ``a:b`` of the padded batch ``xp`` into ``group``'s buffer:
        (b-a, C*k*k, L) batch-major or (C*k*k, (b-a)*L) long (see ``_im2col``).

        The buffer holds SUB_BATCH samples (or the block, if larger), whatever the block size
        of the call, so it is not reallocated between forward and backward.
        """
        geo = self._geometry
        rows = geo.channels * geo.k**2
        step = max(SUB_BATCH, b - a)
        if self._batch_major:
            cols = self._buffer(f"_cols{group}", (step, rows, geo.length), xp.dtype)[: b - a]
            return geo.im2col_batched(xp[a:b], cols)
        work = self._buffer(f"_cols{group}", (rows * step * geo.length,), xp.dtype)
        cols = work[: rows * (b - a) * geo.length].reshape(rows, -1)
        windows = geo.window_view(xp[a:b]).reshape(b - a, geo.channels, geo.k, geo.k, -1)
        np.copyto(cols.reshape(geo.channels, geo.k, geo.k, b - a, -1), np.moveaxis(windows, 0, 3))
        return cols

    # ----------------------------------------------------------------- backward
    def _gradients(
        self, output_gradient: Any, with_input: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(dL/dkernels, dL/dbiases, dL/dx or None) for dL/dy of the last forward.

        One pass over blocks of up to ``SUB_BATCH`` samples, each giving its input gradient
        in one product and col2im; its kernel gradient comes from columns rebuilt from the
        kept padded input in the smaller blocks forward uses (cheaper than keeping a whole
        batch of columns, which falls out of the cache).
        """
        out_shape = self.out_shape or ()
        shape = out_shape if self._single else (self.input.shape[0], *out_shape)
        g = as_gradient(self, output_gradient, shape, self.dtype)
        g = g[None] if self._single else g
        geo = self._geometry
        kernels = self.params["kernels"]
        d = kernels.shape[0]
        transposed = kernels.reshape(d, -1).T  # (C*k*k, D)
        xp = self._padded_input
        n, length = g.shape[0], geo.length
        # Gradient blocks of up to SUB_BATCH samples (col2im's 25 passes cost per call), each
        # taken in column blocks that stay in cache (as in forward) for the kernel gradient.
        step = max(1, min(n, SUB_BATCH))
        reuse = self._cols_valid and n <= self._block_size(n)
        self._cols_valid = reuse  # a rebuild of several blocks leaves only the last one
        dxp = np.zeros(geo.padded_shape(n), dtype=g.dtype) if with_input else None

        def run(group: int, start: int, stop: int) -> np.ndarray:
            total = None
            for a in range(start, stop, step):
                b = min(a + step, stop)
                matrix = self._gradient_block(group, g, a, b, step)
                col_step = self._block_size(b - a)  # even blocks within this one
                for c in range(a, b, col_step):
                    e = min(c + col_step, b)
                    if reuse:
                        cols = self._block_columns_kept(n)
                    else:
                        cols = self._block_columns(group, xp, c, e)
                    if self._batch_major:  # one (D, L) @ (L, C*k*k) product per sample, summed
                        part = np.matmul(matrix[c - a : e - a], cols.transpose(0, 2, 1))
                        part = part.sum(axis=0)
                    else:  # cols @ g.T (transposed below): BLAS runs it 2x faster than g @ cols.T
                        part = _im2col.gram(cols, matrix[:, (c - a) * length : (e - a) * length])
                    if total is None:
                        total = part
                    else:
                        total += part
                if dxp is not None and geo.flat and not self._batch_major:
                    self._input_gradient_grid(group, g, a, b, step, dxp[a:b])
                elif dxp is not None:  # one (C*k*k, D) @ (D, L) product per sample + col2im
                    if self._batch_major:
                        per_sample = matrix  # (B, D, L)
                    else:
                        per_sample = matrix.reshape(d, b - a, length).transpose(1, 0, 2)
                    shape = (step, transposed.shape[0], length)
                    d_cols = self._buffer(f"_grad_cols{group}", shape, g.dtype)[: b - a]
                    np.matmul(transposed, per_sample, out=d_cols)
                    geo.col2im_batched(d_cols, out=dxp[a:b])
            return total

        # summed in group order, so the result does not depend on which thread finished first
        parts = threads.map_groups(run, n, step)
        total = parts[0]
        for other in parts[1:]:
            total += other
        if total is None:  # an empty batch
            d_kernels = np.zeros_like(kernels)
        else:
            d_kernels = (total if self._batch_major else total.T).reshape(kernels.shape)
        d_biases = g.sum(axis=0) if self.bias == "position" else g.sum(axis=(0, 2, 3))
        if dxp is None:
            return d_kernels, d_biases, None
        dx = geo.crop(dxp)
        return d_kernels, d_biases, dx[0] if self._single else dx

    def _input_gradient_grid(
        self, group: int, g: np.ndarray, a: int, b: int, step: int, out: np.ndarray
    ) -> None:
        """dL/dx of samples ``a:b`` (stride 1, long layout) into ``out`` (B, C, H, W), padded.

        dL/dy is laid out on the padded input's grid, (D, B*H*W), zero off the output
        positions; its product with the kernels (rows (i, j, c)) gives whole-block
        contiguous runs for ``col2im_grid``: k*k long additions instead of k*k strided ones
        per sample row. The product is larger by the grid's spare columns; still, LeNet-5's
        conv2 backward ran 1.06x faster with it while the other core was busy, and within
        noise alone. It is taken a few kernel offsets at a time (``GRID_BYTES``), so each
        part is added into dL/dx while still in cache: 10% faster hot, 20-40% with cold
        caches, than one whole product (benchmarks/README.md). As in ``_gradient_block``,
        only output positions are ever written into the zero-initialised grid buffers.
        """
        geo = self._geometry
        kernels = self.params["kernels"]
        d, c, k = kernels.shape[0], geo.channels, geo.k
        hw, nb = geo.height * geo.width, b - a
        name = f"_grid{group}" if nb == step else f"_grid{group}_last"
        grid = self._buffer(name, (d, nb * hw), g.dtype)
        geo.on_grid(grid)[...] = g[a:b]
        rows = kernels.transpose(2, 3, 1, 0).reshape(k * k * c, d)
        per_offset = c * step * hw
        chunk = max(1, min(k * k, GRID_BYTES // (per_offset * g.itemsize)))
        work = self._buffer(f"_grid_products{group}", (chunk * per_offset,), g.dtype)
        dx = self._buffer(f"_grid_dx{group}", (c * step * hw,), g.dtype)[: c * nb * hw]
        for first in range(0, k * k, chunk):  # offset 0 first: it overwrites dx
            last = min(first + chunk, k * k)
            products = work[: (last - first) * c * nb * hw].reshape((last - first) * c, nb * hw)
            np.matmul(rows[first * c : last * c], grid, out=products)
            geo.col2im_grid(products, dx.reshape(c, nb * hw), first)
        np.copyto(out, dx.reshape(c, nb, geo.height, geo.width).transpose(1, 0, 2, 3))

    def _block_columns_kept(self, n: int) -> np.ndarray:
        """The columns forward left in group 0's buffer (a batch of one block)."""
        geo = self._geometry
        if self._batch_major:
            return self._cols0[:n]
        rows = geo.channels * geo.k**2
        return self._cols0[: rows * n * geo.length].reshape(rows, -1)

    def _gradient_block(self, group: int, g: np.ndarray, a: int, b: int, step: int) -> np.ndarray:
        """dL/dy of samples ``a:b`` laid out like their columns: (B, D, L) or (D, B*L).

        Positions between output rows (flat layout) must stay zero: each buffer starts
        zeroed and only output positions are written, always at the same places, so a
        shorter last block gets a buffer of its own in the long layout.
        """
        geo = self._geometry
        d, nb = g.shape[1], b - a
        if self._batch_major:
            matrix = self._buffer(f"_grad{group}", (step, d, geo.length), g.dtype)[:nb]
            geo.positions_batched(matrix)[...] = g[a:b]
        else:
            name = f"_grad{group}" if nb == step else f"_grad{group}_last"
            matrix = self._buffer(name, (d, nb * geo.length), g.dtype)
            geo.positions(matrix)[...] = g[a:b]
        return matrix

    def _backward(self, output_gradient: Any) -> np.ndarray | None:
        d_kernels, d_biases, dx = self._gradients(output_gradient, self.needs_input_gradient)
        self.grads["kernels"] += d_kernels
        self.grads["biases"] += d_biases
        return dx

    def _backward_sgd(self, output_gradient: Any, learning_rate: float) -> np.ndarray | None:
        # the input gradient comes from the kernels before the step, as in the tutorial
        d_kernels, d_biases, dx = self._gradients(output_gradient, self.needs_input_gradient)
        self.zero_grad()  # the contract: an SGD step leaves self.grads zero
        d_kernels *= learning_rate
        self.params["kernels"] -= d_kernels
        d_biases *= learning_rate
        self.params["biases"] -= d_biases
        return dx
