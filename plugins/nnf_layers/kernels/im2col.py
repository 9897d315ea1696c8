"""im2col / col2im: a convolution as matrix products, built with NumPy stride tricks.

``window_view`` is the (N, C, k, k, L) strided view of every k x k window of a padded batch;
copying it gives the im2col columns, in one of two layouts:

* "long" (C*k*k, N*L): a convolution is one ``kernels (D, C*k*k) @ cols`` product per
  (sub-)batch, and the kernel gradient one ``gram`` product. Best with many input channels.
* "batch-major" (N, C*k*k, L) (``im2col_batched``): one small product per sample, whose result
  (N, D, L) is already in NCHW order. Best when C*k*k is small (a network's first layer),
  where the long product is skinny; also used for every input gradient (``col2im_batched``,
  the adjoint: it adds each column back onto the window it came from).

Rows of a sample's columns are ``(c, i, j)`` (channel, kernel row, kernel column); there are L
positions per sample, output pixel (y, x) being position ``y * R + x``:

* stride 1 ("flat"): R = W (the padded input width) and L = (H'-1) W + W'. The windows
  of a whole sample are then one run of L consecutive input elements, so copies and
  accumulations move long contiguous runs (NumPy's per-row overhead is paid N*C*k*k times,
  not N*C*k*k*H' times). The W - W' positions per row that wrap around are ignored: their
  output is dropped and their gradient is zero.
* stride s > 1 ("dense"): R = W', L = H' W', windows picked with strides s.
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

    @property
    def padded(self) -> bool:
        """Whether ``pad`` adds any zeros."""
        return any(self.pads)

    def padded_shape(self, n: int) -> tuple[int, int, int, int]:
        """Shape of a padded batch of ``n`` samples: (N, C, H, W)."""
        return (n, self.channels, self.height, self.width)

    def pad(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Zero-pad the last two axes of ``x`` (N, C, H, W); no copy when there is no padding.

        ``out``: a reused (N, C, H, W) buffer whose border is zero (never written here).
        """
        if not self.padded:
            return np.ascontiguousarray(x)
        top, _, left, _ = self.pads
        n, c, h, w = x.shape
        if out is None:
            out = np.zeros((n, c, self.height, self.width), dtype=x.dtype)
        out[:, :, top : top + h, left : left + w] = x
        return out

    def crop(self, padded: np.ndarray) -> np.ndarray:
        """Inverse of ``pad`` for gradients: the unpadded part, contiguous."""
        if not self.padded:
            return padded
        return np.ascontiguousarray(self.interior(padded))

    def interior(self, padded: np.ndarray) -> np.ndarray:
        """The unpadded part of ``padded`` (N, C, H, W), a view."""
        top, bottom, left, right = self.pads
        return padded[:, :, top : self.height - bottom, left : self.width - right]

    def input_shape(self, n: int) -> tuple[int, int, int, int]:
        """Shape of an unpadded batch of ``n`` samples."""
        top, bottom, left, right = self.pads
        return (n, self.channels, self.height - top - bottom, self.width - left - right)

    def window_view(self, xp: np.ndarray, dense: bool = False) -> np.ndarray:
        """The windows of contiguous ``xp`` (N, C, H, W) as a view (N, C, k, k, *positions):
        positions (L,) at stride 1, else (H', W'); ``dense``: (H', W') at any stride."""
        n, c = xp.shape[:2]
        sn, sc, sh, sw = xp.strides
        k, s = self.k, self.stride
        if self.flat and not dense:
            shape: tuple[int, ...] = (n, c, k, k, self.length)
            strides: tuple[int, ...] = (sn, sc, sh, sw, sw)
        else:
            shape = (n, c, k, k, self.out_h, self.out_w)
            strides = (sn, sc, sh, sw, sh * s, sw * s)
        return strided(xp, shape, strides)

    def im2col_batched(self, xp: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Windows of the padded batch ``xp`` (N, C, H, W) as (N, C*k*k, L), into ``out``."""
        view = self.window_view(xp)
        np.copyto(out.reshape(view.shape), view)
        return out

    def positions_batched(self, a: np.ndarray) -> np.ndarray:
        """The (N, D, H', W') view of a batch-major (N, D, L) array (contiguous)."""
        n, d, length = a.shape
        it = a.itemsize
        shape = (n, d, self.out_h, self.out_w)
        return strided(a, shape, (d * length * it, length * it, self.row * it, it))

    def col2im_batched(self, cols: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Adjoint of ``im2col_batched``: add (N, C*k*k, L) into ``out`` (N, C, H, W).

        ``out``: contiguous and zero (or holding what to add to); default a new zero array.
        """
        n = cols.shape[0]
        c, k, s = self.channels, self.k, self.stride
        if out is None:
            out = np.zeros(self.padded_shape(n), dtype=cols.dtype)
        if self.flat:
            blocks = cols.reshape(n, c, k, k, self.length)
            flat = out.reshape(n, c, self.height * self.width)
            for i in range(k):
                for j in range(k):
                    start = i * self.width + j
                    flat[:, :, start : start + self.length] += blocks[:, :, i, j]
            return out
        blocks = cols.reshape(n, c, k, k, self.out_h, self.out_w)
        rows_end, cols_end = s * (self.out_h - 1) + 1, s * (self.out_w - 1) + 1
        for i in range(k):
            for j in range(k):
                out[:, :, i : i + rows_end : s, j : j + cols_end : s] += blocks[:, :, i, j]
        return out

    def on_grid(self, a: np.ndarray) -> np.ndarray:
        """The (N, D, H', W') output positions of a (D, N*H*W) array laid out on the padded
        input's grid (stride 1): sample n's pixel (y, x) at column n*H*W + y*W + x."""
        d, nhw = a.shape
        hw, it = self.height * self.width, a.itemsize
        shape = (nhw // hw, d, self.out_h, self.out_w)
        return strided(a, shape, (hw * it, nhw * it, self.width * it, it))

    def col2im_grid(self, products: np.ndarray, out: np.ndarray, first: int = 0) -> np.ndarray:
        """Adjoint of the windows for products on the grid (stride 1), added into ``out``.

        ``products`` (m*C, N*H*W) for kernel offsets ``first`` .. ``first + m - 1`` (offset
        i*k + j; all k*k by default), rows ordered (offset, c): row block (i, j) holds every
        sample's contribution through kernel offset (i, j), which lands on the input shifted
        by i*W + j. Each block is one contiguous run, so this is m long additions over the
        whole batch. A window never reaches past its own sample's grid (its last output
        column plus the kernel's reach ends at the grid's last element), and the columns of
        ``products`` off the output positions are zero, so nothing spills between samples.
        ``out``: (C, N*H*W), channel-major; offset 0 (shift 0) overwrites it, so a call
        starting at offset 0 needs no zeroed ``out``.
        """
        c, k = self.channels, self.k
        flat = out.reshape(-1)
        size = flat.size
        for q in range(products.shape[0] // c):
            i, j = divmod(first + q, k)
            shift = i * self.width + j
            block = products[q * c : (q + 1) * c].reshape(-1)
            if shift == 0:
                np.copyto(flat, block)
            else:
                np.add(flat[shift:], block[: size - shift], out=flat[shift:])
        return out

    def col2im_long(self, products: np.ndarray, out: np.ndarray, first: int = 0) -> np.ndarray:
        """Adjoint of the long layout's windows (stride 1), added into ``out``.

        ``products`` (m*C, N*L) for kernel offsets ``first`` .. ``first + m - 1`` (offset
        i*k + j), rows ordered (offset, c): row block (i, j) is every sample's contribution
        through kernel offset (i, j), which lands on its input shifted by i*W + j: one
        addition of a (C, N, L) view per offset, each sample row a contiguous run of L.
        Columns off the output positions must be zero (they would land past row ends).
        ``out``: (N, C, H, W), padded, contiguous, holding what to add to.
        """
        c, k, length = self.channels, self.k, self.length
        n = products.shape[1] // length
        flat = out.reshape(n, c, self.height * self.width).transpose(1, 0, 2)
        for q in range(products.shape[0] // c):
            i, j = divmod(first + q, k)
            shift = i * self.width + j
            block = products[q * c : (q + 1) * c].reshape(c, n, length)
            target = flat[:, :, shift : shift + length]
            np.add(target, block, out=target)
        return out

    def positions(self, a: np.ndarray, batch_first: bool = True) -> np.ndarray:
        """The (N, D, H', W') view (``batch_first``) or (D, N, H', W') of a (D, N*L) matrix."""
        d, nl = a.shape
        n = nl // self.length
        it = a.itemsize
        strides = (self.length * it, nl * it) if batch_first else (nl * it, self.length * it)
        shape = (n, d, self.out_h, self.out_w) if batch_first else (d, n, self.out_h, self.out_w)
        return strided(a, shape, (*strides, self.row * it, it))


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
