"""2-D convolutional layer (cross-correlation, like the tutorial's ``signal.correlate2d``).

    y[n, d] = b[d] + sum_c correlate2d(x[n, c], K[d, c])          (stride 1, valid)
    dK[d, c] = sum_n correlate2d(x[n, c], g[n, d])    db = sum_n g[n, d]
    dx[n, c] = sum_d convolve2d(g[n, d], K[d, c], "full")

Read ``kernels.reference.convolution`` for these formulas in the tutorial's own terms; the
layer runs them batched with im2col and BLAS (``kernels.convolution``), which the tests
check against that reference.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.errors import ConfigError, ShapeError
from nnf.layer import INITS, Layer, Shape, init_array

from ._common import as_gradient, fmt_shape, input_error, one_of, optional_shape, positive_int
from .kernels.convolution import Convolution
from .kernels.im2col import Geometry, output_size
from .pooling import MaxPool2D


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
    keeps = ("saved",)  # and input: the padded input (and columns) for backward

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
        out_h, top, bottom = output_size(h, k, s, self.padding)
        out_w, left, right = output_size(w, k, s, self.padding)
        if out_h <= 0 or out_w <= 0:
            raise ShapeError(
                f"{self.label}: a {k}x{k} kernel does not fit in {h}x{w} inputs; use a smaller "
                "kernel_size or padding='same'"
            )
        pads = (top, bottom, left, right)
        geometry = Geometry(c, h + top + bottom, w + left + right, k, s, out_h, out_w, pads)
        self._plan = Convolution(geometry, dtype)  # shapes, layout and per-thread buffers
        kernels = init_array(rng, (d, c, k, k), self.init, c * k * k, d * k * k, dtype)
        bias_shape = (d, out_h, out_w) if self.bias == "position" else (d,)
        if self.init == "normal":
            biases = init_array(rng, bias_shape, "normal", c * k * k, d * k * k, dtype)
        else:
            biases = np.zeros(bias_shape, dtype=dtype)
        self.params = {"kernels": kernels, "biases": biases}
        return (d, out_h, out_w)

    def cast(self, dtype: Any) -> None:
        super().cast(dtype)
        if self.built:
            self._plan = Convolution(self._plan.geo, self.dtype)

    @property
    def kernels(self) -> np.ndarray:
        """The kernels (depth, channels, k, k); edit them in place."""
        self.require_built()
        return self.params["kernels"]

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """Zeros added (top, bottom, left, right) around each input image before the
        cross-correlation: all 0 for ``valid``; for ``same`` split evenly, the odd one after."""
        self.require_built()
        top, bottom, left, right = self._plan.geo.pads
        return top, bottom, left, right

    @property
    def biases(self) -> np.ndarray:
        """The biases, (depth, H', W') or (depth,); edit them in place."""
        self.require_built()
        return self.params["biases"]

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.require_built()
        self.input = x = np.asarray(x, dtype=self.dtype)
        single = self._single(x)
        biases = self.params["biases"]
        bias = biases if self.bias == "position" else biases[:, None, None]
        y, self.saved = self._plan.forward(
            x[None] if single else x, self.params["kernels"], bias, training
        )
        return y[0] if single else y

    def fuse_with(self, following: Layer) -> Layer | None:
        """A ``conv_pool.ConvPool`` step when ``following`` is a non-overlapping max pool
        (stride == pool_size >= 2): the convolution's output is pooled block by block while
        in cache and never written whole (``Layer.fuse_with``). None otherwise, and for
        subclasses (which may compute differently)."""
        from .conv_pool import ConvPool, fusable

        if type(self) is not Convolutional or not fusable(self, following):
            return None
        assert isinstance(following, MaxPool2D)
        return ConvPool(self, following)

    def _backward(self, output_gradient: Any) -> np.ndarray:
        dx = self._gradients(output_gradient, with_input=True)
        assert dx is not None
        return dx

    def _backward_parameters(self, output_gradient: Any) -> None:
        self._gradients(output_gradient, with_input=False)

    def _gradients(self, output_gradient: Any, with_input: bool) -> np.ndarray | None:
        """Add dL/dK and dL/db into ``self.grads``; return dL/dx if ``with_input``."""
        x = self.input
        single = self._single(x)
        out_shape = self.out_shape or ()
        g = as_gradient(
            self, output_gradient, out_shape if single else (len(x), *out_shape), self.dtype
        )
        g = g[None] if single else g
        d_kernels, dx = self._plan.gradients(g, self.saved, self.params["kernels"], with_input)
        self.grads["kernels"] += d_kernels
        self.grads["biases"] += g.sum(axis=0) if self.bias == "position" else g.sum(axis=(0, 2, 3))
        if dx is None:
            return None
        return dx[0] if single else dx

    def _single(self, x: np.ndarray) -> bool:
        """Whether ``x`` is one sample (C, H, W) rather than a batch; checks its shape."""
        in_shape = self.in_shape or ()
        if x.shape == in_shape:
            return True
        if x.shape[1:] != in_shape:
            shape = fmt_shape(in_shape)
            raise input_error(
                self, f"samples shaped {shape} (a batch (N, {shape[1:]} or one sample)", x.shape
            )
        return False
