"""im2col / col2im: a convolution as one matrix product, built with NumPy stride tricks.

``im2col`` copies every k x k window of a batch into one column of a matrix ``cols``
(C*k*k, N*L); a convolution is then ``kernels (D, C*k*k) @ cols``, one BLAS call for the whole
batch. ``col2im`` is its adjoint: it adds each column back onto the window it came from.

Rows of ``cols`` are ``(c, i, j)`` (channel, kernel row, kernel column). Columns are L
positions per sample; output pixel (y, x) of a sample is position ``y * R + x``:

* stride 1 ("flat" layout): R = W (the padded input width) and L = (H'-1) W + W'. The windows
  of a whole sample are then one run of L consecutive input elements, so copies and
  accumulations move long contiguous runs (NumPy's per-row overhead is paid N*C*k*k times,
  not N*C*k*k*H' times). The W - W' positions per row that wrap around are ignored: their
  output is dropped and their gradient is zero.
* stride s > 1 ("dense" layout): R = W', L = H' W', windows picked with strides s.
"""

from __future__ import annotations

import numpy as np


def output_size(size: int, k: int, stride: int, padding: str) -> tuple[int, int, int]:
    """``(out, pad_before, pad_after)`` along one spatial axis of length ``size``.

    ``valid``: no padding, out = (size - k) // stride + 1 (trailing rows that no window
    reaches are ignored). ``same``: out = ceil(size / stride), zero-padded as needed; an odd
    total (always the case for an even kernel at stride 1) puts the extra zero after
    (bottom/right), the TensorFlow/Keras convention.
    """
    if padding == "valid":
        return (size - k) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def strided(a: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """A view of contiguous ``a`` with the given shape and byte strides.

    Like as_strided, but NumPy checks that the view stays inside ``a``, and it costs ~1 us
    instead of ~10 us, which matters on the tutorial's per-sample path.
    """
    return np.ndarray(shape, dtype=a.dtype, buffer=a, strides=strides)


class Geometry:
    """Everything about one convolution's shapes except the batch size."""

    __slots__ = (
        "channels",
        "height",
        "k",
        "length",
        "out_h",
        "out_w",
        "pads",
        "row",
        "stride",
        "width",
    )

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        k: int,
        stride: int,
        out_h: int,
        out_w: int,
        pads: tuple[int, int, int, int],
    ) -> None:
        self.channels, self.height, self.width = channels, height, width  # padded input
        self.k, self.stride, self.out_h, self.out_w = k, stride, out_h, out_w
        self.pads = pads  # top, bottom, left, right
        self.row = width if self.flat else out_w  # R: distance between output rows
        self.length = (out_h - 1) * self.row + out_w  # L: columns per sample

    @property
    def flat(self) -> bool:
        return self.stride == 1

    def pad(self, x: np.ndarray) -> np.ndarray:
        """Zero-pad the last two axes of ``x`` (N, C, H, W); no copy when there is no padding."""
        top, bottom, left, right = self.pads
        if not (top or bottom or left or right):
            return np.ascontiguousarray(x)
        n, c, h, w = x.shape
        out = np.zeros((n, c, self.height, self.width), dtype=x.dtype)
        out[:, :, top : top + h, left : left + w] = x
        return out

    def crop(self, padded: np.ndarray) -> np.ndarray:
        """Inverse of ``pad`` for gradients: the unpadded part, contiguous."""
        top, bottom, left, right = self.pads
        if not (top or bottom or left or right):
            return padded
        return np.ascontiguousarray(
            padded[:, :, top : self.height - bottom, left : self.width - right]
        )

    def im2col(self, xp: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Windows of the padded batch ``xp`` (N, C, H, W) as (C*k*k, N*L), into ``out``."""
        n, c = xp.shape[:2]
        sn, sc, sh, sw = xp.strides
        k, s = self.k, self.stride
        if self.flat:
            shape: tuple[int, ...] = (c, k, k, n, self.length)
            strides: tuple[int, ...] = (sc, sh, sw, sn, sw)
        else:
            shape = (c, k, k, n, self.out_h, self.out_w)
            strides = (sc, sh, sw, sn, sh * s, sw * s)
        view = strided(xp, shape, strides)
        if out is None:
            return view.reshape(c * k * k, n * self.length)
        np.copyto(out.reshape(shape), view)
        return out

    def positions(self, a: np.ndarray, batch_first: bool = True) -> np.ndarray:
        """The (N, D, H', W') view (``batch_first``) or (D, N, H', W') of a (D, N*L) matrix."""
        d, nl = a.shape
        n = nl // self.length
        it = a.itemsize
        strides = (self.length * it, nl * it) if batch_first else (nl * it, self.length * it)
        shape = (n, d, self.out_h, self.out_w) if batch_first else (d, n, self.out_h, self.out_w)
        return strided(a, shape, (*strides, self.row * it, it))

    def col2im(self, cols: np.ndarray, n: int) -> np.ndarray:
        """Adjoint of ``im2col``: add the columns (C*k*k, N*L) back into (N, C, H, W).

        Loops over the k*k kernel offsets only; each step adds one slab of the whole batch.
        """
        c, k, s = self.channels, self.k, self.stride
        if self.flat:
            blocks = cols.reshape(c, k, k, n, self.length)
            out = np.zeros((n, c, self.height * self.width), dtype=cols.dtype)
            for i in range(k):
                for j in range(k):
                    start = i * self.width + j
                    out[:, :, start : start + self.length] += blocks[:, i, j].transpose(1, 0, 2)
            return out.reshape(n, c, self.height, self.width)
        blocks = cols.reshape(c, k, k, n, self.out_h, self.out_w)
        out = np.zeros((n, c, self.height, self.width), dtype=cols.dtype)
        rows_end, cols_end = s * (self.out_h - 1) + 1, s * (self.out_w - 1) + 1
        for i in range(k):
            for j in range(k):
                window = out[:, :, i : i + rows_end : s, j : j + cols_end : s]
                window += blocks[:, i, j].transpose(1, 0, 2, 3)
        return out


def gram(a: np.ndarray, b: np.ndarray, block: int = 2048) -> np.ndarray:
    """``a @ b.T`` for wide matrices (rows, M) and (rows', M): the kernel-gradient product.

    When the result is tiny (few channels: the first layer of a network) BLAS handles the
    long inner dimension poorly; summing products of 2048-column blocks, which stay in cache,
    measured 2-3x faster. Larger results go to BLAS in one call.
    """
    m = a.shape[1]
    if a.shape[0] * b.shape[0] > 1024 or m <= 2 * block:
        return a @ b.T
    out = a[:, :block] @ b[:, :block].T
    for start in range(block, m, block):
        out += a[:, start : start + block] @ b[:, start : start + block].T
    return out
