"""Batched convolution (cross-correlation) with im2col and BLAS: what ``Convolutional`` runs.

    y[n, d] = sum_c correlate2d(x[n, c], K[d, c])               (``reference.convolution``)
    dK[d, c] = sum_n correlate2d(x[n, c], g[n, d])
    dx[n, c] = sum_d convolve2d(g[n, d], K[d, c], "full")

A batch is cut into blocks of ``SUB_BATCH`` samples, so each block's columns (``im2col``) are
used while still in cache and work buffers do not grow with the batch. Layers with few input
values per window (C*k*k <= ``BATCH_MAJOR_MAX``, e.g. a network's first layer) use the
batch-major column layout (one small product per sample), the others the long layout (one
product per block, and a blocked product for the kernel gradient; at stride 1 the input
gradient is one product on the input's grid, ``_input_gradient_grid``, or for layers of many
input channels on the columns' layout, ``_input_gradient_long``): each measured fastest at
the LeNet-5, tutorial and CIFAR-sized shapes (benchmarks/README.md, "Convolution kernels",
"Session 8: kernels"). dL/dx is built block by block in per-thread padded buffers and only
their interior copied into the result.
Forward keeps the padded input, not the columns: backward rebuilds each block's columns,
which costs less than reading a whole batch of them back from memory (a batch of one block,
as in the tutorial's per-sample loop, reuses them).

The block loops run as contiguous groups of blocks on the threads ``nnf.parallel.threads`` allows,
each writing its own slice of the output or input gradient; kernel-gradient parts are summed
in group order (reproducible). Work buffers come from the plan's ``Workspace``: one set per
thread, so threads sharing a layer never share a buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from nnf.parallel import threads
from nnf.workspace import Workspace

from .im2col import Geometry, gram

SUB_BATCH = 16  # most samples per im2col block: work buffers stay small
# In training, a block's columns are written, then read by the product and rebuilt in
# backward: kept within a core's L2 cache they are not fetched back from L3/memory, where the
# other core's traffic competes. Batch-major layout only (LeNet-5's first layer: 5 samples a
# block); the long layout's products lost more than they gained in short blocks, and
# inference on two threads lost to the extra calls (benchmarks/README.md).
BLOCK_BYTES = 512 * 1024
BATCH_MAJOR_MAX = 32  # C*k*k up to which the batch-major layout is used
# Most bytes of im2col columns (long layout) or per-sample input-gradient columns held at a
# time per thread: a block has fewer than SUB_BATCH samples when theirs would exceed it, so a
# wide layer on large images (64 channels, 3x3, 64x64: 9.7 MB of columns per sample) holds one
# sample's columns, not SUB_BATCH samples' (155 MB). 1 MB keeps a block's columns inside a
# core's 2 MB L2 cache: the CIFAR-sized net's conv2 forward (330 KB of columns a sample) ran
# 0.92-0.94x the time in blocks of 3 samples than of 16 (8 MB); LeNet-5's (55 KB a sample)
# keep blocks of 16.
COLUMN_BYTES = 1024 * 1024
# Bytes of input-gradient products made at a time (``_input_gradient_grid``): at LeNet-5's
# conv2, 3 kernel offsets of a 16-sample block, which measured fastest (1 to 25 tried).
GRID_BYTES = 256 * 1024
# Layers with at least this many input channels take the input gradient on the columns' own
# layout (``_input_gradient_long``): the product (k*k*C, D) @ (D, B*L) a few kernel offsets
# at a time, then col2im by offset. With many channels the grid's per-offset products (C rows
# each) ran BLAS below its pace and the grid's spare columns add work (CIFAR-sized conv2
# backward 0.82-0.86x); with few (LeNet-5's conv2, C = 6) the grid stays faster (1.17x).
LONG_INPUT_MIN_CHANNELS = 16
LONG_BYTES = 2 * 1024 * 1024  # products made at a time there: about a core's L2 cache
# Inference on a part of a batch split over threads (``threads.in_shared_part``) takes blocks
# of at least INFER_BLOCK_MACS multiply-adds (up to INFER_MOST samples) where the cache rules
# above would cut them smaller: the parts share the GIL and the cores, and fewer, larger calls
# ran faster there. LeNet-5's layers (118k and 240k multiply-adds a sample) ran in blocks of
# 16 and 12, so predict on two threads ran 0.85x the session's starting code although each
# thread alone ran faster; with these blocks 1.14x. Alone (one thread, or a process of its
# own) the cache-sized blocks stay faster (LeNet-5 predict 0.89x the time of these), and the
# CIFAR-sized net's layers (0.9M-4.7M a sample) keep theirs anyway.
INFER_BLOCK_MACS = 4 * 1024 * 1024
INFER_MOST = 32
INFER_COLUMN_BYTES = 4 * 1024 * 1024  # and columns of at most this many bytes a block


class BlockGradient(Protocol):
    """dL/dy that is written block by block where backward wants it rather than held whole:
    a fused pool's gradient (``kernels.fused.PooledGradient``)."""

    shape: tuple[int, ...]  # (N, D, H', W'), as the array it stands for
    dtype: np.dtype

    def write(self, out: np.ndarray, a: int, b: int) -> None:
        """dL/dy of samples ``a:b`` into ``out`` (b-a, D, H', W'), every element."""

    def full(self) -> np.ndarray:
        """The whole dL/dy (N, D, H', W')."""


def _write(g: np.ndarray | BlockGradient, out: np.ndarray, a: int, b: int) -> None:
    """dL/dy of samples ``a:b`` into the (b-a, D, H', W') view ``out``."""
    if isinstance(g, np.ndarray):
        out[...] = g[a:b]
    else:
        g.write(out, a, b)


class Saved:
    """What forward keeps for backward: the input, padded when training (inference pads
    block by block and leaves backward, if called, to pad it), and, when the batch was one
    block, that block's columns (the tutorial's per-sample forward-then-backward reuses them)."""

    __slots__ = ("batch", "cols", "padded")

    def __init__(
        self, batch: np.ndarray, padded: np.ndarray | None, cols: np.ndarray | None
    ) -> None:
        self.batch, self.padded, self.cols = batch, padded, cols


class Convolution:
    """The plan of one convolution's shapes: geometry, layout and per-thread work buffers."""

    def __init__(self, geometry: Geometry, dtype: np.dtype) -> None:
        self.geo = geometry
        self.dtype = np.dtype(dtype)
        self.batch_major = geometry.channels * geometry.k**2 <= BATCH_MAJOR_MAX
        self.workspace = Workspace()

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        # New buffers are zero-filled: the flat layout relies on that (see
        # ``_gradient_block``), and so does the padded input (its border is never written).
        return self.workspace.array(name, shape, dtype)

    # ------------------------------------------------------------------ forward
    def forward(
        self, batch: np.ndarray, kernels: np.ndarray, bias: np.ndarray, training: bool
    ) -> tuple[np.ndarray, Saved]:
        """``y`` (N, D, H', W') for ``batch`` (N, C, H, W), kernels (D, C, k, k) and a bias
        broadcasting onto (D, H', W'); and what backward needs."""
        geo = self.geo
        y = np.empty((batch.shape[0], kernels.shape[0], geo.out_h, geo.out_w), dtype=batch.dtype)

        def finish(products: np.ndarray, a: int, b: int) -> None:
            np.add(products, bias, out=y[a:b])

        return y, self.forward_blocks(batch, kernels, training, finish)

    def forward_blocks(
        self,
        batch: np.ndarray,
        kernels: np.ndarray,
        training: bool,
        finish: Callable[[np.ndarray, int, int], None],
    ) -> Saved:
        """Run the convolution of ``batch`` (N, C, H, W) block by block, handing each block's
        products (no bias) to ``finish(products, a, b)`` as a (b-a, D, H', W') view of a
        per-thread work buffer (overwritten by the next block; ``finish`` may modify it);
        return what backward needs. ``forward`` writes them out plus the bias; a fused
        kernel (``kernels.fused``) pools them while they are in cache. Blocks of one group
        run on one thread, in order; groups may run on several threads at once."""
        geo = self.geo
        n = batch.shape[0]
        d = kernels.shape[0]
        matrix = kernels.reshape(d, -1)
        # Training pads the whole batch once, into a reused buffer (a fresh one costs page
        # faults every batch), and keeps it for backward. Inference pads each block into a
        # block-sized buffer, still in cache when its columns are taken: no thread keeps a
        # batch of inputs after predict.
        xp = None
        if not geo.padded:
            xp = np.ascontiguousarray(batch)
        elif training:
            xp = geo.pad(batch, out=self._buffer("padded", geo.padded_shape(n), batch.dtype))
        shared = not training and threads.in_shared_part()
        step = self.block_size(n, training, d, shared)
        # Buffers hold a whole block of any batch size (inference: of the largest one), so
        # a batch's short last block, or predict's last chunk, reallocates none; inference
        # has its own, so validation between training steps reallocates none either.
        room = max(SUB_BATCH, step, self.infer_capacity(d) if shared else 0)
        out_name = "infer_out" if shared else "out"

        def run(group: int, start: int, stop: int) -> np.ndarray | None:
            cols = None
            for a in range(start, stop, step):
                b = min(a + step, stop)
                if xp is not None:
                    cols = self.block_columns(xp, a, b, room if shared else 0)
                else:  # border zero: only the interior of the buffer is ever written
                    shape: tuple[int, ...] = geo.padded_shape(room)
                    block = self._buffer("padded_block", shape, batch.dtype)[: b - a]
                    padded = geo.pad(batch[a:b], out=block)
                    cols = self.block_columns(padded, 0, b - a, room if shared else 0)
                if self.batch_major:  # (B, C*k*k, L) -> (B, D, L), already sample-major
                    shape = (room, d, geo.length)
                    out = self._buffer(out_name, shape, batch.dtype)[: b - a]
                    np.matmul(matrix, cols, out=out)
                    finish(geo.positions_batched(out), a, b)
                else:  # (C*k*k, B*L) -> (D, B*L)
                    size = d * room * geo.length
                    work = self._buffer(out_name, (size,), batch.dtype)
                    out = work[: d * cols.shape[1]].reshape(d, cols.shape[1])
                    np.matmul(matrix, cols, out=out)
                    finish(geo.positions(out), a, b)
            return cols

        last_cols = threads.map_groups(run, n, step)[-1]
        return Saved(batch, xp, last_cols if n <= step else None)

    def column_bytes(self) -> int:
        """Bytes of one sample's im2col columns."""
        geo = self.geo
        return geo.channels * geo.k**2 * geo.length * self.dtype.itemsize

    def column_capacity(self) -> int:
        """Samples whose columns a thread holds at a time: SUB_BATCH, fewer in the long layout
        when they would take more than COLUMN_BYTES (at least one)."""
        if self.batch_major:  # C*k*k <= BATCH_MAJOR_MAX: columns small (and BLOCK_BYTES)
            return SUB_BATCH
        return max(1, min(SUB_BATCH, COLUMN_BYTES // self.column_bytes()))

    def infer_capacity(self, depth: int) -> int:
        """The most samples an inference block through ``depth`` kernels has: those of
        ``column_capacity()``, or more to bring ``INFER_BLOCK_MACS``, up to ``INFER_MOST``
        samples and ``INFER_COLUMN_BYTES`` of columns."""
        most = min(INFER_MOST, max(1, INFER_COLUMN_BYTES // self.column_bytes()))
        return max(self.column_capacity(), min(most, self.infer_block(depth)))

    def infer_block(self, depth: int) -> int:
        """Samples whose forward by ``depth`` kernels brings ``INFER_BLOCK_MACS``
        multiply-adds or more."""
        geo = self.geo
        macs = depth * geo.channels * geo.k**2 * geo.out_h * geo.out_w
        return -(-INFER_BLOCK_MACS // max(1, macs))

    def block_size(
        self, n: int, training: bool = True, depth: int = 1, shared: bool | None = None
    ) -> int:
        """Samples per im2col block for a batch of ``n`` (at least 1: an empty batch runs no
        block) through ``depth`` kernels; ``shared``: whether this runs as one of several
        parts on threads (default: ``threads.in_shared_part()``)."""
        if shared is None:
            shared = threads.in_shared_part()
        if not training and shared:  # see INFER_BLOCK_MACS: even blocks, 128 -> 4 x 32
            largest = min(n, self.infer_capacity(depth))
            return -(-n // -(-n // largest)) if n else 1
        if not (training and self.batch_major):  # see BLOCK_BYTES
            return max(1, min(n, self.column_capacity()))
        per_sample = self.column_bytes()
        largest = max(1, min(n, SUB_BATCH, BLOCK_BYTES // per_sample))
        return -(-n // -(-n // largest)) if n else 1  # even blocks: 16 -> 4 x 4, not 5+5+5+1

    def block_columns(self, xp: np.ndarray, a: int, b: int, room: int = 0) -> np.ndarray:
        """im2col of samples ``a:b`` of the padded batch ``xp`` into this thread's buffer:
        (b-a, C*k*k, L) batch-major or (C*k*k, (b-a)*L) long (see ``im2col``).

        The buffer holds ``column_capacity()`` samples (or the block, if larger), whatever the
        block size of the call, so it is not reallocated between forward and backward;
        ``room`` > 0 (inference) asks for a buffer of its own holding that many samples.
        """
        geo = self.geo
        rows = geo.channels * geo.k**2
        step = max(self.column_capacity(), room, b - a)
        name = "infer_cols" if room else "cols"
        if self.batch_major:
            cols = self._buffer(name, (step, rows, geo.length), xp.dtype)[: b - a]
            return geo.im2col_batched(xp[a:b], cols)
        work = self._buffer(name, (rows * step * geo.length,), xp.dtype)
        cols = work[: rows * (b - a) * geo.length].reshape(rows, -1)
        windows = geo.window_view(xp[a:b]).reshape(b - a, geo.channels, geo.k, geo.k, -1)
        np.copyto(cols.reshape(geo.channels, geo.k, geo.k, b - a, -1), np.moveaxis(windows, 0, 3))
        return cols

    def dense_columns(self, xp: np.ndarray, a: int, b: int) -> np.ndarray:
        """im2col of samples ``a:b`` of the padded batch ``xp`` at the output positions only:
        (b-a, C*k*k, H'*W'), into this thread's buffer (``block_columns``' stride-1 columns
        also hold the positions between output rows)."""
        geo = self.geo
        rows, positions = geo.channels * geo.k**2, geo.out_h * geo.out_w
        step = max(self.column_capacity(), b - a)
        cols = self._buffer("dense_cols", (step, rows, positions), xp.dtype)[: b - a]
        view = geo.window_view(xp[a:b], dense=True)
        np.copyto(cols.reshape(view.shape), view)
        return cols

    # ----------------------------------------------------------------- backward
    def gradients(
        self, g: np.ndarray | BlockGradient, saved: Saved, kernels: np.ndarray, with_input: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(dL/dkernels, dL/dx or None) for ``g`` = dL/dy (N, D, H', W') of the forward that
        returned ``saved``, an array or a ``BlockGradient`` (written into each block's
        layout as it is needed: a fused pool's gradient is never made full-sized, except
        for the batch-major layout's kernel gradient, which takes dL/dy whole).

        One pass over blocks of up to ``SUB_BATCH`` samples, each giving its input gradient
        in one product and col2im; its kernel gradient comes from columns rebuilt from the
        kept padded input in the smaller blocks forward uses (cheaper than keeping a whole
        batch of columns, which falls out of the cache).
        """
        geo = self.geo
        d = kernels.shape[0]
        transposed = kernels.reshape(d, -1).T  # (C*k*k, D)
        xp = saved.padded if saved.padded is not None else geo.pad(saved.batch)
        n, length = g.shape[0], geo.length
        # Gradient blocks of up to SUB_BATCH samples (col2im's 25 passes cost per call), each
        # taken in column blocks that stay in cache (as in forward) for the kernel gradient.
        step = max(1, min(n, SUB_BATCH))
        kept = saved.cols if n <= self.block_size(n) else None
        # dL/dx is built block by block in padded per-thread buffers, whose interior is
        # copied here: no zeroed whole-batch padded array, no cropping pass over it.
        dx = np.empty(geo.input_shape(n), dtype=g.dtype) if with_input else None
        long_input = geo.flat and not self.batch_major and self.input_gradient_long()
        # Batch-major layers whose columns are rebuilt take the kernel gradient straight from
        # dL/dy (N, D, H'*W'), against columns of the output positions only (no (B, D, L)
        # copy of dL/dy).
        dense = self.batch_major and kept is None
        g_rows = None
        if dense and isinstance(g, np.ndarray):
            g_rows = np.ascontiguousarray(g).reshape(n, d, -1)

        def run(group: int, start: int, stop: int) -> np.ndarray | None:
            total = None
            for a in range(start, stop, step):
                b = min(a + step, stop)
                matrix = None if dense and dx is None else self._gradient_block(g, a, b, step)
                col_step = self.block_size(b - a)  # even blocks within this one
                for c in range(a, b, col_step):
                    e = min(c + col_step, b)
                    if dense:  # one (D, H'W') @ (H'W', C*k*k) product per sample, summed
                        cols = self.dense_columns(xp, c, e)
                        if g_rows is not None:
                            rows = g_rows[c:e]
                        else:  # a BlockGradient: these samples' dL/dy, written in cache
                            size = (step, d, geo.out_h, geo.out_w)
                            block = self._buffer("dense_grad", size, g.dtype)[: e - c]
                            _write(g, block, c, e)
                            rows = block.reshape(e - c, d, -1)
                        part = np.matmul(rows, cols.transpose(0, 2, 1)).sum(axis=0)
                        total = part if total is None else total + part
                        continue
                    assert matrix is not None
                    cols = kept if kept is not None else self.block_columns(xp, c, e)
                    if self.batch_major:  # one (D, L) @ (L, C*k*k) product per sample, summed
                        part = np.matmul(matrix[c - a : e - a], cols.transpose(0, 2, 1))
                        part = part.sum(axis=0)
                    else:  # cols @ g.T (transposed below): BLAS runs it 2x faster than g @ cols.T
                        part = gram(cols, matrix[:, (c - a) * length : (e - a) * length])
                    if total is None:
                        total = part
                    else:
                        total += part
                if dx is None:
                    continue
                assert matrix is not None  # built whenever dL/dx is wanted
                if long_input:
                    self._input_gradient_long(matrix, kernels, a, b, step, dx[a:b])
                elif geo.flat and not self.batch_major:
                    self._input_gradient_grid(g, kernels, a, b, step, dx[a:b])
                else:  # one (C*k*k, D) @ (D, L) product per sample + col2im
                    if self.batch_major:
                        per_sample = matrix  # (B, D, L)
                    else:
                        per_sample = matrix.reshape(d, b - a, length).transpose(1, 0, 2)
                    # in parts of column_capacity() samples: (C*k*k, L) per sample is as large
                    # as its im2col columns
                    chunk = min(step, self.column_capacity())
                    shape = (chunk, transposed.shape[0], length)
                    padded = self._buffer("grad_padded", geo.padded_shape(chunk), g.dtype)
                    for c in range(0, b - a, chunk):
                        e = min(c + chunk, b - a)
                        d_cols = self._buffer("grad_cols", shape, g.dtype)[: e - c]
                        np.matmul(transposed, per_sample[c:e], out=d_cols)
                        target = padded[: e - c]
                        target.fill(0)
                        geo.col2im_batched(d_cols, out=target)
                        np.copyto(dx[a + c : a + e], geo.interior(target))
            return total

        # summed in group order, so the result does not depend on which thread finished first
        parts = threads.map_groups(run, n, step)
        total = parts[0]
        for other in parts[1:]:
            if total is not None and other is not None:
                total += other
        if total is None:  # an empty batch
            d_kernels = np.zeros_like(kernels)
        else:
            d_kernels = (total if self.batch_major else total.T).reshape(kernels.shape)
        return d_kernels, dx

    def _input_gradient_grid(
        self,
        g: np.ndarray | BlockGradient,
        kernels: np.ndarray,
        a: int,
        b: int,
        step: int,
        out: np.ndarray,
    ) -> None:
        """dL/dx of samples ``a:b`` (stride 1, long layout) into ``out`` (B, C, h, w), unpadded.

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
        geo = self.geo
        d, c, k = kernels.shape[0], geo.channels, geo.k
        hw, nb = geo.height * geo.width, b - a
        grid = self._buffer("grid" if nb == step else "grid_last", (d, nb * hw), g.dtype)
        _write(g, geo.on_grid(grid), a, b)
        rows = kernels.transpose(2, 3, 1, 0).reshape(k * k * c, d)
        per_offset = c * step * hw
        chunk = max(1, min(k * k, GRID_BYTES // (per_offset * grid.itemsize)))
        work = self._buffer("grid_products", (chunk * per_offset,), g.dtype)
        dx = self._buffer("grid_dx", (c * step * hw,), g.dtype)[: c * nb * hw]
        for first in range(0, k * k, chunk):  # offset 0 first: it overwrites dx
            last = min(first + chunk, k * k)
            products = work[: (last - first) * c * nb * hw].reshape((last - first) * c, nb * hw)
            np.matmul(rows[first * c : last * c], grid, out=products)
            geo.col2im_grid(products, dx.reshape(c, nb * hw), first)
        np.copyto(out, geo.interior(dx.reshape(c, nb, geo.height, geo.width).transpose(1, 0, 2, 3)))

    def input_gradient_long(self) -> bool:
        """Whether the input gradient (stride 1, long layout) is taken on the columns' own
        layout (``_input_gradient_long``) rather than on the input's grid."""
        return self.geo.channels >= LONG_INPUT_MIN_CHANNELS

    def _input_gradient_long(
        self, matrix: np.ndarray, kernels: np.ndarray, a: int, b: int, step: int, out: np.ndarray
    ) -> None:
        """dL/dx of samples ``a:b`` (stride 1, long layout) into ``out`` (B, C, h, w), unpadded,
        from ``matrix``, their dL/dy laid out like their columns (D, B*L).

        The product ``kernels^T @ matrix`` (rows (i, j, c)) is taken a few kernel offsets
        (``LONG_BYTES``) at a time and each part added into a padded block buffer by
        ``col2im_long`` while still in cache; the buffer's interior is then copied out.
        """
        geo = self.geo
        d, c, k = kernels.shape[0], geo.channels, geo.k
        nb, cols = b - a, matrix.shape[1]
        rows = kernels.transpose(2, 3, 1, 0).reshape(k * k * c, d)
        per_offset = c * step * geo.length * matrix.itemsize
        chunk = max(1, min(k * k, LONG_BYTES // per_offset))
        work = self._buffer("long_products", (chunk * c * step * geo.length,), matrix.dtype)
        padded = self._buffer("grad_padded", geo.padded_shape(step), matrix.dtype)[:nb]
        padded.fill(0)
        for first in range(0, k * k, chunk):
            last = min(first + chunk, k * k)
            products = work[: (last - first) * c * cols].reshape((last - first) * c, cols)
            np.matmul(rows[first * c : last * c], matrix, out=products)
            geo.col2im_long(products, padded, first)
        np.copyto(out, geo.interior(padded))

    def _gradient_block(
        self, g: np.ndarray | BlockGradient, a: int, b: int, step: int
    ) -> np.ndarray:
        """dL/dy of samples ``a:b`` laid out like their columns: (B, D, L) or (D, B*L).

        Positions between output rows (flat layout) must stay zero: each buffer starts
        zeroed and only output positions are written, always at the same places, so a
        shorter last block gets a buffer of its own in the long layout.
        """
        geo = self.geo
        d, nb = g.shape[1], b - a
        if self.batch_major:
            matrix = self._buffer("grad", (step, d, geo.length), g.dtype)[:nb]
            _write(g, geo.positions_batched(matrix), a, b)
        else:
            name = "grad" if nb == step else "grad_last"
            matrix = self._buffer(name, (d, nb * geo.length), g.dtype)
            _write(g, geo.positions(matrix), a, b)
        return matrix
