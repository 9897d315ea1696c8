"""A throwaway third-party plugin: y = factor * x, with a trainable per-feature gain in v2."""

import attrs
import nnf
import numpy as np


@attrs.define(eq=False)
class Scale(nnf.Layer):
    key = "acme.Scale.v1"
    factor: float = 2.0

    def forward(self, x, training=False):
        return x * self.factor

    def _backward(self, output_gradient):
        return output_gradient * self.factor


@attrs.define(eq=False)
class ScaleV2(nnf.Layer):
    key = "acme.Scale.v2"
    version = 2

    def _build(self, input_shape, rng, dtype):
        self.params["gain"] = np.ones(input_shape, dtype=dtype)
        return input_shape

    def forward(self, x, training=False):
        self.require_built()
        self.input = x
        return x * self.params["gain"]

    def _backward(self, output_gradient):
        self.grads["gain"] += np.sum(output_gradient * self.input, axis=0)
        return output_gradient * self.params["gain"]
