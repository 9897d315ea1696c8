"""A convolution fused with the non-overlapping max pool after it: what ``ConvPool`` runs.

    y[n, d] = maxpool_p(conv(x)[n, d]) + b[d]                    (channel bias)
    y[n, d] = maxpool_p(conv(x)[n, d] + b[d])                    (position bias)

Forward pools each im2col block's product while it is in cache (``Convolution.
forward_blocks``), keeping each window's first argmax (row-major) for training, and adds a
per-channel bias to the pooled values only (max(a + b, c + b) == max(a, c) + b exactly: the
rounding of a sum is monotonic); the full-sized convolution output is never written.
Backward hands the pool's gradient to ``Convolution.gradients`` as a ``PooledGradient``,
which each block scatters by the argmax straight into its own layout of dL/dy: the
full-sized dL/dy is never made either (except for batch-major layers' kernel gradient,
which takes it whole). With the rows and columns the pool drops (H' not a multiple of p)
taking a zero gradient, the results are those of the two layers run one after the other, up
to float rounding and to which element of a window takes the gradient when two tie (the
fused argmax compares values before a channel bias is added, the pool after).
"""

from __future__ import annotations

import numpy as np

from .convolution import Convolution, Saved
from .pooling import _separable_max

# dL/dy up to this size is made whole in one scatter and handed to backward as an array:
# for LeNet-5's layers (440 and 130 KB at batch 32) the per-block scatters' extra NumPy calls
# cost more than the full-sized pass they save (step 1.01x of unfused with blocks); the
# CIFAR-sized net's (1-8 MB) are scattered block by block, in cache.
WHOLE_BYTES = 768 * 1024


class PooledGradient:
    """dL/dy (N, D, H', W') of a convolution whose output a p x p max pool of stride p took,
    held as the pool's gradient ``g`` (N, D, H'//p, W'//p) and ``argmax`` (same shape, the
    index i*p + j in each window): a ``convolution.BlockGradient``."""

    def __init__(self, g: np.ndarray, argmax: np.ndarray, pool: int, size: tuple[int, int]):
        self.g, self.argmax, self.pool = g, argmax, pool
        self.shape: tuple[int, ...] = (g.shape[0], g.shape[1], *size)
        self.dtype = g.dtype

    def write(self, out: np.ndarray, a: int, b: int) -> None:
        """dL/dy of samples ``a:b`` into ``out`` (b-a, D, H', W'): each window's gradient at its
        argmax, zero at its other elements and on the rows and columns no window covers."""
        p = self.pool
        gb, arg = self.g[a:b], self.argmax[a:b]
        ph, pw = gb.shape[2:]
        hit = np.empty(gb.shape, dtype=bool)
        for i in range(p):
            for j in range(p):
                np.equal(arg, i * p + j, out=hit)
                np.multiply(gb, hit, out=out[:, :, i : ph * p : p, j : pw * p : p])
        if out.shape[2] > ph * p:
            out[:, :, ph * p :] = 0
        if out.shape[3] > pw * p:
            out[:, :, : ph * p, pw * p :] = 0

    def full(self) -> np.ndarray:
        """The whole dL/dy (N, D, H', W')."""
        out = np.empty(self.shape, dtype=self.dtype)
        self.write(out, 0, self.shape[0])
        return out


def pooled_gradient(
    g: np.ndarray, argmax: np.ndarray, pool: int, size: tuple[int, int]
) -> np.ndarray | PooledGradient:
    """The convolution's dL/dy for the pool's gradient ``g`` and ``argmax`` (N, D, H'//p,
    W'//p), ``size`` = (H', W'): whole when small (``WHOLE_BYTES``), else a
    ``PooledGradient`` that ``Convolution.gradients`` writes block by block."""
    pooled = PooledGradient(g, argmax, pool, size)
    if g.itemsize * g.shape[0] * g.shape[1] * size[0] * size[1] <= WHOLE_BYTES:
        return pooled.full()
    return pooled


def _argmax_pool(x: np.ndarray, y: np.ndarray, arg: np.ndarray, pool: int) -> None:
    """Maxima of the p x p windows (stride p) of ``x`` (B, D, H', W') into ``y`` (B, D,
    H'//p, W'//p) and the index of each window's first maximum (row-major) into ``arg``, as
    ``kernels.pooling.max_pool`` takes them."""
    ph, pw = y.shape[2:]
    larger = np.empty(y.shape, dtype=bool)
    k = np.empty(y.shape, dtype=arg.dtype)
    arg.fill(0)
    np.copyto(y, x[:, :, 0 : ph * pool : pool, 0 : pw * pool : pool])
    for i in range(pool):
        for j in range(pool):
            if i == j == 0:
                continue
            view = x[:, :, i : ph * pool : pool, j : pw * pool : pool]
            np.greater(view, y, out=larger)  # strictly: ties keep the first
            np.maximum(y, view, out=y)
            np.multiply(larger, arg.dtype.type(i * pool + j), out=k)
            np.maximum(arg, k, out=arg)  # later offsets have larger indices


def conv_pool(
    plan: Convolution,
    batch: np.ndarray,
    kernels: np.ndarray,
    bias: np.ndarray,
    channel_bias: bool,
    pool: int,
    training: bool,
) -> tuple[np.ndarray, np.ndarray | None, Saved]:
    """Max pool (``pool`` x ``pool``, stride ``pool``) of the convolution of ``batch`` (N, C,
    H, W) by ``kernels`` (D, C, k, k) plus ``bias`` ((D,) if ``channel_bias``, else (D, H',
    W')): (y (N, D, H'//p, W'//p), the argmax (uint8, training only), what the convolution's
    backward needs)."""
    geo = plan.geo
    n, d = batch.shape[0], kernels.shape[0]
    ph, pw = geo.out_h // pool, geo.out_w // pool
    y = np.empty((n, d, ph, pw), dtype=batch.dtype)
    argmax = np.empty(y.shape, dtype=np.uint8) if training else None
    per_channel = bias[:, None, None] if channel_bias else None

    def finish(products: np.ndarray, a: int, b: int) -> None:
        if per_channel is None:
            products += bias  # differs by position: added before the maxima are taken
        covered = products[:, :, : ph * pool, : pw * pool]
        if argmax is None:
            _separable_max(covered, y[a:b], pool, pool)
        else:
            _argmax_pool(covered, y[a:b], argmax[a:b], pool)
        if per_channel is not None:
            y[a:b] += per_channel

    saved = plan.forward_blocks(batch, kernels, training, finish)
    return y, argmax, saved
