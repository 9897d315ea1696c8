"""Batch normalisation over the feature axis (axis 1 of a batch).

Training, per feature over the batch (and spatial positions of (N, C, H, W) inputs), M values:
    mu, var = mean(x), mean((x - mu)^2)        x_hat = (x - mu) / sqrt(var + eps)
    y = gamma x_hat + beta                      running <- momentum running + (1 - momentum) batch
    dx = gamma / sqrt(var + eps) * (g - mean(g) - x_hat mean(g x_hat))
    dgamma = sum(g x_hat)                       dbeta = sum(g)
Inference uses the running mean and variance instead, so each sample is treated alone.
"""

from __future__ import annotations

from typing import Any

import attrs
import nnf
import numpy as np
from nnf.errors import ConfigError, ShapeError


def _momentum(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ConfigError(f"BatchNorm: momentum must be a number in [0, 1), got {value!r}")


def _epsilon(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"BatchNorm: epsilon must be a number > 0, got {value!r}")


@attrs.define(eq=False)
class BatchNorm(nnf.Layer):
    """Normalise each feature, then scale by ``gamma`` and shift by ``beta``.

    Shapes: (N, F) -> (N, F), (N, F, 1) -> (N, F, 1) and (N, C, H, W) -> (N, C, H, W); the
    statistics are per feature F (or channel C). Params ``gamma``, ``beta`` (F,); state
    ``running_mean``, ``running_var`` (F,), saved with the model.
    """

    key = "example.BatchNorm.v1"
    version = 1  # of the saved arrays; bump it and override migrate_state when they change
    # samples_independent stays False: training statistics span the whole batch
    keeps = ("x_hat", "inv_std", "batch_stats")  # what forward keeps for backward (per thread)

    momentum: float = attrs.field(default=0.9, validator=_momentum)
    epsilon: float = attrs.field(default=1e-5, validator=_epsilon)

    def _build(
        self, input_shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype
    ) -> tuple[int, ...]:
        if len(input_shape) < 1:
            raise ShapeError(f"{self.label} needs samples with a feature axis, got {input_shape}")
        features = input_shape[0]
        self.params = {
            "gamma": np.ones(features, dtype=dtype),
            "beta": np.zeros(features, dtype=dtype),
        }
        self.state = {
            "running_mean": np.zeros(features, dtype=dtype),
            "running_var": np.ones(features, dtype=dtype),
        }
        return input_shape

    def _axes(self, x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The axes statistics are taken over, and the shape that broadcasts (F,) onto x."""
        axes = (0, *range(2, x.ndim))
        return axes, (1, -1) + (1,) * (x.ndim - 2)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.require_built()
        x = np.asarray(x, dtype=self.dtype)
        self.check_input(x)
        axes, bshape = self._axes(x)
        if training:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            m = self.momentum  # update the saved state in place, in the layer's dtype
            self.state["running_mean"] *= m
            self.state["running_mean"] += (1 - m) * mean
            self.state["running_var"] *= m
            self.state["running_var"] += (1 - m) * var
        else:
            mean, var = self.state["running_mean"], self.state["running_var"]
        inv_std = 1 / np.sqrt(var + self.epsilon)
        x_hat = (x - mean.reshape(bshape)) * inv_std.reshape(bshape)
        self.x_hat, self.inv_std, self.batch_stats = x_hat, inv_std, training
        return x_hat * self.params["gamma"].reshape(bshape) + self.params["beta"].reshape(bshape)

    def _backward(self, output_gradient: np.ndarray) -> np.ndarray:
        g = np.asarray(output_gradient, dtype=self.dtype)
        x_hat = self.x_hat
        axes, bshape = self._axes(g)
        self.grads["gamma"] += (g * x_hat).sum(axis=axes)  # += : gradients accumulate
        self.grads["beta"] += g.sum(axis=axes)
        scale = (self.params["gamma"] * self.inv_std).reshape(bshape)
        if not self.batch_stats:  # running statistics are constants
            return g * scale
        g_mean = g.mean(axis=axes, keepdims=True)
        gx_mean = (g * x_hat).mean(axis=axes, keepdims=True)
        return scale * (g - g_mean - x_hat * gx_mean)
