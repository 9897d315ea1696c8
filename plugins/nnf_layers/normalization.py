"""Batch normalisation (Ioffe & Szegedy, 2015): normalise each feature over the batch, then
scale and shift it by learned amounts.

Feature axis 1: dense features (N, F), or channels of images (N, C, H, W), whose statistics
are taken over the batch *and* every position (M = N*H*W values per channel).

Forward in training, per feature f over its M values x_i:

    mu = mean(x)          var = mean((x - mu)^2)        x_hat = (x - mu) / sqrt(var + eps)
    y = gamma * x_hat + beta

and the running statistics move towards the batch's (``momentum`` m, PyTorch's unbiased
variance, so a model ported from PyTorch predicts the same):

    running_mean <- m * running_mean + (1 - m) * mu
    running_var  <- m * running_var  + (1 - m) * var * M / (M - 1)

Forward in inference uses running_mean and running_var in place of mu and var: each sample is
then normalised on its own.

Backward (g = dL/dy). The parameters: dgamma = sum_i g_i x_hat_i, dbeta = sum_i g_i. The input,
in training, where mu and var depend on every x_i:

    dx = gamma / sqrt(var + eps) * (g - mean(g) - x_hat * mean(g * x_hat))

(the two means remove the parts of g that would move the batch's mean and spread, which the
normalisation undoes); in inference mu and var are constants: dx = gamma / sqrt(var + eps) * g.

Batches are never split (``samples_independent`` is False): under the in-host split of
``fit`` a model with a BatchNorm runs each batch whole, so the statistics are exactly the
whole batch's. A runtime that shards a batch over processes (MPI) would compute each shard's
statistics alone (PyTorch's ``BatchNorm`` without ``SyncBatchNorm``): then the statistics are
those of each rank's batch; see docs/plugins.md.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from nnf.errors import ConfigError, ShapeError
from nnf.layer import Layer, Shape

from ._common import as_gradient, fmt_shape, input_error


def _momentum(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"BatchNorm: momentum must be a number in [0, 1), got {value!r}")


def _epsilon(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"BatchNorm: epsilon must be a number > 0, got {value!r}")


def _axes(ndim: int) -> tuple[int, ...]:
    """The axes statistics are taken over: every axis but the feature axis 1."""
    return (0, *range(2, ndim))


def _per_feature(v: np.ndarray, ndim: int) -> np.ndarray:
    """(F,) as (1, F, 1, ...): broadcasts over a batch of ``ndim`` dimensions."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def normalize(
    x: np.ndarray, mean: np.ndarray, var: np.ndarray, epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    """x_hat = (x - mean) / sqrt(var + eps) per feature, and inv_std = 1 / sqrt(var + eps)."""
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(epsilon))
    x_hat = x - _per_feature(mean, x.ndim)
    x_hat *= _per_feature(inv_std, x.ndim)
    return x_hat, inv_std


def input_gradient(
    g: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray, batch_stats: bool
) -> np.ndarray:
    """dL/dx for dL/dy ``g``: the formula of the module docstring."""
    ndim = g.ndim
    scale = _per_feature(gamma * inv_std, ndim)
    if not batch_stats:
        return g * scale
    axes = _axes(ndim)
    g_mean = g.mean(axis=axes, keepdims=True)
    gx_mean = (g * x_hat).mean(axis=axes, keepdims=True)
    dx = g - g_mean
    dx -= x_hat * gx_mean
    dx *= scale
    return dx


@attrs.define(eq=False)
class BatchNorm(Layer):
    """Batch normalisation of feature axis 1, with learned ``gamma`` and ``beta``.

    Shapes: (N, F) -> (N, F) and (N, C, H, W) -> (N, C, H, W) (any (N, F, ...) works; the
    statistics are per feature F, or channel C). Params ``gamma`` (ones) and ``beta`` (zeros),
    (F,); state ``running_mean`` (zeros) and ``running_var`` (ones), (F,), saved with the
    model and used in inference. ``momentum``: weight of the old running value at each
    training step (0.9, i.e. PyTorch's momentum=0.1); ``epsilon`` is added to the variance.
    """

    key = "nnf.BatchNorm.v1"
    # samples_independent stays False: training statistics span the whole batch
    keeps = ("x_hat", "inv_std", "batch_stats")

    momentum: float = attrs.field(
        default=0.9,
        validator=_momentum,
        metadata={"doc": "weight of the old running statistics at each training step, in [0, 1)"},
    )
    epsilon: float = attrs.field(
        default=1e-5,
        validator=_epsilon,
        metadata={"doc": "added to the variance before its square root, > 0"},
    )

    def _build(self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype) -> Shape:
        features = input_shape[0]
        self.params = {"gamma": np.ones(features, dtype), "beta": np.zeros(features, dtype)}
        self.state = {
            "running_mean": np.zeros(features, dtype),
            "running_var": np.ones(features, dtype),
        }
        return input_shape

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.require_built()
        x = np.asarray(x, dtype=self.dtype)
        assert self.in_shape is not None
        if x.shape[1:] != self.in_shape:
            raise input_error(self, f"a batch (N, {fmt_shape(self.in_shape)[1:]}", x.shape)
        if training:
            mean, var = self._batch_statistics(x)
        else:
            mean, var = self.state["running_mean"], self.state["running_var"]
        x_hat, inv_std = normalize(x, mean, var, self.epsilon)
        self.x_hat, self.inv_std, self.batch_stats = x_hat, inv_std, training
        y = x_hat * _per_feature(self.params["gamma"], x.ndim)
        y += _per_feature(self.params["beta"], x.ndim)
        return y

    def _batch_statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The batch's mean and (biased) variance per feature; updates the running ones."""
        axes = _axes(x.ndim)
        count = x.size // x.shape[1]
        if count < 1:
            raise ShapeError(f"{self.label} cannot normalise an empty batch")
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        m = x.dtype.type(self.momentum)
        unbiased = var * x.dtype.type(count / (count - 1)) if count > 1 else var
        running_mean, running_var = self.state["running_mean"], self.state["running_var"]
        running_mean *= m  # in place: the arrays the file and any views hold
        running_mean += (1 - m) * mean
        running_var *= m
        running_var += (1 - m) * unbiased
        return mean, var

    def _backward(self, output_gradient: Any) -> np.ndarray:
        g = self._parameter_gradients(output_gradient)
        return input_gradient(g, self.x_hat, self.inv_std, self.params["gamma"], self.batch_stats)

    def _backward_parameters(self, output_gradient: Any) -> None:
        self._parameter_gradients(output_gradient)

    def _parameter_gradients(self, output_gradient: Any) -> np.ndarray:
        """dgamma and dbeta into ``grads``; returns the checked output gradient."""
        x_hat = self.x_hat
        g = as_gradient(self, output_gradient, x_hat.shape, self.dtype)
        axes = _axes(g.ndim)
        self.grads["gamma"] += (g * x_hat).sum(axis=axes)
        self.grads["beta"] += g.sum(axis=axes)
        return g
