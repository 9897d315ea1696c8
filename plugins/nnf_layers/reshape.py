"""Reshape and Flatten: change how each sample's values are arranged; gradients flow back
reshaped to the input's shape."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
from nnf.errors import ShapeError
from nnf.layer import Layer, Shape, as_shape

from ._common import as_gradient, fmt_shape, input_error


def _input_shape(value: Any) -> Shape:
    return as_shape(value, "Reshape input_shape")


def _output_shape(value: Any) -> Shape:
    return as_shape(value, "Reshape output_shape")


@attrs.define(eq=False)
class Reshape(Layer):
    """Reshape samples from ``input_shape`` to ``output_shape`` (the same number of values).

    ``Reshape((5, 26, 26), (5 * 26 * 26, 1))`` as in the tutorial. One sample shaped exactly
    ``input_shape`` becomes ``output_shape``; a batch (N, *input_shape) becomes
    (N, *output_shape).
    """

    key = "nnf.Reshape.v1"
    samples_independent = True
    keeps = ()  # input

    input_shape: Shape = attrs.field(
        converter=_input_shape, metadata={"doc": "a sample's shape in"}
    )
    output_shape: Shape = attrs.field(
        converter=_output_shape, metadata={"doc": "a sample's shape out, same number of values"}
    )

    def declared_input_shape(self) -> Shape | None:
        return self.input_shape

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        if input_shape != self.input_shape:
            raise ShapeError(
                f"{self.label} was declared with input_shape={fmt_shape(self.input_shape)} but "
                f"receives samples shaped {fmt_shape(input_shape)}"
            )
        size_in, size_out = math.prod(self.input_shape), math.prod(self.output_shape)
        if size_in != size_out:
            raise ShapeError(
                f"{self.label} cannot reshape {fmt_shape(self.input_shape)} ({size_in} values) "
                f"to {fmt_shape(self.output_shape)} ({size_out} values): sizes must match"
            )
        return self.output_shape

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.input = x = np.asarray(x)
        return x.reshape(self._output_shape(x))

    def _backward(self, output_gradient: Any) -> np.ndarray:
        out_shape = self._output_shape(self.input)
        g = as_gradient(self, output_gradient, out_shape, self.input.dtype)
        return g.reshape(self.input.shape)

    def _output_shape(self, x: np.ndarray) -> Shape:
        if x.shape == self.input_shape:
            return self.output_shape
        if x.shape[1:] == self.input_shape:
            return (x.shape[0], *self.output_shape)
        shape = fmt_shape(self.input_shape)
        raise input_error(self, f"one sample shaped {shape} or a batch (N, {shape[1:]}", x.shape)


@attrs.define(eq=False)
class Flatten(Layer):
    """Flatten each sample: (N, d1, d2, ...) -> (N, d1 * d2 * ...). The first axis is the batch."""

    key = "nnf.Flatten.v1"
    samples_independent = True
    keeps = ()  # input

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        return (math.prod(input_shape),)

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        x = np.asarray(x)
        if self.in_shape is not None and x.shape[1:] != self.in_shape:
            shape = fmt_shape(self.in_shape)
            raise input_error(self, f"a batch (N, {shape[1:]}", x.shape)
        if x.ndim < 2:
            raise input_error(self, "a batch (N, ...) with at least 2 axes", x.shape)
        self.input = x
        return x.reshape(x.shape[0], -1)

    def _backward(self, output_gradient: Any) -> np.ndarray:
        x = self.input
        g = as_gradient(self, output_gradient, (x.shape[0], math.prod(x.shape[1:])), x.dtype)
        return g.reshape(x.shape)
